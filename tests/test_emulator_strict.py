"""The emulator is as strict as the real server: unknown IQs get 501 and are reported, ping and idle rules,
refused registrations, participant-hash checks, and the phone reading the copies addressed to it."""

from __future__ import annotations

import asyncio

import pytest

from tests.fixtures.emulator import RawClient
from tests.test_emulator_core import PHONE, paired_client
from whatsapp.auth import KeyType
from whatsapp.binary import Node
from whatsapp.compose import device_sent_copy
from whatsapp.jid import JID
from whatsapp.keys import KeyPair, generate_registration_id
from whatsapp.padding import pad_message
from whatsapp.phash import participant_hash
from whatsapp.proto import e2e_pb2
from whatsapp.signal import LocalIdentity, PreKeyBundle, SessionRecord, build_session_from_bundle, encrypt_message
from whatsapp.testing import EmulatedServer
from whatsapp.testing.coverage import devices_hash
from whatsapp.testing.dispatch import HandlerContext
from whatsapp.testing.harness.peers import PEOPLE, paired_python, pn
from whatsapp.testing.routing import Router
from whatsapp.testing.state import Account, Device, ServerState
from whatsapp.testing.strict import watch_servers
from whatsapp.usync import DeviceList

SERVER = JID("", "s.whatsapp.net")


def iq(xmlns: str, iq_type: str, *children: Node, iq_id: str) -> Node:
    return Node("iq", {"id": iq_id, "xmlns": xmlns, "type": iq_type, "to": SERVER}, list(children))


# -- what no handler models ---------------------------------------------------------------------------


@pytest.mark.emulator_allows("iq", "reply", "stanza")  # the suite's own watch sees them too
async def test_every_strictness_report_is_seen_by_a_watch() -> None:
    with watch_servers() as watch:
        async with EmulatedServer() as server:
            server.create_account(PHONE)
            client = await paired_client(server)
            answer = await client.query(iq("w:stats", "set", Node("add"), iq_id="u1"))
            assert answer.child("error").attrs == {"code": "501", "text": "feature-not-implemented"}
            await client.send(Node("iq", {"id": "nobody-asked", "type": "result", "to": SERVER}))
            await client.send(Node("weird", {"id": "w1"}))
            await server.wait_for(lambda ev: ev.kind == "unmodelled" and ev.data["what"] == "stanza")
            await client.close()
    assert [e.data["what"] for e in watch.violations()] == ["iq", "reply", "stanza"]
    assert watch.violations({"iq", "reply", "stanza"}) == []


@pytest.mark.emulator_allows("handler-error")
async def test_a_failing_handler_is_answered_and_reported(emulator: EmulatedServer) -> None:
    emulator.create_account(PHONE)

    @emulator.handlers.stanza("boom")
    async def boom(context: HandlerContext, node: Node) -> None:
        raise RuntimeError("handler bug")

    @emulator.handlers.iq("test:boom")
    async def boom_iq(context: HandlerContext, node: Node) -> None:
        raise RuntimeError("handler bug")

    client = await paired_client(emulator)
    await client.send(Node("boom", {"id": "b1"}))
    ack = await client.recv_until("ack")
    assert ack.attrs == {"class": "boom", "id": "b1", "error": "500"}
    answer = await client.query(iq("test:boom", "get", iq_id="b2"))
    assert answer.child("error").attrs["code"] == "500"
    assert [e.data["what"] for e in emulator.state.events.of_kind("unmodelled")] == ["handler-error"] * 2
    await client.close()


@pytest.mark.emulator_allows("iq")
async def test_pings_are_get_with_a_ping_child_and_answered_while_registering(emulator: EmulatedServer) -> None:
    registering = RawClient(emulator)
    await registering.connect(login=False)
    await registering.recv()  # pair-device
    ping = iq("w:p", "get", Node("ping"), iq_id="p1")
    assert (await registering.query(ping)).attrs["type"] == "result"
    bare = iq("w:p", "get", iq_id="p2")
    assert (await registering.query(bare)).child("error").attrs["code"] == "501"
    await registering.close()


