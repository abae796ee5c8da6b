"""The decrypted-event buffer: no message is lost between the ratchet advance and its handlers.

whatsmeow's bufferedDecrypt (`message.go`, the event buffer of `store/sqlstore`), made the default:

1. The receiver (whatsapp/receive.py) writes the plaintext event of each decrypted message into the
   SAME auth transaction that advances the ratchet (`record`), marked pending. The delivery receipt
   leaves only after that commit, so WhatsApp never drops a message we could lose.
2. The inbox (whatsapp/inbox.py) hands the event to the handlers; whoever queues it for later (the
   bot dispatcher) takes a hold on it (`Client.hold`). When every hold is released as handled
   (finished, or failed for good) the entry is marked handled in its own small transaction; it is
   pruned later by the ring (whatsapp/ring.py: EVENTS_MAX entries, EVENTS_MAX_AGE seconds).
3. A hold released as not handled (the process is stopping, the reply found no connection) leaves the
   entry pending. At every login the pending entries not in flight here are dispatched again, with
   `redelivered=True` and the same `stable_id`, before the offline backlog.
4. A stanza whose entry exists is never decrypted again: handled → receipt only; pending and in flight
   here → receipt only; pending and not in flight → dispatched from the buffer, then the receipt.

`in_flight` (events decrypted and not yet handled) is the bound the receiver stops reading at
(MAX_IN_FLIGHT), so slow handlers hold back the socket instead of growing queues.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from loguru import logger

from whatsapp.auth import AuthState, KeyType, Transaction
from whatsapp.errors import DecodeError, WhatsAppError
from whatsapp.events import MessageReceived
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2
from whatsapp.ring import Ring

EVENTS_MAX = 5_000  # entries kept (pending and handled marks), as the sent-message store
EVENTS_MAX_AGE = 3 * 24 * 3600.0  # seconds a handled mark is kept to recognise a late redelivery
MAX_IN_FLIGHT = 256  # decrypted, not yet handled events at which the receiver stops reading
PENDING = "p"
HANDLED = "h"
_JID_FIELDS = ("chat", "sender", "sender_alt")

Release = Callable[[bool], None]  # release(handled)


def stable_id(source: JID, sender: JID, message_id: str) -> str:
    """The id of one received message, the same in every process: the envelope's `from`, author and id."""
    return sha256(f"{source}|{sender}|{message_id}".encode()).hexdigest()[:32]


def encode_event(event: MessageReceived, state: str, now: float) -> bytes:
    if state == HANDLED:
        return json.dumps({"s": HANDLED, "t": int(now)}).encode()
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if field.name == "message":
            value = base64.b64encode(value.SerializeToString()).decode()
        elif isinstance(value, JID):
            value = str(value)
        fields[field.name] = value
    return json.dumps({"s": PENDING, "t": int(now), "e": fields}).encode()


