"""Receiving end-to-end encrypted messages: the `<message>` handler (docs/architecture.md §The path of one message).

Order for every `<message>` (decrypt, then persist, then acknowledge):
1. `parse_envelope` (whatsapp/envelope.py): chat, sender, own-device and group rules, PN↔LID pairs.
2. In ONE auth transaction: store the LID mappings; decrypt every `<enc>` (whatsapp/decrypt.py). The
   commit is atomic, so a crash leaves either all or nothing, and a redelivery of a committed pkmsg
   finds its session by base key (DuplicateMessageError), never a missing prekey.
   The `MessageReceived` event is written into that same transaction, pending (whatsapp/eventlog.py).
3. After the commit: the event is handed to the inbox (whatsapp/inbox.py), then the delivery receipt
   (which is the server's ack) leaves.
A stanza already in the buffer is not decrypted again: handled (or in flight here) → receipt only,
pending → dispatched from the buffer, then the receipt. Duplicates get the receipt and no event.
Failures get a retry receipt (whatsapp/retry.py), at most MAX_RETRIES per message, then a NACK; each
failing message is logged at WARNING once (at most FAILURE_WARNINGS a minute), further attempts at
DEBUG. A message claiming to come from this device is NACKed (whatsapp/owndevice.py).

Back-pressure: while MAX_IN_FLIGHT events are decrypted and not yet handled, new `<message>` stanzas
are parked (at most MAX_PARKED, in order) and decrypted by a worker as handlers catch up; the reader
goes on with acks and IQ answers meanwhile (the handlers' replies wait for those), and stops reading
only when the parking is full.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from loguru import logger

from whatsapp.acks import NACK_PARSE_ERROR, NACK_UNHANDLED, NACK_UNRECOGNIZED, build_ack
from whatsapp.addressing import canonical_device, own_addresses, store_mapping
from whatsapp.binary import Node
from whatsapp.content import has_content, unwrap_message
from whatsapp.context import Context
from whatsapp.decrypt import DecryptOutcome, decrypt_envelope
from whatsapp.envelope import Envelope, delivery_receipt, mapping_pairs, parse_envelope
from whatsapp.errors import DecodeError
from whatsapp.eventlog import HANDLED, EventLog, stable_id
from whatsapp.events import DecryptFailed, MessageReceived
from whatsapp.jid import JID
from whatsapp.loglimit import LogLimiter
from whatsapp.media_message import is_view_once
from whatsapp.owndevice import own_device_refusal
from whatsapp.retry import MAX_RETRIES, RetryCounter, fresh_retry_keys, retry_receipt
from whatsapp.router import Route, StanzaRouter

FAILURE_WARNINGS = 10  # per minute; a flood of failures is summed up, never logged line by line
MAX_PARKED = 64  # <message> stanzas waiting for handlers to catch up before the reader stops


class Receiver:
    """Processes `<message>` stanzas for a client: decrypt, persist, emit, acknowledge."""

    def __init__(self, ctx: Context, log: EventLog | None = None) -> None:
        self.ctx = ctx
        self.log = log or EventLog(ctx.auth, ctx.locks.signal)
        # Whether we are marked available, for the receipt type (the client sets it: whatsapp/presence.py).
        self.receipts_active: Callable[[], bool] = lambda: True
        self._parked: deque[Node] = deque()
        self._parked_space = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self.retries = RetryCounter()
        self.received = 0
        self.failed = 0
        self.warnings = LogLimiter(FAILURE_WARNINGS, 60.0, ctx.clock.now)

    def install(self, router: StanzaRouter) -> None:
        router.add(Route("message", self.on_message))

    async def on_message(self, node: Node) -> None:
        if not self._parked and self.log.has_space():
            await self.handle(node)
            return
        while len(self._parked) >= MAX_PARKED:  # stop reading: the socket holds the rest back
            self._parked_space.clear()
            await self._parked_space.wait()
        if not self._parked:
            logger.info("handlers are behind ({} messages in flight); reading on, decrypting later",
                        self.log.in_flight)
        self._parked.append(node)
        if self._worker is None or self._worker.done():
            self._worker = self.ctx.spawn(self._work_parked(), "parked messages")

    async def _work_parked(self) -> None:
        try:
            while self._parked:
                await self.log.wait_space()
                node = self._parked.popleft()
                self._parked_space.set()
                await self.handle(node)
        finally:
            if self._parked:  # the connection ended: not receipted, so the server delivers them again
                logger.debug("{} parked messages left for the server to deliver again", len(self._parked))
                self._parked.clear()
            self._parked_space.set()

    async def handle(self, node: Node) -> MessageReceived | None:
        ctx = self.ctx
        if not ctx.auth.creds.paired:
            return None  # a registering connection has no sessions; the server redelivers after login
        me_pn, me_lid = own_addresses(ctx.auth.creds)
        try:
            env = parse_envelope(node, me_pn, me_lid)
        except DecodeError as exc:
            logger.warning("unreadable message envelope ({}); NACK", exc)
            await ctx.send(build_ack(node, ctx.me_id, error=NACK_PARSE_ERROR))
            return None
        if node.child("enc") is None:
            # <unavailable/> placeholders, plaintext newsletters, ...: acknowledged, not decrypted.
            await ctx.send(build_ack(node, ctx.me_id))
            return None
        refusal = await own_device_refusal(ctx.auth, env, me_pn, me_lid)
        if refusal is not None:
            logger.warning("message {} refused (NACK): it {}", env.id, refusal)
            await ctx.send(build_ack(node, ctx.me_id, error=NACK_UNRECOGNIZED))
            return None
        key = stable_id(env.source, env.sender, env.id)
        if await self._buffered(env, key, me_pn):
            return None
        event: MessageReceived | None = None
        async with ctx.locks.signal, ctx.auth.transaction() as tx:
            for pn_user, lid_user in mapping_pairs(node):
                store_mapping(tx, pn_user, lid_user)
            author = await canonical_device(tx, env.sender, env.sender_alt)
            outcome = await decrypt_envelope(tx, ctx.auth.creds, env, author)
            failed = outcome.error is not None or (outcome.fatal is not None and not outcome.messages)
            if not failed:
                event = message_event(env, outcome, key)
                if event is not None:  # with the ratchet advance: both land or neither
                    await self.log.record(tx, event)
        if failed:
            await self._failed(env, outcome)
            return None
        self.retries.forget(env.id)
        if event is not None:
            self.received += 1
            logger.info("message {} received in {} from {}{}", env.id, env.chat, env.sender,
                        " (offline)" if env.offline else "")
            logger.debug("message {} text: {!r}", env.id, event.text)
            self.log.begin(key)
            await ctx.deliver(event)
        elif outcome.duplicates:
            logger.debug("message {} was already processed (redelivery); receipt only", env.id)
        await ctx.send(delivery_receipt(env, me_pn, self.receipts_active()))
        return event

    async def _buffered(self, env: Envelope, key: str, me_pn: JID) -> bool:
        """A stanza whose message is in the buffer: receipt, and the event again if still pending; True then."""
        state = await self.log.state(key)
        if state is None:
            return False
        if state == HANDLED or self.log.in_flight_here(key):
            logger.debug("message {} was already {}; receipt only", env.id,
                         "handled" if state == HANDLED else "received")
        elif (event := await self.log.fetch_pending(key)) is not None:
            logger.info("message {} delivered again while its handlers had not finished: dispatched from the "
                        "buffer", env.id)
            self.log.begin(key)
            await self.ctx.deliver(event)
        await self.ctx.send(delivery_receipt(env, me_pn, self.receipts_active()))
        return True

    async def _failed(self, env: Envelope, outcome: DecryptOutcome) -> None:
        ctx = self.ctx
        error = outcome.error or outcome.fatal
        assert error is not None  # the caller only gets here with one of them
        count = self.retries.bump(env.id)
        self.failed += 1
        gave_up = outcome.error is None or count > MAX_RETRIES
        if count == 1:
            self.warn_failure(env, error)
        else:
            logger.debug("message {} still undecryptable (attempt {}): {}", env.id, count, error)
        if gave_up:
            code = NACK_UNHANDLED if outcome.error is not None else NACK_UNRECOGNIZED
            if count == MAX_RETRIES + 1:
                logger.warning("message {} from {}: giving up after {} retry receipts", env.id, env.sender,
                               MAX_RETRIES)
            await ctx.send(build_ack(env.node, ctx.me_id, error=code))
        else:
            keys = await fresh_retry_keys(ctx.auth, ctx.locks.creds) if (count > 1 or outcome.no_session) else None
            await ctx.send(retry_receipt(env, count, ctx.auth.creds.registration_id, keys))
        await ctx.deliver(DecryptFailed(env.chat, env.sender, env.id, f"{type(error).__name__}: {error}",
                                        min(count, MAX_RETRIES), gave_up))

    def warn_failure(self, env: Envelope, error: Exception) -> None:
        """One WARNING per failing message, at most FAILURE_WARNINGS per minute; the rest is summed up."""
        if self.warnings.allow("decrypt", "{} more messages could not be decrypted in the last minute"):
            logger.warning("message {} from {} could not be decrypted: {}: {}", env.id, env.sender,
                           type(error).__name__, error)
        else:
            logger.debug("message {} from {} could not be decrypted: {}", env.id, env.sender, error)


def message_event(env: Envelope, outcome: DecryptOutcome, key: str = "") -> MessageReceived | None:
    """The event for a decrypted stanza: its last message with content, our own sends unwrapped."""
    content = [m for m in outcome.messages if has_content(m)]
    if not content:
        return None
    message = content[-1]
    chat = env.chat
    if message.HasField("deviceSentMessage"):
        dsm = message.deviceSentMessage
        if dsm.destinationJID:
            chat = JID.try_parse(dsm.destinationJID) or chat
        message = dsm.message
    view_once = is_view_once(message)  # the wrapper goes with the unwrapping (whatsapp/media_message.py)
    message = unwrap_message(message)
    return MessageReceived(
        chat=chat, sender=env.sender, id=env.id, timestamp=env.timestamp, push_name=env.push_name,
        from_me=env.from_me, is_group=env.is_group, offline=env.offline, message=message,
        sender_alt=env.sender_alt, stanza_type=env.stanza_type, stable_id=key or stable_id(env.source, env.sender,
                                                                                         env.id),
        view_once=view_once,
    )