async def test_a_silent_logged_in_client_is_dropped_and_a_pinging_one_kept() -> None:
    async with EmulatedServer(idle_timeout=0.6) as server:
        server.create_account(PHONE)
        silent = await paired_client(server)
        await silent.wait_closed(timeout=3)
        closed = await server.wait_for(lambda ev: ev.kind == "closed" and ev.device is not None, timeout=3)
        assert closed.data["reason"] == "idle for 0.6s"

        pinging = await paired_client(server)
        for i in range(6):
            await asyncio.sleep(0.3)
            assert (await pinging.query(iq("w:p", "get", Node("ping"), iq_id=f"k{i}"))).attrs["type"] == "result"
        await pinging.close()


async def test_a_registration_with_a_forged_signed_prekey_is_refused(emulator: EmulatedServer) -> None:
    client = RawClient(emulator)
    spk = client.creds.signed_prekey
    client.creds.signed_prekey = type(spk)(spk.key_id, spk.key_pair, bytes(64))
    await client.connect(login=False)
    failure = await client.recv()
    assert failure.tag == "failure" and failure.attrs["reason"] == "400"
    await client.wait_closed()
    assert not emulator.state.events.of_kind("registration")


async def test_signed_prekey_rotation_without_a_known_identity_is_refused(emulator: EmulatedServer) -> None:
    account = emulator.create_account(PHONE)
    client = await paired_client(emulator)
    account.devices[1].identity_public = None  # nothing to verify the new signed prekey against
    spk = client.creds.signed_prekey
    rotate = iq("encrypt", "set", Node("rotate", {}, [Node("skey", {}, [
        Node("id", {}, (9).to_bytes(3, "big")), Node("value", {}, spk.key_pair.public),
        Node("signature", {}, spk.signature)])]), iq_id="r1")
    assert (await client.query(rotate)).child("error").attrs["code"] == "406"
    await client.close()


# -- the participant hash -----------------------------------------------------------------------------


def _companion(account: Account) -> Device:
    device = account.new_companion()
    keys = KeyPair.generate()
    device.identity_public = keys.public
    device.registration_id = 7
    device.signed_prekey = account.phone_keys.public_signed_prekey()
    return device


def test_the_client_and_the_server_hash_the_same_way() -> None:
    state = ServerState()
    account = state.add_account("15550001111")
    devices = [account.primary, _companion(account)]
    for lid in (False, True):
        jids = [d.lid_jid if lid else d.jid for d in devices]
        assert participant_hash(jids) == devices_hash(devices, lid)
    # whatsmeow `participantListHashV2` of the one device "1.0:0@s.whatsapp.net", worked out once by hand:
    # "2:" + unpadded base64 of sha256(b"1.0:0@s.whatsapp.net")[:6].
    assert participant_hash([JID("1", "s.whatsapp.net")]) == "2:ehakTZms"


def test_group_and_direct_messages_that_miss_devices_get_the_servers_phash() -> None:
    state = ServerState()
    alice, bob = state.add_account("15550001111"), state.add_account("15550002222")
    sender, bob1 = _companion(alice), _companion(bob)
    router = Router(state)
    group = state.add_group("g", alice, [bob], addressing_mode="lid")
    every = [alice.primary, sender, bob.primary, bob1]

    def group_message(phash: str) -> Node:
        return Node("message", {"id": "G1", "to": group.jid, "type": "text", "phash": phash},
                    [Node("enc", {"v": "2", "type": "skmsg"}, b"x")])

    right = devices_hash(every, lid=True)
    assert "phash" not in router.handle(sender, group_message(right)).replies[0].attrs
    stale = participant_hash([d.lid_jid for d in every[:3]])
    assert router.handle(sender, group_message(stale)).replies[0].attrs["phash"] == right

    def direct(*targets: Device) -> Node:
        return Node("message", {"id": "D1", "to": bob.jid, "type": "text"}, [Node("participants", {}, [
            Node("to", {"jid": d.jid}, [Node("enc", {"v": "2", "type": "msg"}, b"x")]) for d in targets])])

    assert "phash" not in router.handle(sender, direct(bob.primary, bob1, alice.primary)).replies[0].attrs
    missed = router.handle(sender, direct(bob.primary, alice.primary)).replies[0]
    assert missed.attrs["phash"] == devices_hash(every, lid=False)


