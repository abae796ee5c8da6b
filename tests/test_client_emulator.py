"""The asyncio client against the emulated server: pairing, login upkeep and every disconnect case.

Reconnect delays go through an injected sleep that records them and returns at once (no real waiting);
keepalive runs with short injected timings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from whatsapp import adv, events
from whatsapp.auth import KeyType, MemoryAuthState
from whatsapp.client import Client
from whatsapp.keepalive import KeepaliveTiming
from whatsapp.proto import adv_pb2
from whatsapp.reconnect import Action, DisconnectKind, ReconnectPolicy
from whatsapp.testing import EmulatedServer, QRTimings, phone_adv
from whatsapp.testing.login import Login

PHONE = "15550001111"


class MaxRandom:
    def uniform(self, a: float, b: float) -> float:
        return b


class Recorder:
    """Injected sleep + event log for one client."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.events: list[events.Event] = []
        self._changed = asyncio.Condition()

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)

    async def on_event(self, event: events.Event) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, kind: type[events.Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait(self, kind: type[events.Event], count: int = 1, timeout: float = 15.0) -> Any:
        async def waiter() -> Any:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.of(kind)) >= count)
                return self.of(kind)[count - 1]

        return await asyncio.wait_for(waiter(), timeout)


def make_client(server: EmulatedServer, auth: MemoryAuthState, rec: Recorder, **kwargs: Any) -> Client:
    kwargs.setdefault("policy", ReconnectPolicy(rng=MaxRandom()))
    client = Client(auth, url=server.url, root_public_key=server.root_public_key, sleep=rec.sleep, **kwargs)
    client.add_handler(events.Event, rec.on_event)
    return client


@pytest.fixture
async def server() -> AsyncIterator[EmulatedServer]:
    async with EmulatedServer() as emulated:
        yield emulated


async def pair_by_qr(server: EmulatedServer, client: Client, rec: Recorder) -> None:
    account = server.account(PHONE) if PHONE in server.state.accounts else server.create_account(PHONE)
    await client.start()
    qr = await rec.wait(events.QR)
    await account.phone.scan_qr(qr.code)
    await rec.wait(events.Connected)


@pytest.fixture
async def online(server: EmulatedServer) -> AsyncIterator[tuple[Client, MemoryAuthState, Recorder]]:
    auth = MemoryAuthState()
    rec = Recorder()
    client = make_client(server, auth, rec)
    await pair_by_qr(server, client, rec)
    await rec.wait(events.PrekeysUploaded)
    yield client, auth, rec
    await client.close()


def device_of(server: EmulatedServer, auth: MemoryAuthState) -> Any:
    return server.state.device_for(auth.creds.me_id)


# ---- pairing ------------------------------------------------------------------------------------------


async def test_qr_pairing_515_login_and_upkeep(server: EmulatedServer, online: Any) -> None:
    client, auth, rec = online
    assert auth.creds.paired and auth.creds.me_lid
    kinds = [r.kind for r, _ in client.history]
    assert kinds == [DisconnectKind.RESTART]  # the 515 after pairing, reconnected with no delay
    assert rec.delays == []
    device = device_of(server, auth)
    await server.wait_for_event("prekeys_uploaded", device)
    assert len(device.prekeys) == 812
    assert auth.creds.next_prekey_id == 813 and auth.creds.first_unuploaded_prekey_id == 813
    await rec.wait(events.OfflineSyncCompleted)
    # passive -> active was sent after login
    await server.wait_for(lambda ev: ev.kind == "stanza" and ev.data["node"].child("active") is not None)
    # the primary's identity and our LID mapping were stored with the pairing
    me_user = auth.creds.me_id.split(":")[0]
    assert (await auth.get(KeyType.LID_MAPPING, [me_user]))[me_user]


