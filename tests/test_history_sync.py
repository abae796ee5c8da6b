"""History sync (whatsapp/history.py): what a bot keeps of its phone's chunks, and what the next send does with it.

The emulated phone (whatsapp/testing/phone_history.py) builds its chunks from the proto definition and the
server's state, independently of the client's reader: a token a contact issued before the bot was linked
reaches the bot only through history sync, and the server refuses (463) a send that lacks it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import zlib
from collections.abc import Iterator

import pytest
from loguru import logger

from botconfig import BotConfig, ConfigError
from tests.messaging_support import PEOPLE, PyPeer, pn
from whatsapp import events
from whatsapp.addressing import lid_user_for
from whatsapp.auth import KeyType, MemoryAuthState
from whatsapp.binary import Node
from whatsapp.cstoken import nct_salt
from whatsapp.errors import DecodeError
from whatsapp.history import hist_sync_receipt, history_notification, inflate, parse_history, what_to_keep
from whatsapp.jid import JID
from whatsapp.payload import build_device_props
from whatsapp.proto import e2e_pb2, history_sync_pb2
from whatsapp.tctoken import TokenRecord
from whatsapp.testing import EmulatedServer
from whatsapp.testing.phone_history import bootstrap_chunk
from whatsapp.testing.tokens import issue

Sync = history_sync_pb2.HistorySync
ME = "15550009999"


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(f"{m.record['level'].name} {m.record['name']} {m.record['message']}"),
                      level="DEBUG")
    yield lines
    logger.remove(sink)


# ---- the pure part ------------------------------------------------------------------------------------------


def test_what_a_bot_keeps_of_a_chunk() -> None:
    sync = Sync(syncType=Sync.INITIAL_BOOTSTRAP, nctSalt=b"s" * 32)
    sync.phoneNumberToLidMappings.add(pnJID="15550001111@s.whatsapp.net", lidJID="100000000000001@lid")
    sync.phoneNumberToLidMappings.add(pnJID="15550004444@c.us", lidJID="100000000000004@lid")  # legacy server
    sync.phoneNumberToLidMappings.add(pnJID="garbage", lidJID="100000000000009@lid")  # skipped
    sync.conversations.add(ID="100000000000002@lid", pnJID="15550002222@s.whatsapp.net", tcToken=b"T2",
                           tcTokenTimestamp=1790000000, tcTokenSenderTimestamp=1790000100)
    sync.conversations.add(ID="15550003333@s.whatsapp.net", lidJID="100000000000003@lid", tcToken=b"T3",
                           tcTokenTimestamp=1790000001)
    sync.conversations.add(ID="15550005555@s.whatsapp.net", tcToken=b"no-time")  # no timestamp: no token
    sync.conversations.add(ID="120363000000000001@g.us", tcToken=b"G", tcTokenTimestamp=1)  # groups take none
    sync.pushnames.add(ID="15550001111@s.whatsapp.net", pushname="Alice")
    sync.pushnames.add(ID=f"{ME}@s.whatsapp.net", pushname="-")  # WhatsApp's "no name"
    sync.pushnames.add(ID="100000000000099@lid", pushname="Me By LID")
    kept = what_to_keep(sync, {ME, "100000000000099"})
    assert kept.mappings == [("15550001111", "100000000000001"), ("15550004444", "100000000000004"),
                             ("15550002222", "100000000000002"), ("15550003333", "100000000000003")]
    assert kept.tokens == [(JID("100000000000002", "lid"), b"T2", 1790000000, 1790000100),
                           (JID("15550003333", "s.whatsapp.net"), b"T3", 1790000001, None)]
    assert kept.nct_salt == b"s" * 32 and kept.own_push_name == "Me By LID"
    empty = what_to_keep(Sync(syncType=Sync.PUSH_NAME), {ME})
    assert empty.nct_salt is None and empty.own_push_name is None and not empty.tokens


def test_bad_payloads_are_decode_errors() -> None:
    good = Sync(syncType=Sync.RECENT, chunkOrder=3)
    assert parse_history(inflate(zlib.compress(good.SerializeToString()))) == good
    with pytest.raises(DecodeError, match="zlib"):
        inflate(b"not zlib at all")
    with pytest.raises(DecodeError, match="cut short"):
        inflate(zlib.compress(b"x" * 1000)[:-6])
    with pytest.raises(DecodeError, match="more than"):
        inflate(zlib.compress(b"\x00" * 10_000), limit=1000)  # a zlib bomb is refused, not held in memory
    with pytest.raises(DecodeError, match="HistorySync"):
        parse_history(b"\xff\xff\xff")


def test_notification_and_receipt_shapes() -> None:
    note = e2e_pb2.HistorySyncNotification(directPath="/v/x", mediaKey=b"k" * 32)
    message = e2e_pb2.Message(protocolMessage=e2e_pb2.ProtocolMessage(
        type=e2e_pb2.ProtocolMessage.HISTORY_SYNC_NOTIFICATION, historySyncNotification=note))
    assert history_notification(message) == note
    assert history_notification(e2e_pb2.Message(conversation="hi")) is None
    revoke = e2e_pb2.Message(protocolMessage=e2e_pb2.ProtocolMessage(type=e2e_pb2.ProtocolMessage.REVOKE))
    assert history_notification(revoke) is None
    receipt = hist_sync_receipt("3EB0AA", JID(ME, "s.whatsapp.net", 4))
    assert receipt == Node("receipt", {"id": "3EB0AA", "to": JID(ME, "s.whatsapp.net"), "type": "hist_sync"})


def test_history_sync_env_sets_require_full_sync() -> None:
    from bot import build_client  # the bot's own wiring of the config into the client

    default = build_client(BotConfig.from_env({}), MemoryAuthState())
    assert not build_device_props(default.device).requireFullSync  # whatsmeow's default
    full = build_client(BotConfig.from_env({"HISTORY_SYNC": "full"}), MemoryAuthState())
    assert build_device_props(full.device).requireFullSync
    assert not BotConfig.from_env({"HISTORY_SYNC": "Recent"}).full_history
    with pytest.raises(ConfigError, match="HISTORY_SYNC") as error:
        BotConfig.from_env({"HISTORY_SYNC": "everything"})
    assert error.value.variable == "HISTORY_SYNC"


# ---- through the emulator -------------------------------------------------------------------------------------


def _token_iq(jid: JID) -> Node:
    return Node("iq", {"xmlns": "privacy", "type": "set"}, [Node("tokens", {}, [
        Node("token", {"jid": jid, "t": str(int(time.time())), "type": "trusted_contact"}),
    ])])


async def _receipts(server: EmulatedServer, count: int) -> list[dict[str, object]]:
    for _ in range(200):
        found = [e.data for e in server.state.events.events if e.kind == "hist_sync_receipt"]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} hist_sync receipts")


async def test_history_from_the_phone_is_kept_and_used_by_the_next_send() -> None:
    async with EmulatedServer() as server:
        server.settings.history_sync = True
        me = server.create_account(ME, push_name="Py")
        bob = server.create_account(PEOPLE["bob"][0], push_name="Bob")
        carol = server.create_account(PEOPLE["carol"][0], push_name="Carol")
        issue(server.state, bob, _token_iq(me.jid))  # before we were linked: no notification reaches us
        peer = PyPeer(server)
        try:
            await peer.pair(ME, "Py")
            receipts = await _receipts(server, 2)
            assert all(r["known"] for r in receipts)
            assert {r["sync_type"] for r in receipts} == {"INITIAL_BOOTSTRAP", "PUSH_NAME"}
            await peer.wait_count(events.HistorySync, 2)
            chunks = {e.sync_type: e for e in peer.of(events.HistorySync)}
            assert chunks["INITIAL_BOOTSTRAP"].conversations == 1 and chunks["PUSH_NAME"].push_names == 3

            auth = peer.auth  # stored before the receipts left
            assert await lid_user_for(auth, bob.phone_number) == bob.lid
            assert nct_salt(auth.creds) == me.nct_salt
            raw = (await auth.get(KeyType.TC_TOKEN, [f"{bob.lid}@lid"]))[f"{bob.lid}@lid"]
            record = TokenRecord.from_bytes(raw)
            assert record is not None and record.token == bob.issued_tokens[ME][-1].token
            assert auth.creds.push_name == "Py"
            assert peer.sent("presence", name="Py", type="available")  # sent once the name was learned

            # Bob issued us a token: the server refuses a send without it (463); history gave it to us.
            sent = await peer.client.send_text(pn("bob"), "hello Bob")
            stanza = peer.sent("message", id=sent.id)[0]
            tctoken = stanza.child("tctoken")
            assert tctoken is not None and tctoken.content_bytes == bob.issued_tokens[ME][-1].token
            # Carol issued none: the cstoken from the history's nctSalt, which the server checks.
            sent = await peer.client.send_text(pn("carol"), "hello Carol")
            cstoken = peer.sent("message", id=sent.id)[0].child("cstoken")
            expected = hmac.new(me.nct_salt, f"{carol.lid}@lid".encode(), hashlib.sha256).digest()
            assert cstoken is not None and cstoken.content_bytes == expected
        finally:
            await peer.close()


async def test_an_unreadable_chunk_is_logged_once_and_nothing_else_is_lost(log_lines: list[str]) -> None:
    async with EmulatedServer() as server:  # history_sync off: the test sends the chunks itself
        me = server.create_account(ME, push_name="Py")
        server.create_account(PEOPLE["bob"][0], push_name="Bob")
        peer = PyPeer(server)
        try:
            await peer.pair(ME, "Py")
            device = me.companions()[0]
            history = server.phone_history
            await history.send(device, bootstrap_chunk(server.state, me), corrupt=True)  # fails its MAC
            await history.send(device, b"\x0a\xff\xff not a HistorySync", inline=True)
            receipts = await _receipts(server, 2)  # unreadable for good: acknowledged all the same
            assert [r["known"] for r in receipts] == [True, True]
            # One line each from the history concern (the downloader names the failed MAC on its own line).
            problems = [line for line in log_lines if line.startswith("WARNING whatsapp.history")]
            assert len(problems) == 2 and all("cannot be read" in line for line in problems)
            assert {"DecodeError" in line for line in problems} == {True, False}
            assert {"MediaIntegrityError" in line for line in problems} == {True, False}
            assert nct_salt(peer.auth.creds) is None and peer.client.connected
            assert len([m for m in peer.messages if history_notification(m.message)]) == 2  # both events delivered

            await history.send(device, bootstrap_chunk(server.state, me))  # the next good one is applied
            await _receipts(server, 3)
            await peer.wait(events.HistorySync)
            assert nct_salt(peer.auth.creds) == me.nct_salt
        finally:
            await peer.close()


async def test_a_chunk_that_failed_for_a_passing_reason_is_applied_at_the_next_login(log_lines: list[str]) -> None:
    async with EmulatedServer() as server:
        me = server.create_account(ME, push_name="Py")
        server.create_account(PEOPLE["bob"][0], push_name="Bob")
        peer = PyPeer(server)
        try:
            await peer.pair(ME, "Py")
            for host in range(server.media.host_count):
                server.media.fail(host, 503)  # every host down for this one download
            chunk = await server.phone_history.send(me.companions()[0], bootstrap_chunk(server.state, me))
            await peer.message(chunk.message_id)
            for _ in range(100):
                if any("tried again at the next login" in line for line in log_lines):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the failed download was not reported")
            assert not [e for e in server.state.events.events if e.kind == "hist_sync_receipt"]
            assert nct_salt(peer.auth.creds) is None

            await peer.close()
            await peer.start_again()  # the held event is still pending in the buffer: dispatched again
            receipts = await _receipts(server, 1)
            assert receipts[0]["id"] == chunk.message_id
            await peer.wait(events.HistorySync)
            assert nct_salt(peer.auth.creds) == me.nct_salt
        finally:
            await peer.close()