async def test_our_client_drops_stale_device_lists_when_the_ack_says_so(emulator: EmulatedServer) -> None:
    sender = await paired_python(emulator, name="py")
    bob = await paired_python(emulator, name="bob")
    try:
        first = await sender.client.send_text(pn("bob"), "one")
        await bob.message(first.id)
        # Make the sender's cached list of bob stale: his companion (device 1) left out.
        bob_user = JID(PEOPLE["bob"][0], "s.whatsapp.net")
        async with sender.auth.transaction() as tx:
            tx.set(KeyType.DEVICE_LIST, str(bob_user), DeviceList(bob_user, (0,), None, 10**10).to_bytes())
        missed = await sender.client.send_text(pn("bob"), "two")
        routed = await emulator.wait_for(lambda ev: ev.kind == "message_routed" and ev.data["id"] == missed.id)
        assert all(d.device_id == 0 or d.account.phone_number != PEOPLE["bob"][0] for d in routed.data["targets"])
        # The ack carried the server's phash: the stale list is gone, so the next send reaches device 1 again.
        assert str(bob_user) not in await sender.auth.get(KeyType.DEVICE_LIST, [str(bob_user)])
        third = await sender.client.send_text(pn("bob"), "three")
        assert (await bob.message(third.id)).text == "three"
    finally:
        await sender.close()
        await bob.close()


# -- the phone reads what is addressed to it ------------------------------------------------------------


async def test_the_phone_decrypts_our_own_device_copies(emulator: EmulatedServer) -> None:
    py = await paired_python(emulator, name="py")
    bob = await paired_python(emulator, name="bob")
    try:
        phone = emulator.phone(PEOPLE["py"][0])
        before = phone.inbox.decrypted
        sent = await py.client.send_text(pn("bob"), "hello bob")
        await bob.message(sent.id)
        assert phone.inbox.decrypted > before  # our own phone read its DeviceSentMessage
        reply = await bob.client.send_text(pn("py"), "hello back")
        await py.message(reply.id)
        assert emulator.phone(PEOPLE["py"][0]).inbox.decrypted > before + 1  # and bob's message to us
    finally:
        await py.close()
        await bob.close()


def _session_to_phone(sender_identity: KeyPair, account: Account) -> tuple[LocalIdentity, SessionRecord]:
    keys = account.phone_keys
    spk = keys.signed_prekey
    bundle = PreKeyBundle(keys.registration_id, 0, account.identity.public, spk.key_id, spk.key_pair.public,
                          spk.signature)
    me = LocalIdentity(sender_identity, generate_registration_id())
    return me, build_session_from_bundle(None, me, bundle).record


@pytest.mark.emulator_allows("phone-content", "phone-decrypt")
async def test_the_phone_rejects_a_plain_own_copy_and_garbage(emulator: EmulatedServer) -> None:
    alice, bob = emulator.create_account("15550001111"), emulator.create_account("15550002222")
    companion = _companion(alice)
    identity = KeyPair.generate()
    companion.identity_public = identity.public
    me, record = _session_to_phone(identity, alice)
    message = e2e_pb2.Message(conversation="hi bob")

    def copy(payload: e2e_pb2.Message, session: SessionRecord) -> tuple[SessionRecord, Node]:
        session, encrypted = encrypt_message(session, me, pad_message(payload.SerializeToString()))
        node = Node("message", {"from": companion.jid, "id": "M1", "recipient": bob.jid, "type": "text"},
                    [Node("enc", {"v": "2", "type": encrypted.type}, encrypted.body)])
        return session, node

    record, good = copy(device_sent_copy(message, bob.jid), record)
    await emulator.phone(alice.phone_number).receive(good)
    assert emulator.phone(alice.phone_number).inbox.decrypted == 1
    record, plain = copy(message, record)
    await emulator.phone(alice.phone_number).receive(plain)
    rejected = emulator.state.events.of_kind("phone_rejected")
    assert [e.data["what"] for e in rejected] == ["phone-content"]
    garbage = Node("message", {"from": companion.jid, "id": "M3", "recipient": bob.jid},
                   [Node("enc", {"v": "2", "type": "msg"}, b"\x33garbage")])
    await emulator.phone(alice.phone_number).receive(garbage)
    assert [e.data["what"] for e in emulator.state.events.of_kind("phone_rejected")] == ["phone-content",
                                                                                        "phone-decrypt"]