async def test_qr_rotation_60_then_20(server: EmulatedServer) -> None:
    server.create_account(PHONE)
    rec = Recorder()
    client = make_client(server, MemoryAuthState(), rec, qr_timeouts=(0.2, 0.05))
    await client.start()
    await rec.wait(events.QR, 6)
    codes = rec.of(events.QR)
    assert [q.timeout for q in codes] == [0.2, 0.05, 0.05, 0.05, 0.05, 0.05]
    assert len({q.code for q in codes}) == 6
    await client.close()
    # defaults: 60 s, then 20 s
    assert Client(MemoryAuthState()).qr_timeouts == (60.0, 20.0)


async def test_pairing_code(server: EmulatedServer) -> None:
    account = server.create_account(PHONE)
    auth = MemoryAuthState()
    rec = Recorder()
    client = make_client(server, auth, rec, phone_number=PHONE)
    await client.start()
    code = await rec.wait(events.PairingCode)
    assert len(code.code) == 8 and code.display[4] == "-"
    assert rec.of(events.QR) == []
    await account.phone.enter_pairing_code(code.code, wait=False)
    await rec.wait(events.Connected)
    assert auth.creds.paired
    await client.close()


async def test_qr_exhaustion_pauses_then_offers_fresh_qrs(server: EmulatedServer) -> None:
    server.qr_timings = QRTimings(ref_count=2, first=5, following=5)
    server.create_account(PHONE)
    rec = Recorder()
    client = make_client(
        server, MemoryAuthState(), rec, qr_timeouts=(0.1, 0.1), policy=ReconnectPolicy(qr_pause=30, rng=MaxRandom())
    )
    await client.start()
    await rec.wait(events.QR, 4)  # two refs, exhausted, then two fresh ones
    assert rec.delays[0] == 30
    first = rec.of(events.Disconnected)[0]
    assert first.reason.kind is DisconnectKind.QR_EXHAUSTED
    assert client.policy.failures == 0  # not counted as a failure
    await client.close()


def forge(kind: str):
    """A replacement for the phone's issue_identity that forges one part of pair-success."""
    real = phone_adv.issue_identity

    def forged(account, companion_identity_public, adv_secret, **kwargs):
        signed = real(account, companion_identity_public, adv_secret, **kwargs)
        wrapper = adv_pb2.ADVSignedDeviceIdentityHMAC.FromString(signed.device_identity)
        if kind == "hmac":
            wrapper.HMAC = bytes(32)
        else:
            inner = adv_pb2.ADVSignedDeviceIdentity.FromString(wrapper.details)
            inner.accountSignature = bytes([inner.accountSignature[0] ^ 1]) + inner.accountSignature[1:]
            wrapper.details = inner.SerializeToString()
            wrapper.HMAC = adv.identity_hmac(adv_secret, wrapper.details)  # the HMAC itself is right
        return phone_adv.IssuedIdentity(wrapper.SerializeToString(), signed.details, wrapper.details,
                                        signed.key_index)

    return forged


@pytest.mark.parametrize(("kind", "text"), [("hmac", "hmac-mismatch"), ("signature", "signature-mismatch")])
async def test_forged_pair_success_is_rejected_and_nothing_stored(
    server: EmulatedServer, monkeypatch: pytest.MonkeyPatch, kind: str, text: str
) -> None:
    import whatsapp.testing.phone as phone_module

    monkeypatch.setattr(phone_module, "issue_identity", forge(kind))
    account = server.create_account(PHONE)
    auth = MemoryAuthState()
    creds_before = auth.creds.to_dict()
    rec = Recorder()
    client = make_client(server, auth, rec)
    await client.start()
    qr = await rec.wait(events.QR)
    with pytest.raises(Exception, match="rejected pair-success"):
        await account.phone.scan_qr(qr.code)
    error = await rec.wait(events.PairError)
    assert text.split("-")[0] in error.reason.lower()
    answer = await server.wait_for(
        lambda ev: ev.kind == "stanza" and ev.data["node"].tag == "iq" and ev.data["node"].attr_str("type") == "error"
    )
    assert answer.data["node"].child("error").attr_str("text") == text
    assert auth.commits == 0 and auth.keys == {}
    assert not auth.creds.paired
    assert auth.creds.to_dict() == creds_before
    await client.close()


# ---- disconnect policy --------------------------------------------------------------------------------


