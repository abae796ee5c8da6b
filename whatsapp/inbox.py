"""The inbox: message events on their way from the reader to the application's handlers.

The reader decrypts in stanza order (stanza order is session order) and hands each message event
here; one pump task delivers them in that order, but off the reader, so a handler that sends (and
waits for the server's ack) never blocks the loop that must read that ack. At shutdown the client
drains the inbox: events already queued still reach their handlers, within a time budget.

Every message event comes from the decrypted-event buffer (whatsapp/eventlog.py): the pump releases
the buffer's hold when the handlers returned, so the entry is marked handled unless someone who
queued it for later (the bot dispatcher) still holds it. An event the pump never emitted, or whose
handlers were cancelled, stays pending for the next login or process. The queue is bounded: message
events by the buffer's in-flight bound (the receiver stops decrypting at it), the other events (a
flood of DecryptFailed) by MAX_QUEUE, beyond which they are dropped with a rate-limited warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from loguru import logger

from whatsapp.context import Emit
from whatsapp.eventlog import EventLog
from whatsapp.events import Event, MessageReceived
from whatsapp.loglimit import LogLimiter
from whatsapp.tasks import cancel_and_wait

DRAIN_TIMEOUT = 5.0
MAX_QUEUE = 1024  # events that are not buffered messages, queued at most


class Inbox:
    def __init__(self, emit: Emit, log: EventLog | None = None) -> None:
        self._emit = emit
        self._log = log
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._dropped = LogLimiter(1, 60.0, time.monotonic)

    def start(self) -> None:
        """Start delivering (idempotent)."""
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run(), name="whatsapp-message-events")

    async def put(self, event: Event) -> None:
        if not isinstance(event, MessageReceived) and self._queue.qsize() >= MAX_QUEUE:
            if self._dropped.allow("queue", "{} more events dropped: the handlers are behind"):
                logger.warning("event queue full ({} events): {} dropped", MAX_QUEUE, type(event).__name__)
            return
        self._queue.put_nowait(event)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def _release(self, event: Event, handled: bool) -> None:
        if self._log is not None and isinstance(event, MessageReceived):
            self._log.release(event.stable_id, handled)

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._emit(event)
            except asyncio.CancelledError:
                self._release(event, False)
                raise
            else:
                self._release(event, True)
            finally:
                self._queue.task_done()

    async def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Let the queued events reach their handlers (at most `timeout` seconds), then stop the pump."""
        if self._pump is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._queue.join()
        if self._queue.qsize():
            logger.warning("{} message events not delivered before shutdown (they stay pending)", self._queue.qsize())
        await cancel_and_wait(self._pump, "the event pump")
        self._pump = None
        while not self._queue.empty():  # never emitted: pending in the buffer, for the next login
            self._release(self._queue.get_nowait(), False)
            self._queue.task_done()
