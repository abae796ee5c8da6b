"""Push name, presence, unified_session and the receipt type that follows presence (whatsapp/presence.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.bot_support import capture_logs
from tests.messaging_support import PEOPLE, PyPeer, paired_python, pn
from whatsapp.binary import Node
from whatsapp.envelope import delivery_receipt, parse_envelope
from whatsapp.jid import JID
from whatsapp.payload import DeviceConfig
from whatsapp.presence import UNIFIED_OFFSET_MS, WEEK_MS, presence_node, unified_session_id
from whatsapp.testing import EmulatedServer


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    yield from capture_logs()


def test_unified_session_id_is_the_server_time_plus_three_days_modulo_a_week() -> None:
    assert unified_session_id(0) == str(UNIFIED_OFFSET_MS)
    assert unified_session_id(WEEK_MS - UNIFIED_OFFSET_MS) == "0"
    assert unified_session_id(1_790_000_000_123) == str((1_790_000_000_123 + 3 * 86_400_000) % WEEK_MS)


def test_presence_carries_the_name_without_at_signs() -> None:
    assert presence_node("available", "Bot @ Work").attrs == {"name": "Bot  Work", "type": "available"}


def test_receipt_is_inactive_while_we_are_not_available() -> None:
    me = JID("15550009999", "s.whatsapp.net", 3)
    contact = parse_envelope(Node("message", {"id": "A1", "from": JID("15550001111", "s.whatsapp.net", 1)}), me, None)
    assert delivery_receipt(contact, me, active=False).attrs["type"] == "inactive"
    assert "type" not in delivery_receipt(contact, me, active=True).attrs
    own = parse_envelope(Node("message", {"id": "A2", "from": JID("15550009999", "s.whatsapp.net", 1),
                                          "recipient": JID("15550001111", "s.whatsapp.net")}), me, None)
    assert delivery_receipt(own, me, active=False).attrs["type"] == "sender"  # our own copies: always "sender"


def _push_name(peer: PyPeer) -> str | None:
    return peer.auth.creds.push_name


def _presences(peer: PyPeer) -> list[Node]:
    return peer.sent("presence")


async def _receipt_for(peer: PyPeer, message_id: str) -> Node:
    for _ in range(100):
        found = peer.sent("receipt", id=message_id)
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no receipt for {message_id}")


async def test_without_a_push_name_no_presence_and_inactive_receipts(
    emulator: EmulatedServer, log_lines: list[str]
) -> None:
    bot = await paired_python(emulator)
    alice = await paired_python(emulator, name="alice")
    try:
        await emulator.wait_for(lambda e: e.kind == "unified_session" and e.device is not None
                                and e.device.account.phone_number == PEOPLE["py"][0])
        sent = await alice.client.send_text(pn("py"), "hello")
        await bot.message(sent.id)
        assert (await _receipt_for(bot, sent.id)).attrs.get("type") == "inactive"
        assert _presences(bot) == []  # contacts would see "-": neither reference client sends it nameless
        assert sum("no push name known yet" in line for line in log_lines) >= 1
    finally:
        await alice.close()
        await bot.close()


async def test_a_configured_push_name_goes_with_the_presence_not_the_payload(emulator: EmulatedServer) -> None:
    recorder = PyPeer(emulator, device=DeviceConfig(push_name="Helper Bot"))
    await recorder.pair(*PEOPLE["py"])
    alice = await paired_python(emulator, name="alice")
    try:
        for _ in range(100):
            if _presences(recorder):
                break
            await asyncio.sleep(0.02)
        presences = _presences(recorder)
        assert [p.attrs for p in presences] == [{"name": "Helper Bot", "type": "available"}]
        device = emulator.account(PEOPLE["py"][0]).companions()[0]
        assert device.push_name == "Helper Bot"
        sent = await alice.client.send_text(pn("py"), "hello")
        await recorder.message(sent.id)
        assert "type" not in (await _receipt_for(recorder, sent.id)).attrs  # available: a plain delivery receipt
        reply = await recorder.client.send_text(pn("alice"), "hi")
        assert (await alice.message(reply.id)).push_name == "Helper Bot"
    finally:
        await alice.close()
        await recorder.close()


async def test_push_name_learned_from_our_own_messages_then_presence(emulator: EmulatedServer) -> None:
    emulator.create_account(PEOPLE["py"][0], push_name="Account Name")
    bot = await paired_python(emulator)
    other = await paired_python(emulator)  # a second companion of the same account
    alice = await paired_python(emulator, name="alice")
    try:
        assert _presences(bot) == [] and _push_name(bot) is None
        # The other companion writes to Alice; our copy carries the account's push name as `notify`.
        await other.client.send_text(pn("alice"), "from the other device")
        for _ in range(100):
            if _presences(bot):
                break
            await asyncio.sleep(0.02)
        assert _push_name(bot) == "Account Name"
        assert [p.attrs for p in _presences(bot)] == [{"name": "Account Name", "type": "available"}]
    finally:
        await alice.close()
        await other.close()
        await bot.close()
