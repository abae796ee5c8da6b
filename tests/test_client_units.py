"""Sans-I/O pieces of the client: QR schedule, prekey planning and storage, events, IQ, keepalive, config."""

from __future__ import annotations

import random

import pytest

from botconfig import BotConfig, ConfigError
from tests.client_support import FakeClock
from whatsapp import eventbus, events
from whatsapp.acks import build_ack
from whatsapp.auth import KeyType, MemoryAuthState
from whatsapp.binary import Node
from whatsapp.certs import WA_ROOT_PUBLIC_KEY
from whatsapp.errors import ConnectionGone, IqError, KeepaliveFailed
from whatsapp.iq import IqTracker, check_iq_result
from whatsapp.keepalive import KeepaliveTiming, run_keepalive
from whatsapp.keys import KeyPair
from whatsapp.pairing import parse_pair_device, qr_schedule
from whatsapp.prekeys import (
    INITIAL_PREKEY_COUNT,
    LOW_WATER_MARK,
    TARGET_PREKEY_COUNT,
    mark_uploaded,
    plan_upload,
    prepare_upload,
    upload_iq,
)

# ---- QR -----------------------------------------------------------------------------------------------


def test_qr_schedule_is_60_then_20() -> None:
    assert qr_schedule(6) == [60, 20, 20, 20, 20, 20]
    assert qr_schedule(1) == [60]
    assert qr_schedule(3, 1.0, 0.5) == [1.0, 0.5, 0.5]


def test_parse_pair_device() -> None:
    node = Node("iq", {"id": "1"}, [Node("pair-device", {}, [Node("ref", {}, b"a"), Node("ref", {}, b"b")])])
    assert parse_pair_device(node) == [b"a", b"b"]


# ---- prekeys ------------------------------------------------------------------------------------------


async def test_prekey_plan_initial_refill_and_enough() -> None:
    auth = MemoryAuthState()
    assert plan_upload(auth.creds, 0).generate == INITIAL_PREKEY_COUNT
    auth.creds.first_unuploaded_prekey_id = auth.creds.next_prekey_id = 900
    assert plan_upload(auth.creds, LOW_WATER_MARK).generate == 0
    assert plan_upload(auth.creds, 5).generate == TARGET_PREKEY_COUNT - 5
    assert plan_upload(auth.creds, 0).generate == TARGET_PREKEY_COUNT  # not the first upload any more


async def test_prekeys_stored_with_id_bump_before_upload_and_never_reused() -> None:
    auth = MemoryAuthState()
    upload = await prepare_upload(auth, plan_upload(auth.creds, 0))
    ids = [key_id for key_id, _ in upload.keys]
    assert ids == list(range(1, INITIAL_PREKEY_COUNT + 1))
    # Committed before any upload: the id bump and the keys, in one transaction.
    assert auth.commits == 1
    assert auth.creds.next_prekey_id == INITIAL_PREKEY_COUNT + 1
    assert auth.creds.first_unuploaded_prekey_id == 1
    stored = await auth.get(KeyType.PRE_KEY, ["1", str(INITIAL_PREKEY_COUNT)])
    assert KeyPair.from_bytes(stored["1"]) == upload.keys[0][1]

    # The upload never got confirmed (crash): the next plan re-sends those same keys, no new ids.
    again = plan_upload(auth.creds, 0)
    assert again.reuse_ids[:3] == [1, 2, 3] and again.generate == 0
    resent = await prepare_upload(auth, again)
    assert [k for k, _ in resent.keys] == ids[: len(again.reuse_ids)]

    await mark_uploaded(auth, upload)
    assert auth.creds.first_unuploaded_prekey_id == INITIAL_PREKEY_COUNT + 1
    refill = await prepare_upload(auth, plan_upload(auth.creds, 3))
    assert refill.keys[0][0] == INITIAL_PREKEY_COUNT + 1
    assert len(refill.keys) == TARGET_PREKEY_COUNT - 3


def test_upload_iq_shape() -> None:
    auth = MemoryAuthState()
    pair = KeyPair.generate()
    node = upload_iq("x", auth.creds, [(0x010203, pair)])
    key = node.child("list").child("key")
    assert key.child("id").content == b"\x01\x02\x03"
    assert key.child("value").content == pair.public
    assert len(node.child("skey").child("signature").content) == 64
    assert node.attrs["xmlns"] == "encrypt"


# ---- events -------------------------------------------------------------------------------------------


