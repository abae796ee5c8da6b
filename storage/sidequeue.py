"""A bounded queue drained by one background task, for writes that must never hold up the bot.

The connection history and the webhook both take records on the stanza path and deliver them later:
`put()` never waits (when the queue is full the oldest record goes, the newest matters most); one task,
started at the first `put()`, hands records to `deliver` in order; `aclose()` waits a bounded time for
what is queued, then stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from whatsapp.tasks import cancel_and_wait

T = TypeVar("T")


class SideQueue(Generic[T]):
    def __init__(self, what: str, deliver: Callable[[list[T]], Awaitable[None]], limit: int, *, batch: bool) -> None:
        self.what = what
        self.dropped = 0
        self._deliver = deliver
        self._batch = batch  # hand over everything queued at once, or one record at a time
        self._queue: asyncio.Queue[T] = asyncio.Queue(limit)
        self._task: asyncio.Task[None] | None = None

    def put(self, item: T) -> bool:
        """Queue `item`; False when the queue was full and its oldest record was dropped to make room."""
        dropped = self._queue.full()
        if dropped:
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
        self._queue.put_nowait(item)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return not dropped

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            while self._batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                await self._deliver(items)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def flush(self, timeout: float) -> bool:
        """Wait until every queued record was delivered (or given up); False when `timeout` passed first."""
        if self._task is None:
            return True
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
            return True
        except TimeoutError:
            return False

    async def aclose(self, timeout: float) -> int:
        """Deliver within `timeout`, then stop; returns how many records were left undelivered."""
        left = 0 if await self.flush(timeout) else self._queue.qsize() + 1  # +1: the one being delivered
        if self._task is not None:
            await cancel_and_wait(self._task, self.what)
            self._task = None
        return left