async def test_515_while_online_reconnects_at_once(server: EmulatedServer, online: Any) -> None:
    client, auth, rec = online
    await server.faults.restart_required(device_of(server, auth))
    await rec.wait(events.Connected, 2)
    assert [r.kind for r, _ in client.history] == [DisconnectKind.RESTART, DisconnectKind.RESTART]
    assert rec.delays == []


@pytest.mark.parametrize("fault", ["503", "drop"])
async def test_transient_disconnects_back_off_and_reset_on_open(
    server: EmulatedServer, online: Any, fault: str
) -> None:
    client, auth, rec = online
    for round_ in range(2):
        device = device_of(server, auth)
        if fault == "503":
            await server.faults.service_unavailable(device)
        else:
            server.faults.drop(device)
        await rec.wait(events.Connected, 2 + round_)
    # each disconnect was followed by an open, which reset the backoff: 1 s both times (ceiling, MaxRandom)
    assert rec.delays == [1, 1]
    assert client.attempts == 4  # registration, login after 515, one reconnect per fault
    reason = client.history[-1][0]
    assert reason.kind is DisconnectKind.TRANSIENT and reason.code == (503 if fault == "503" else 428)


async def test_repeated_login_failures_back_off_exponentially(server: EmulatedServer, online: Any) -> None:
    client, auth, rec = online
    device = device_of(server, auth)
    server.faults.fail_next_login(device, 503, sticky=True)
    server.faults.drop(device)
    await server.wait_for(lambda ev: ev.kind == "login_failed" and len(rec.delays) >= 6, timeout=15)
    server.faults.clear_login_failure(device)
    await rec.wait(events.Connected, 2)
    assert rec.delays[:6] == [1, 2, 4, 8, 16, 32]
    assert client.attempts == 2 + len(rec.delays)  # one attempt per recorded delay, no storm
    assert client.policy.failures == 0  # reset by the successful open


async def test_replaced_stops_and_surfaces(server: EmulatedServer, online: Any) -> None:
    client, auth, rec = online
    attempts = client.attempts
    await server.faults.replaced(device_of(server, auth))
    reason = await asyncio.wait_for(client.wait(), 10)
    assert reason.kind is DisconnectKind.REPLACED
    assert rec.of(events.Replaced)
    assert client.attempts == attempts  # never reconnected
    assert rec.delays == []
    assert auth.creds.paired  # the session is kept


async def test_device_removed_logs_out_and_clears(server: EmulatedServer, online: Any) -> None:
    client, auth, rec = online
    await server.faults.device_removed(device_of(server, auth))
    reason = await asyncio.wait_for(client.wait(), 10)
    assert reason.kind is DisconnectKind.LOGGED_OUT
    assert rec.of(events.LoggedOut)
    assert not auth.creds.paired and auth.keys == {}


@pytest.mark.parametrize("code", [401, 403, 406])
async def test_login_failure_logged_out_then_pairs_anew(server: EmulatedServer, code: int) -> None:
    auth = MemoryAuthState()
    rec = Recorder()
    client = make_client(server, auth, rec, policy=ReconnectPolicy(pair_again_after_logout=True, rng=MaxRandom()))
    await pair_by_qr(server, client, rec)
    device = device_of(server, auth)
    server.faults.fail_next_login(device, code)
    server.faults.drop(device)
    await rec.wait(events.LoggedOut)
    assert not auth.creds.paired
    qr = await rec.wait(events.QR, 2)  # a fresh pairing started by itself
    await server.account(PHONE).phone.scan_qr(qr.code)
    await rec.wait(events.Connected, 2)
    assert auth.creds.paired
    await client.close()


async def test_temporary_ban_waits_until_expiry(server: EmulatedServer, online: Any) -> None:
    _client, auth, rec = online
    device = device_of(server, auth)
    server.faults.fail_next_login(device, 402, expire="1800")
    server.faults.drop(device)
    await rec.wait(events.TemporaryBan)
    await rec.wait(events.Connected, 2)
    assert 1800 in rec.delays
    ban = rec.of(events.TemporaryBan)[0]
    assert (ban.code, ban.expires_in) == (101, 1800)


