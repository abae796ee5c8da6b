"""No message lost, without a server: the bounded index, the decrypted-event buffer's records and holds, the
sent-message store, the bounded quote, derived reply ids, own-device forgery and the emulator's
at-least-once bookkeeping (issue 9)."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from loguru import logger

from tests.bot_support import FakeClient, received
from tests.client_support import Rig
from whatsapp.auth import KeyType, MemoryAuthState
from whatsapp.binary import Node, encode_node
from whatsapp.bot import Context, Dispatcher, Router
from whatsapp.compose import derived_message_id, text_message
from whatsapp.errors import ConnectionGone
from whatsapp.eventlog import HANDLED, PENDING, EventLog, decode_event, encode_event, stable_id
from whatsapp.inbox import Inbox
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2
from whatsapp.quoting import QUOTE_LIMIT, bounded_quote
from whatsapp.receive import Receiver
from whatsapp.ring import Ring
from whatsapp.sent import SentMessage
from whatsapp.sentstore import StoredSent
from whatsapp.testing.state import ServerState
from whatsapp.testing.unacked import requeue, settle, track

ME = "15550009999:7@s.whatsapp.net"


def paired_auth() -> MemoryAuthState:
    auth = MemoryAuthState()
    auth.creds = dataclasses.replace(auth.creds, me_id=ME, account=b"acct")
    return auth


# ---- the ring -------------------------------------------------------------------------------------------


async def test_ring_prunes_the_oldest_bucket_by_count_and_by_age_and_lists_in_order() -> None:
    auth = MemoryAuthState()
    ring = Ring("r", KeyType.EVENT, max_count=10, max_age=100.0, bucket_size=4)
    for i in range(30):
        async with auth.transaction() as tx:
            tx.set(KeyType.EVENT, f"e{i}", b"x")
            await ring.add(tx, f"e{i}", now=1000.0 + i)
    async with auth.transaction() as tx:
        ids = await ring.ids(tx)
    stored = set(auth.keys[KeyType.EVENT])
    assert ids == [f"e{i}" for i in range(30 - len(ids), 30)]  # the newest, oldest first
    assert 10 <= len(ids) <= 10 + 4 and stored == set(ids)  # what left the index left the store
    assert len([k for k in auth.keys[KeyType.INDEX] if k.startswith("r.")]) <= 4
    # A day later one add drops the stale buckets (at most two per add: bounded work per unit of work).
    async with auth.transaction() as tx:
        tx.set(KeyType.EVENT, "late", b"x")
        await ring.add(tx, "late", now=1000.0 + 86_400)
    assert len(auth.keys[KeyType.EVENT]) < len(stored)


async def test_ring_keeps_what_keep_vouches_for_by_moving_it_to_the_newest_bucket() -> None:
    auth = MemoryAuthState()

    async def keep(tx: object, entry_id: str, tag: str) -> bool:
        return tag == "used"

    ring = Ring("k", KeyType.SENDER_KEY, max_count=4, max_age=1e9, bucket_size=2, keep=keep)
    for i in range(12):
        async with auth.transaction() as tx:
            tx.set(KeyType.SENDER_KEY, f"s{i}", b"x")
            await ring.add(tx, f"s{i}", now=float(i), tag="used" if i == 0 else "")
    assert "s0" in auth.keys[KeyType.SENDER_KEY]  # survived every drop
    assert len(auth.keys[KeyType.SENDER_KEY]) <= 4 + 2 + 1


# ---- the event buffer -------------------------------------------------------------------------------------


def test_event_records_round_trip_and_stable_ids_depend_on_the_envelope_only() -> None:
    event = dataclasses.replace(received("!ping", sender="1:2@lid"), sender_alt=JID.parse("1@s.whatsapp.net"),
                                stable_id="abc")
    raw = encode_event(event, PENDING, 5.0)
    assert decode_event(raw) == event
    assert json.loads(encode_event(event, HANDLED, 5.0)) == {"s": HANDLED, "t": 5}
    a = stable_id(JID.parse("1@s.whatsapp.net"), JID.parse("1:2@s.whatsapp.net"), "X")
    assert a == stable_id(JID.parse("1@s.whatsapp.net"), JID.parse("1:2@s.whatsapp.net"), "X")
    assert a != stable_id(JID.parse("1@s.whatsapp.net"), JID.parse("1:3@s.whatsapp.net"), "X")


async def test_holds_keep_an_entry_pending_until_every_holder_released_it_as_handled() -> None:
    auth = paired_auth()
    log = EventLog(auth, asyncio.Lock(), max_in_flight=2)
    emitted: list[object] = []
    releases = []

    async def emit(event: object) -> None:
        emitted.append(event)
        assert isinstance(event, type(first))
        releases.append(log.hold(event))  # a dispatcher that handles it later

    inbox = Inbox(emit, log)
    inbox.start()
    first, second = (dataclasses.replace(received(f"m{i}", message_id=f"M{i}"), stable_id=f"k{i}") for i in (1, 2))
    for event in (first, second):
        async with auth.transaction() as tx:
            await log.record(tx, event)
        log.begin(event.stable_id)
        await inbox.put(event)
    assert not log.has_space()  # two in flight: the receiver parks what comes next
    await asyncio.sleep(0.05)
    assert await log.state("k1") == PENDING and await log.state("k2") == PENDING
    releases[0](True)
    releases[1](False)  # e.g. the bot was stopping: left for the next process
    await asyncio.sleep(0.05)
    await log.flush()
    assert await log.state("k1") == HANDLED and await log.state("k2") == PENDING
    assert log.has_space() and log.in_flight == 0
    # A new process over the same session: the pending one comes back once, flagged.
    again = EventLog(auth, asyncio.Lock())
    delivered: list[object] = []

    async def deliver(event: object) -> None:
        delivered.append(event)

    assert await again.redeliver(deliver) == 1
    assert await again.redeliver(deliver) == 0  # in flight now: never twice in one process
    (event,) = delivered
    assert event == dataclasses.replace(second, redelivered=True)
    await inbox.drain(1)


async def test_a_stanza_already_in_the_buffer_is_not_decrypted_again() -> None:
    rig = Rig(paired_auth())
    receiver = Receiver(rig.ctx)
    node = Node("message", {"from": "15551112222:1@s.whatsapp.net", "id": "AB1", "t": "1700000000",
                            "type": "text"}, [Node("enc", {"v": "2", "type": "msg"}, b"\x33garbage")])
    key = stable_id(JID.parse("15551112222:1@s.whatsapp.net"), JID.parse("15551112222:1@s.whatsapp.net"), "AB1")
    event = dataclasses.replace(received("hi", chat="15551112222@s.whatsapp.net", message_id="AB1"), stable_id=key)
    async with rig.auth.transaction() as tx:
        await receiver.log.record(tx, event)
    await receiver.handle(node)  # pending, not in flight here: dispatched from the buffer, then the receipt
    assert rig.delivered == [dataclasses.replace(event, redelivered=True)]
    await receiver.handle(node)  # in flight now: receipt only
    assert len(rig.delivered) == 1
    assert [n.tag for n in rig.link.sent] == ["receipt", "receipt"]
    async with rig.auth.transaction() as tx:
        tx.set(KeyType.EVENT, key, encode_event(event, HANDLED, 0))
    receiver.log.release(key, True)
    await asyncio.sleep(0.05)
    await Receiver(rig.ctx).handle(node)  # handled: receipt only, in any process
    assert len(rig.delivered) == 1 and [n.tag for n in rig.link.sent] == ["receipt"] * 3


async def test_a_message_claiming_our_own_device_is_nacked() -> None:
    rig = Rig(paired_auth())
    forged = Node("message", {"from": "15550009999:7@s.whatsapp.net", "id": "F1", "t": "1", "type": "text",
                              "recipient": "15551112222@s.whatsapp.net"},
                  [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x33forged")])
    assert await Receiver(rig.ctx).handle(forged) is None
    (nack,) = rig.link.sent
    assert nack.tag == "ack" and nack.attr_str("error") and not rig.delivered
    # Another device of ours that our (fresh) device list does not name: refused too.
    rig.link.sent.clear()
    rig.auth.keys[KeyType.DEVICE_LIST] = {"15550009999@s.whatsapp.net": json.dumps(
        {"devices": [0, 7], "lid": None, "t": 1e12}).encode()}
    forged.attrs.update(**{"from": "15550009999:9@s.whatsapp.net", "id": "F2"})
    await Receiver(rig.ctx).handle(forged)
    assert rig.link.sent[0].attr_str("error")


# ---- sending --------------------------------------------------------------------------------------------


async def test_sent_messages_survive_a_restart_bounded() -> None:
    auth = paired_auth()
    store = StoredSent(auth, memory=2)
    store.ring.max_count, store.ring.bucket_size = 6, 2
    for i in range(10):
        await store.remember(f"ID{i}", SentMessage(JID.parse("1@s.whatsapp.net"), text_message(f"t{i}"), "text"))
    again = StoredSent(auth)  # a new process: nothing in memory
    got = await again.get("ID9")
    assert got is not None and got.message.conversation == "t9" and got.type == "text"
    assert await again.get("ID0") is None  # pruned: the store stays bounded
    assert len(auth.keys[KeyType.SENT_MESSAGE]) <= 6 + 2


def test_a_reply_quoting_a_huge_message_carries_a_bounded_copy() -> None:
    huge = e2e_pb2.Message()
    huge.extendedTextMessage.text = "x" * (6 * 1024 * 1024)
    huge.extendedTextMessage.JPEGThumbnail = b"\xff" * 100_000
    event = dataclasses.replace(received(None), message=huge)
    reply = text_message("pong", event)
    quoted = reply.extendedTextMessage.contextInfo.quotedMessage
    assert quoted.ByteSize() <= QUOTE_LIMIT and quoted.extendedTextMessage.text.startswith("xxx")
    assert not quoted.extendedTextMessage.JPEGThumbnail
    small = e2e_pb2.Message(conversation="hi")
    assert bounded_quote(small) is small
    assert len(encode_node(Node("enc", {}, reply.SerializeToString()))) < 64 * 1024


def test_reply_ids_are_derived_from_the_event_and_its_position() -> None:
    assert derived_message_id("k", 0) == derived_message_id("k", 0)
    assert derived_message_id("k", 0) != derived_message_id("k", 1) != derived_message_id("j", 1)
    assert derived_message_id("k").startswith("3EB0") and len(derived_message_id("k")) == 22


# ---- the emulator ---------------------------------------------------------------------------------------


class _Conn:
    def __init__(self, ident: int) -> None:
        self.id = ident
        self.is_open = True


def test_emulator_keeps_a_message_until_the_device_confirms_it() -> None:
    state = ServerState()
    account = state.add_account("15550001111")
    device = dataclasses.replace(account.devices[0], device_id=3, unconfirmed={})
    conn = _Conn(1)
    first = Node("message", {"id": "A", "from": "15550002222:1@s.whatsapp.net", "t": "1"})
    second = Node("message", {"id": "B", "from": "120363@g.us", "participant": "15550002222:1@s.whatsapp.net"})
    track(device, conn, first)  # type: ignore[arg-type]  # the two attributes the bookkeeping reads
    track(device, conn, second)  # type: ignore[arg-type]
    assert settle(device, Node("receipt", {"id": "A", "to": "15550002222:1@s.whatsapp.net", "type": "retry"})) == 0
    assert settle(device, Node("receipt", {"id": "A", "to": "15550002222:1@s.whatsapp.net"})) == 1
    assert requeue(device, _Conn(2)) == 0  # another connection's close hands back nothing  # type: ignore[arg-type]
    assert requeue(device, conn) == 1  # type: ignore[arg-type]
    assert list(device.offline_queue) == [second]


def test_emulator_keeps_a_notification_until_its_ack() -> None:
    state = ServerState()
    account = state.add_account("15550001111")
    device = dataclasses.replace(account.devices[0], device_id=3, unconfirmed={})
    conn = _Conn(1)
    token = Node("notification", {"id": "7", "from": "15550002222@s.whatsapp.net", "type": "privacy_token"})
    devices = Node("notification", {"id": "8", "type": "devices"})  # from the server: the ack goes to it
    track(device, conn, token)  # type: ignore[arg-type]
    track(device, conn, devices)  # type: ignore[arg-type]
    assert settle(device, Node("ack", {"id": "7", "class": "message", "to": "15550002222@s.whatsapp.net"})) == 0
    assert settle(device, Node("ack", {"id": "8", "class": "notification", "to": "s.whatsapp.net"})) == 1
    assert requeue(device, conn) == 1  # type: ignore[arg-type]  # the token was never acked: sent again
    assert list(device.offline_queue) == [token]


# ---- the bot dispatcher's holds ------------------------------------------------------------------------


async def test_the_dispatcher_releases_as_handled_only_what_its_handlers_finished() -> None:
    client = FakeClient()
    router = Router(name="t")
    gate = asyncio.Event()

    @router.command("ok")
    async def ok(ctx: Context) -> None:
        await ctx.reply("one")
        await ctx.reply("two")

    @router.command("gone")
    async def gone(ctx: Context) -> None:
        raise ConnectionGone("not connected")  # the reply found no connection: try again at the next login

    @router.command("hang")
    async def hang(ctx: Context) -> None:
        await gate.wait()

    dispatcher = Dispatcher(client)
    dispatcher.include_routers(router)
    dispatcher.attach()
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{level} {message}")
    client.emit(received("!ok", "1@s.whatsapp.net", message_id="A"))
    client.emit(received("!gone", "2@s.whatsapp.net", message_id="B"))
    client.emit(received("!hang", "3@s.whatsapp.net", message_id="C"))
    await asyncio.sleep(0.05)
    assert not await dispatcher.drain(grace=0.1)  # C still runs at the deadline: cancelled
    client.emit(received("!ok", "4@s.whatsapp.net", message_id="D"))  # arrives while stopping
    assert sorted(client.releases) == [("A", True), ("B", False), ("C", False), ("D", False)]
    logger.remove(sink)
    lost = [line for line in lines if "command gone" in line]  # not the plugin's bug: one line, no traceback
    assert len(lost) == 1 and lost[0].startswith("WARNING") and "lost the connection" in lost[0], lines
    assert "Traceback" not in "".join(lost)
    # Two replies to one event: two ids, each derived from (event, position), the same every time.
    first, second = client.sent_ids
    event = received("!ok", "1@s.whatsapp.net", message_id="A")
    assert first == derived_message_id(f"{event.chat}|{event.sender}|{event.id}", 0) and first != second
    await dispatcher.close()