def entry_state(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return str(json.loads(raw)["s"])
    except (ValueError, KeyError, TypeError):
        return HANDLED  # unreadable: never dispatched again, pruned with its bucket


def decode_event(raw: bytes) -> MessageReceived:
    """The pending event of an entry; DecodeError for an unreadable one."""
    try:
        fields = dict(json.loads(raw)["e"])
        known = {field.name for field in dataclasses.fields(MessageReceived)}
        fields = {name: value for name, value in fields.items() if name in known}  # newer or older versions
        message = e2e_pb2.Message()
        message.ParseFromString(base64.b64decode(fields["message"]))
        fields["message"] = message
        for name in _JID_FIELDS:
            if fields.get(name) is not None:
                fields[name] = JID.parse(fields[name])
        return MessageReceived(**fields)
    except (ValueError, KeyError, TypeError, ProtobufDecodeError, DecodeError) as exc:
        raise DecodeError(f"unreadable buffered event: {exc}") from None


@dataclass(slots=True)
class _Flight:
    holds: int = 1  # the inbox's own, released when the application's handlers returned
    abandoned: bool = False  # one holder gave up: the entry stays pending for the next process


class EventLog:
    """The buffer over one auth state; `lock` is the Signal lock the receiver holds over `record`."""

    def __init__(self, auth: AuthState, lock: asyncio.Lock, *, max_in_flight: int = MAX_IN_FLIGHT,
                 clock: Callable[[], float] = time.time) -> None:
        self.auth = auth
        self.lock = lock
        self.max_in_flight = max_in_flight
        self.ring = Ring("events", KeyType.EVENT, max_count=EVENTS_MAX, max_age=EVENTS_MAX_AGE)
        self._clock = clock
        self._flights: dict[str, _Flight] = {}
        self._marks: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()  # set whenever an event leaves the flight
        self.redelivered = 0  # events dispatched again from the buffer (diagnostics, tests)

    # ---- the receiver's side -----------------------------------------------------------------------

    async def state(self, key: str) -> str | None:
        """PENDING, HANDLED, or None when the message is not in the buffer."""
        return entry_state((await self.auth.get(KeyType.EVENT, [key])).get(key))

    def in_flight_here(self, key: str) -> bool:
        return key in self._flights

    async def record(self, tx: Transaction, event: MessageReceived) -> None:
        """Store `event` as pending in the caller's transaction (the one that advanced the ratchet)."""
        now = self._clock()
        tx.set(KeyType.EVENT, event.stable_id, encode_event(event, PENDING, now))
        pruned = await self.ring.add(tx, event.stable_id, now)
        lost = [key for key in pruned if key in self._flights]
        if lost:
            logger.warning("event buffer full: {} events still pending were pruned", len(lost))

    def begin(self, key: str) -> None:
        """The event is on its way to the handlers (the inbox holds it until they returned)."""
        self._flights[key] = _Flight()

    async def fetch_pending(self, key: str) -> MessageReceived | None:
        raw = (await self.auth.get(KeyType.EVENT, [key])).get(key)
        if entry_state(raw) != PENDING or raw is None:
            return None
        try:
            return dataclasses.replace(decode_event(raw), redelivered=True)
        except DecodeError as exc:
            logger.warning("buffered event {} cannot be read ({}); dropped", key, exc)
            return None

    async def redeliver(self, deliver: Callable[[MessageReceived], Awaitable[None]]) -> int:
        """Dispatch again every pending entry not in flight here (at login); how many."""
        async with self.auth.transaction() as tx:
            keys = await self.ring.ids(tx)
            found = await tx.get(KeyType.EVENT, keys)
        count = 0
        for key in keys:
            if key in self._flights or entry_state(found.get(key)) != PENDING:
                continue
            event = await self.fetch_pending(key)
            if event is None:
                continue
            self.begin(key)
            count += 1
            self.redelivered += 1
            await deliver(event)
        if count:
            logger.info("{} message(s) not handled before the last stop dispatched again", count)
        return count

    # ---- back-pressure ------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._flights)

    def has_space(self) -> bool:
        return len(self._flights) < self.max_in_flight

    async def wait_space(self) -> None:
        while not self.has_space():
            self._freed.clear()
            await self._freed.wait()

    # ---- the handlers' side -------------------------------------------------------------------------

    def hold(self, event: MessageReceived) -> Release:
        """Keep the entry pending until the returned function is called (once): release(handled)."""
        flight = self._flights.get(event.stable_id)
        if flight is None:
            return lambda handled: None  # not from the buffer (a test's hand-made event)
        flight.holds += 1
        done = False

        def release(handled: bool = True) -> None:
            nonlocal done
            if not done:
                done = True
                self.release(event.stable_id, handled)

        return release

    def release(self, key: str, handled: bool) -> None:
        flight = self._flights.get(key)
        if flight is None:
            return
        flight.holds -= 1
        flight.abandoned = flight.abandoned or not handled
        if flight.holds > 0:
            return
        if flight.abandoned:
            self._forget(key)
            return
        task = asyncio.get_running_loop().create_task(self._mark(key), name="whatsapp-event-handled")
        self._marks.add(task)
        task.add_done_callback(self._marks.discard)

    def _forget(self, key: str) -> None:
        self._flights.pop(key, None)
        self._freed.set()

    async def _mark(self, key: str) -> None:
        try:
            async with self.lock, self.auth.transaction() as tx:
                raw = (await tx.get(KeyType.EVENT, [key])).get(key)
                if entry_state(raw) == PENDING:
                    tx.set(KeyType.EVENT, key, json.dumps({"s": HANDLED, "t": int(self._clock())}).encode())
        except WhatsAppError as exc:  # the store is down: the entry stays pending and comes back
            logger.warning("could not mark event {} handled: {}", key, exc)
        finally:
            self._forget(key)

    async def flush(self, timeout: float = 3.0) -> None:
        """Wait for the handled marks in progress (before the store closes)."""
        if self._marks:
            await asyncio.wait(list(self._marks), timeout=timeout)