async def test_outdated_client_stops(server: EmulatedServer, online: Any) -> None:
    client, auth, rec = online
    device = device_of(server, auth)
    server.faults.fail_next_login(device, 405)
    server.faults.drop(device)
    reason = await asyncio.wait_for(client.wait(), 10)
    assert reason.kind is DisconnectKind.OUTDATED
    assert rec.of(events.ClientOutdated)
    assert client.history[-1][1].action is Action.STOP


async def test_silent_server_detected_by_keepalive(server: EmulatedServer) -> None:
    auth = MemoryAuthState()
    rec = Recorder()
    timing = KeepaliveTiming(interval_min=0.05, interval_max=0.1, response_timeout=0.3, max_silence=5)
    client = make_client(server, auth, rec, keepalive=timing)
    await pair_by_qr(server, client, rec)
    server.faults.silence(device_of(server, auth))
    await rec.wait(events.Connected, 2, timeout=10)
    reasons = [r for r, _ in client.history]
    assert reasons[-1].kind is DisconnectKind.TRANSIENT and reasons[-1].code == 408
    assert "keepalive" in reasons[-1].text
    assert rec.delays == [1]
    await client.close()


async def test_single_supervisor_and_clean_close(server: EmulatedServer, online: Any) -> None:
    client, auth, rec = online
    await client.start()
    await client.start()
    device = device_of(server, auth)
    assert len(server.connections_of(device)) == 1
    await client.close()
    await client.close()  # harmless twice
    assert not client.running
    assert rec.of(events.Stopped)[0].reason.kind is DisconnectKind.CLOSED_BY_USER
    assert auth.creds.paired  # close never logs out


async def test_low_prekey_notification_triggers_refill(server: EmulatedServer, online: Any) -> None:
    from whatsapp.binary import Node
    from whatsapp.jid import SERVER_JID

    _client, auth, rec = online
    device = device_of(server, auth)
    await server.send_to(
        device,
        Node("notification", {"from": SERVER_JID, "type": "encrypt", "id": "n1"}, [Node("count", {"value": "3"})]),
    )
    refill = await rec.wait(events.PrekeysUploaded, 2)
    assert refill.count == 97 and refill.first_id == 813
    assert auth.creds.next_prekey_id == 910
    await server.wait_for(
        lambda ev: ev.kind == "stanza" and ev.data["node"].tag == "ack" and ev.data["node"].attr_str("id") == "n1"
    )


async def test_undecryptable_frame_forces_a_clean_reconnect(server: EmulatedServer, online: Any) -> None:
    client, auth, rec = online
    await server.faults.send_garbage_frame(device_of(server, auth))
    await rec.wait(events.Connected, 2)
    reason = client.history[-1][0]
    assert reason.kind is DisconnectKind.TRANSIENT and "decrypt" in reason.text
    assert rec.delays == [1]


async def test_close_interrupts_a_backoff_wait(server: EmulatedServer) -> None:
    auth = MemoryAuthState()
    blocked = asyncio.Event()

    async def endless_sleep(seconds: float) -> None:
        blocked.set()
        await asyncio.Event().wait()

    client = Client(auth, url="ws://127.0.0.1:9/ws/chat", sleep=endless_sleep, connect_timeout=2)
    await client.start()
    await asyncio.wait_for(blocked.wait(), 10)  # refused connection -> waiting out the backoff
    assert client.history[0][0].kind is DisconnectKind.TRANSIENT
    await asyncio.wait_for(client.close(), 2)
    assert not client.running


async def test_missing_offline_marker_times_out(server: EmulatedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_backlog_marker(self, connection) -> None:
        return None

    monkeypatch.setattr(Login, "_after_login", no_backlog_marker)  # the backlog and its marker never come
    auth = MemoryAuthState()
    rec = Recorder()
    client = make_client(server, auth, rec, offline_timeout=0.3)
    await pair_by_qr(server, client, rec)
    done = await rec.wait(events.OfflineSyncCompleted)
    assert done.timed_out
    await client.close()