async def test_failing_handler_never_stops_the_others() -> None:
    bus = eventbus.EventBus()
    seen: list[str] = []

    @bus.on(events.QR)
    async def broken(event: events.QR) -> None:
        raise RuntimeError("application bug")

    @bus.on(events.QR)
    def sync_handler(event: events.QR) -> None:
        seen.append("sync")

    @bus.on(events.Event)
    async def everything(event: events.Event) -> None:
        seen.append(type(event).__name__)

    await bus.emit(events.QR("code", 0, 6, 60))
    await bus.emit(events.OfflineSyncCompleted(3))
    assert seen == ["sync", "QR", "OfflineSyncCompleted"]
    with pytest.raises(TypeError):
        bus.on(str)  # type: ignore[arg-type]


def test_pairing_code_display() -> None:
    assert events.PairingCode("ABCD2345").display == "ABCD-2345"


# ---- IQ -----------------------------------------------------------------------------------------------


async def test_iq_tracker_resolves_and_fails_pending() -> None:
    tracker = IqTracker()
    first, second = tracker.next_id(), tracker.next_id()
    assert first != second
    f1, f2 = tracker.expect(first), tracker.expect(second)
    assert tracker.resolve(Node("iq", {"id": first, "type": "result"}))
    assert not tracker.resolve(Node("iq", {"id": "unknown", "type": "result"}))
    assert (await f1).attrs["id"] == first
    tracker.fail_all(ConnectionGone("closed"))
    with pytest.raises(ConnectionGone):
        await f2
    error = Node("iq", {"id": "1", "type": "error"}, [Node("error", {"code": "401", "text": "not-authorized"})])
    with pytest.raises(IqError) as info:
        check_iq_result(error)
    assert info.value.code == 401


def test_ack_shape() -> None:
    node = Node("notification", {"id": "n1", "from": "s.whatsapp.net", "type": "encrypt", "t": "1"})
    ack = build_ack(node)
    assert ack.attrs == {"id": "n1", "to": "s.whatsapp.net", "class": "notification", "type": "encrypt"}


# ---- keepalive (virtual time) -------------------------------------------------------------------------


async def test_keepalive_pings_with_jitter_and_detects_unanswered_ping() -> None:
    clock = FakeClock()
    answered = 0

    async def ping(timeout: float) -> None:
        nonlocal answered
        if answered == 3:
            raise TimeoutError
        answered += 1

    with pytest.raises(KeepaliveFailed, match="not answered"):
        await run_keepalive(ping, clock.now, sleep=clock.sleep, clock=clock.now, rng=random.Random(1))
    assert len(clock.sleeps) == 4
    assert all(20 <= s <= 30 for s in clock.sleeps)
    assert len(set(clock.sleeps)) == 4  # jittered


async def test_keepalive_detects_silence_even_if_pings_pass() -> None:
    clock = FakeClock()

    async def ping(timeout: float) -> None:
        return None

    timing = KeepaliveTiming(interval_min=20, interval_max=20, response_timeout=10, max_silence=45)
    with pytest.raises(KeepaliveFailed, match="nothing received"):
        await run_keepalive(ping, lambda: 0.0, timing, sleep=clock.sleep, clock=clock.now)
    assert clock.now_value == 60


# ---- configuration ------------------------------------------------------------------------------------


def test_config_defaults() -> None:
    config = BotConfig.from_env({})
    assert config.wa_url == "wss://web.whatsapp.com/ws/chat"
    assert config.wa_root_key == WA_ROOT_PUBLIC_KEY
    assert (config.auth_dir, config.session_id, config.log_level) == ("whatsapp_auth", "default", "INFO")
    assert config.phone_number is None


def test_config_values_and_secrets_kept_out_of_repr() -> None:
    config = BotConfig.from_env(
        {
            "PHONE_NUMBER": "+15551234567",
            "WA_ROOT_KEY": "11" * 32,
            "MONGODB_URI": "mongodb://user:hunter2@db",
            "SESSION_ENCRYPTION_KEY": "s3cret",
            "LOG_LEVEL": "debug",
        }
    )
    assert config.phone_number == "15551234567"
    assert config.wa_root_key == b"\x11" * 32
    assert config.log_level == "DEBUG"
    assert "hunter2" not in repr(config) and "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WA_URL", "http://example.com"),
        ("WA_ROOT_KEY", "zz"),
        ("WA_ROOT_KEY", "1234"),
        ("PHONE_NUMBER", "0551234567"),
        ("PHONE_NUMBER", "+1 555 12"),  # separators are dropped, and 6 digits is too short
        ("PHONE_NUMBER", "+1 555 abc 1111"),
        ("WA_URL", "ws://127.0.0.1:99999/ws/chat"),
        ("LOG_FORMAT", "xml"),
        ("BOT_SELF_COMMANDS", "maybe"),
        ("LOG_LEVEL", "LOUD"),
        ("SESSION_ID", "a/b"),
        ("MONGODB_URI", "postgres://x"),
    ],
)
def test_config_refuses_bad_values_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        BotConfig.from_env({name: value})
    assert info.value.variable == name
    assert str(info.value).startswith(name)
