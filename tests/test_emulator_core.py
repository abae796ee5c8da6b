"""The emulator's core driven at the protocol level (no Node): registration, pairing checks, login, prekeys,
IQ answers, faults. A real client's view is in test_emulator_pairing.py / test_emulator_faults.py."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from tests.fixtures.emulator import RawClient
from whatsapp import xeddsa
from whatsapp.adv import verify_pair_success
from whatsapp.binary import Node
from whatsapp.errors import PairingError
from whatsapp.jid import JID
from whatsapp.keys import KeyPair, prefixed
from whatsapp.qr import build_qr
from whatsapp.testing import EmulatedServer, QRTimings

PHONE = "15550004444"


def qr_for(client: RawClient, ref: bytes) -> str:
    creds = client.creds
    return build_qr(ref, creds.noise_key.public, creds.identity_key.public, creds.adv_secret_key, "1")


async def register(client: RawClient) -> list[bytes]:
    await client.connect(login=False)
    pair_device = await client.recv()
    assert pair_device.tag == "iq" and pair_device.attrs["xmlns"] == "md"
    await client.send(Node("iq", {"id": pair_device.attrs["id"], "type": "result", "to": JID("", "s.whatsapp.net")}))
    return [ref.content_bytes for ref in pair_device.child("pair-device").children_by_tag("ref")]


async def answer_pair_success(client: RawClient, *, corrupt_signature: bool = False) -> Node:
    pair_success = await client.recv_until("iq")
    success = pair_success.child("pair-success")
    assert success is not None
    verified = verify_pair_success(success.child("device-identity").content_bytes, client.creds.adv_secret_key,
                                   client.creds.identity_key)
    reply_identity = verified.reply_identity
    if corrupt_signature:
        reply_identity = reply_identity[:-1] + bytes([reply_identity[-1] ^ 1])
    await client.send(Node("iq", {"id": pair_success.attrs["id"], "type": "result", "to": JID("", "s.whatsapp.net")}, [
        Node("pair-device-sign", {}, [
            Node("device-identity", {"key-index": str(verified.key_index)}, reply_identity),
        ]),
    ]))
    device = success.child("device")
    client.creds.me_id = device.attr_str("jid")
    client.creds.me_lid = device.attr_str("lid")
    client.creds.account = verified.account
    return pair_success


async def paired_client(server: EmulatedServer) -> RawClient:
    account = server.account(PHONE)
    client = RawClient(server)
    refs = await register(client)
    scan = asyncio.create_task(account.phone.scan_qr(qr_for(client, refs[0])))
    await answer_pair_success(client)
    await scan
    stream_error = await client.recv_until("stream:error")
    assert stream_error.attrs["code"] == "515"
    await client.wait_closed()
    await client.connect()
    success = await client.recv()
    assert success.tag == "success"
    return client


async def test_registration_gets_six_refs_and_pairs(emulator: EmulatedServer) -> None:
    account = emulator.create_account(PHONE)
    client = RawClient(emulator)
    refs = await register(client)
    assert len(refs) == 6 and len(set(refs)) == 6
    scan = asyncio.create_task(account.phone.scan_qr(qr_for(client, refs[0])))
    pair_success = await answer_pair_success(client)
    device = await scan
    success = pair_success.child("pair-success")
    assert success.child("device").attr_str("jid") == f"{PHONE}:1@s.whatsapp.net"
    assert success.child("device").attr_str("lid") == f"{account.lid}:1@lid"
    assert success.child("platform").attr_str("name") == "android"
    assert (await client.recv_until("stream:error")).attrs["code"] == "515"
    assert device.noise_public == client.creds.noise_key.public
    assert device.identity_public == client.creds.identity_key.public
    assert device.registration_id == client.creds.registration_id
    assert device.signed_prekey.public == client.creds.signed_prekey.key_pair.public
    assert device.platform == "Ubuntu"
    await emulator.wait_for_event("paired", device)


async def test_bad_device_signature_links_nothing(emulator: EmulatedServer) -> None:
    account = emulator.create_account(PHONE)
    client = RawClient(emulator)
    refs = await register(client)
    scan = asyncio.create_task(account.phone.scan_qr(qr_for(client, refs[0])))
    await answer_pair_success(client, corrupt_signature=True)
    with pytest.raises(PairingError, match="device signature"):
        await scan
    assert account.phone.linked_devices() == [] and list(account.devices) == [0]
    error = await client.recv_until("stream:error")
    assert error.attrs["code"] == "401"


async def test_qr_must_match_the_registering_connection(emulator: EmulatedServer) -> None:
    account = emulator.create_account(PHONE)
    client = RawClient(emulator)
    refs = await register(client)
    other = KeyPair.generate().public
    forged = build_qr(refs[0], other, client.creds.identity_key.public, client.creds.adv_secret_key, "1")
    with pytest.raises(PairingError, match="do not match"):
        await account.phone.scan_qr(forged)
    with pytest.raises(PairingError, match="unknown or expired"):
        await account.phone.scan_qr(qr_for(client, b"2@not-a-ref-we-issued"))


async def test_refs_expire_and_the_connection_is_closed() -> None:
    async with EmulatedServer(qr_timings=QRTimings(ref_count=2, first=0.3, following=0.2, close_grace=0.1)) as server:
        account = server.create_account(PHONE)
        client = RawClient(server)
        refs = await register(client)
        await asyncio.sleep(0.35)
        with pytest.raises(PairingError, match="expired"):
            await account.phone.scan_qr(qr_for(client, refs[0]))  # its 0.3 s are over
        assert server.find_registration(refs[1]) is not None  # the second one is still shown
        await client.wait_closed(timeout=3)
        closed = await server.wait_for_event("closed")
        assert closed.data["reason"] == "QR refs ran out"


async def test_unknown_device_login_fails_401(emulator: EmulatedServer) -> None:
    emulator.create_account(PHONE)
    client = RawClient(emulator)
    client.creds.me_id = f"{PHONE}:7@s.whatsapp.net"
    await client.connect(login=True)
    failure = await client.recv()
    assert failure.tag == "failure" and failure.attrs["reason"] == "401"
    await client.wait_closed()


@pytest.mark.emulator_allows("iq")  # the unknown IQ at the end is sent on purpose
async def test_login_prekeys_and_iq_answers(emulator: EmulatedServer) -> None:
    emulator.create_account(PHONE)
    client = await paired_client(emulator)
    device = emulator.account(PHONE).devices[1]
    edge = await client.recv_until("ib")
    assert edge.child("edge_routing").child("routing_info").content_bytes == emulator.edge_routing
    offline = await client.recv_until("ib")
    assert offline.child("offline").attrs["count"] == "0"

    def iq(xmlns: str, type_: str, *children: Node, iq_id: str) -> Node:
        return Node("iq", {"id": iq_id, "xmlns": xmlns, "type": type_, "to": JID("", "s.whatsapp.net")},
                    list(children))

    count = await client.query(iq("encrypt", "get", Node("count"), iq_id="c1"))
    assert count.child("count").attrs["value"] == "0"

    creds = client.creds
    keys = [(i, KeyPair.generate()) for i in range(1, 31)]
    spk = creds.signed_prekey
    upload = iq(
        "encrypt", "set",
        Node("registration", {}, creds.registration_id.to_bytes(4, "big")),
        Node("type", {}, b"\x05"),
        Node("identity", {}, creds.identity_key.public),
        Node("list", {}, [Node("key", {}, [Node("id", {}, i.to_bytes(3, "big")), Node("value", {}, k.public)])
                          for i, k in keys]),
        Node("skey", {}, [Node("id", {}, spk.key_id.to_bytes(3, "big")), Node("value", {}, spk.key_pair.public),
                          Node("signature", {}, spk.signature)]),
        iq_id="u1",
    )
    assert (await client.query(upload)).attrs["type"] == "result"
    assert len(device.prekeys) == 30 and device.prekeys[5].public == keys[4][1].public
    count = await client.query(iq("encrypt", "get", Node("count"), iq_id="c2"))
    assert count.child("count").attrs["value"] == "30"
    digest = await client.query(iq("encrypt", "get", Node("digest"), iq_id="d1"))
    assert digest.child("digest").child("identity").content_bytes == creds.identity_key.public

    # A forged signed prekey is refused.
    bad_spk = KeyPair.generate()
    rotate = iq("encrypt", "set", Node("rotate", {}, [Node("skey", {}, [
        Node("id", {}, (2).to_bytes(3, "big")), Node("value", {}, bad_spk.public),
        Node("signature", {}, xeddsa.sign(KeyPair.generate().private, prefixed(bad_spk.public)))])]), iq_id="r1")
    answer = await client.query(rotate)
    assert answer.attrs["type"] == "error" and answer.child("error").attrs["code"] == "406"

    # Pings and passive/active get a result; an IQ nobody models gets 501, as from WhatsApp, and is reported.
    queries = [iq("w:p", "get", Node("ping"), iq_id="p"), iq("passive", "set", Node("active"), iq_id="a")]
    for i, node in enumerate(queries):
        assert (await client.query(node)).attrs["type"] == "result", i
    for unknown in (iq("no:such:namespace", "get", Node("whatever"), iq_id="x"), iq("w:p", "set", Node("ping"),
                                                                                     iq_id="y")):
        answer = await client.query(unknown)
        assert answer.attrs["type"] == "error"
        assert answer.child("error").attrs == {"code": "501", "text": "feature-not-implemented"}
    first, second = emulator.state.events.of_kind("unmodelled")
    assert first.data["what"] == "iq" and first.device is device
    assert first.data["node"].attrs["xmlns"] == "no:such:namespace" and second.data["node"].attrs["id"] == "y"
    await client.close()


async def test_second_login_replaces_the_first(emulator: EmulatedServer) -> None:
    emulator.create_account(PHONE)
    first = await paired_client(emulator)
    second = RawClient(emulator, first.creds)
    await second.connect()
    assert (await second.recv()).tag == "success"
    replaced = await first.recv_until("stream:error")
    assert replaced.child("conflict").attrs["type"] == "replaced" and "code" not in replaced.attrs
    await first.wait_closed()
    assert emulator.account(PHONE).devices[1].connection is not None
    await second.close()


@pytest.mark.parametrize(("reason", "extra"), [("403", {}), ("402", {"code": "101"}), ("406", {}), ("500", {})])
async def test_injected_failure_at_next_login(emulator: EmulatedServer, reason: str, extra: dict[str, str]) -> None:
    emulator.create_account(PHONE)
    client = await paired_client(emulator)
    device = emulator.account(PHONE).devices[1]
    await client.close()
    emulator.faults.fail_next_login(device, reason)
    await client.connect()
    failure = await client.recv()
    assert failure.tag == "failure" and failure.attrs["reason"] == reason
    assert all(failure.attrs[k] == v for k, v in extra.items())
    await client.wait_closed()
    await client.connect()  # not sticky: the next login works
    assert (await client.recv()).tag == "success"
    await client.close()


async def test_garbage_closes_only_that_connection(emulator: EmulatedServer) -> None:
    emulator.create_account(PHONE)
    good = await paired_client(emulator)
    bad = RawClient(emulator)
    await bad.connect(login=False)
    await bad.websocket.send(b"\x00\x00\x05hello")
    await bad.wait_closed()
    closed = await emulator.wait_for(lambda ev: ev.kind == "closed" and "malformed" in ev.data["reason"])
    assert "AES-GCM" in closed.data["reason"] and closed.device is None
    ping = Node("iq", {"id": "p1", "xmlns": "w:p", "type": "get", "to": JID("", "s.whatsapp.net")}, [Node("ping")])
    assert (await good.query(ping)).attrs["type"] == "result"
    # A non-WA intro header fails the handshake cleanly too.
    async with connect(emulator.url) as websocket:
        await websocket.send(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.wait_for(websocket.wait_closed(), 5)
    await good.close()


async def test_wrong_path_is_refused(emulator: EmulatedServer) -> None:
    with pytest.raises(Exception, match="404"):
        async with connect(emulator.url.replace("/ws/chat", "/other")):
            pass


async def test_cli_commands_drive_the_server(emulator: EmulatedServer, capsys) -> None:
    from whatsapp.testing.__main__ import _command as run
    from whatsapp.testing.contact import Contact

    contacts: dict[str, Contact] = {}  # the contacts the `send` command links: none here

    async def _command(server: EmulatedServer, words: list[str]) -> bool:
        return await run(server, words, contacts)

    assert await _command(emulator, ["account", PHONE])
    client = RawClient(emulator)
    refs = await register(client)
    scan = asyncio.create_task(_command(emulator, ["scan", PHONE, qr_for(client, refs[0])]))
    await answer_pair_success(client)
    assert await scan
    assert await _command(emulator, ["devices"])
    assert await _command(emulator, ["unlink", PHONE, "1"])
    assert not await _command(emulator, ["quit"])
    out = capsys.readouterr().out
    assert f"linked {PHONE}:1@s.whatsapp.net" in out and "1: Ubuntu" in out and "unlinked" in out
    assert emulator.account(PHONE).phone.linked_devices() == []


async def test_sibling_devices_hear_of_links_and_unlinks(emulator: EmulatedServer) -> None:
    account = emulator.create_account(PHONE)
    first = await paired_client(emulator)
    second = RawClient(emulator)
    refs = await register(second)
    scan = asyncio.create_task(account.phone.scan_qr(qr_for(second, refs[0])))
    await answer_pair_success(second)
    added = await scan

    notification = await first.recv_until("notification")
    assert notification.attrs["type"] == "devices"
    assert notification.child("add").child("device").attr_str("jid") == f"{PHONE}:2@s.whatsapp.net"
    await account.phone.unlink(added)
    notification = await first.recv_until("notification")
    assert notification.child("remove").child("device").attr_str("jid") == f"{PHONE}:2@s.whatsapp.net"
    assert account.phone.linked_devices() == [account.devices[1]]
    await first.close()


async def test_a_mute_client_is_dropped_after_the_handshake_timeout() -> None:
    async with EmulatedServer(handshake_timeout=0.3) as server:
        async with connect(server.url) as websocket:
            await asyncio.wait_for(websocket.wait_closed(), 3)
        closed = await server.wait_for_event("closed")
        assert "handshake failed" in closed.data["reason"]


async def test_many_clients_pair_and_talk_at_once(emulator: EmulatedServer) -> None:
    phones = [f"1555010{i:04d}" for i in range(12)]
    for phone in phones:
        emulator.create_account(phone)

    async def pair_and_ping(phone: str) -> None:
        client = RawClient(emulator)
        refs = await register(client)
        scan = asyncio.create_task(emulator.account(phone).phone.scan_qr(qr_for(client, refs[0])))
        await answer_pair_success(client)
        await scan
        await client.recv_until("stream:error")
        await client.connect()
        assert (await client.recv()).tag == "success"
        ping = Node("iq", {"id": f"p-{phone}", "xmlns": "w:p", "type": "get", "to": JID("", "s.whatsapp.net")},
                    [Node("ping")])
        assert (await client.query(ping)).attrs["type"] == "result"

    await asyncio.gather(*(pair_and_ping(phone) for phone in phones))
    assert len(emulator.state.online) == len(phones)


async def test_stream_faults_reach_the_client(emulator: EmulatedServer) -> None:
    emulator.create_account(PHONE)
    client = await paired_client(emulator)
    device = emulator.account(PHONE).devices[1]
    await emulator.faults.stream_end(device)
    assert (await client.recv_until("xmlstreamend")).tag == "xmlstreamend"
    await client.wait_closed()

    await client.connect()
    assert (await client.recv()).tag == "success"
    await emulator.faults.device_removed(device)  # the stream error only: the device stays linked
    error = await client.recv_until("stream:error")
    assert error.attrs["code"] == "401" and error.child("conflict").attrs["type"] == "device_removed"
    await client.wait_closed()
    await emulator.wait_for(lambda ev: ev.kind == "closed" and ev.device is device and "401" in ev.data["reason"])
    assert not device.removed and not device.online
    with pytest.raises(LookupError):
        emulator.faults.drop(device)  # no live connection any more


async def test_a_restarted_server_keeps_its_accounts() -> None:
    async with EmulatedServer() as first_server:
        first_server.create_account(PHONE)
        client = await paired_client(first_server)
        port = first_server.port
    await client.wait_closed()
    async with EmulatedServer(port=port, ca=first_server.ca, state=first_server.state) as server:
        assert server.url == first_server.url and not server.state.online
        await client.connect()
        assert (await client.recv()).tag == "success"
        await client.close()
        # The account's phone acts on the restarted server: it links a second companion there.
        second = await paired_client(server)
        assert server.account(PHONE).devices[2].online
        await second.close()


async def test_outdated_client_version_fails_405() -> None:
    async with EmulatedServer(min_version=(2, 3000, 9_999_999_999)) as server:
        client = RawClient(server)
        await client.connect(login=False)
        failure = await client.recv()
        assert failure.tag == "failure" and failure.attrs["reason"] == "405"
        await client.wait_closed()
