"""Scheduled jobs: `@router.every(seconds)` and `@router.cron("0 9 * * 1-5")` run a coroutine while the bot
is connected, every so many seconds or at the wall-clock times of a cron line (whatsapp/bot/cron.py).

    @router.every(3600, name="digest")
    async def digest(job: JobContext) -> None:
        await job.client.send_text(OWNER, f"{job.state.get('count', 0)} messages this hour")

The Dispatcher's `Scheduler` starts one task per job when it is attached and stops them in `close()`.
A run is skipped while the client is not logged in (a send would fail anyway); a job that raises or
outlives its timeout (the interval, at most the bot's handler timeout) is logged and runs again at its
next tick: one failing job never stops the others. `job.state` is the router's `ctx.state`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from loguru import logger

from whatsapp.bot.context import Scopes
from whatsapp.bot.cron import CronSpec
from whatsapp.tasks import cancel_and_wait

if TYPE_CHECKING:
    from whatsapp.bot.router import Router
    from whatsapp.client import Client


@dataclass(slots=True, eq=False)
class JobContext:
    client: Client
    scopes: Scopes
    router: str
    name: str
    runs: int = 0  # runs before this one
    data: dict[str, object] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, object]:
        """The router's state in this Dispatcher (what its handlers see as ctx.state)."""
        return self.scopes.get(("router", self.router))


JobCallback = Callable[[JobContext], Awaitable[None] | None]


@dataclass(frozen=True, slots=True, eq=False)
class Job:
    callback: JobCallback
    seconds: float
    name: str
    first: float | None = None  # seconds before the first run; None: one interval
    cron: CronSpec | None = None  # fire at these wall-clock times instead (`seconds` then bounds a run)
    tz: tzinfo = UTC

    def delay(self, now: datetime, first: bool) -> float:
        """Seconds from `now` (aware) to the next run."""
        if self.cron is not None:
            return max(0.0, (self.cron.next_after(now, self.tz) - now).total_seconds())
        return self.seconds if not first or self.first is None else self.first


class Scheduler:
    """Runs the jobs of a router tree for one client."""

    def __init__(self, root: Router, client: Client, scopes: Scopes, timeout: float) -> None:
        self.root, self.client, self.scopes, self.timeout = root, client, scopes, timeout
        self.runs = 0
        self.failures = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start every job of the tree (once; without a running loop, nothing: a sync test's attach)."""
        if self._tasks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for router, _ in self.root.walk():
            for job in router.jobs:
                self._tasks.append(loop.create_task(self._loop(router.name, job), name=f"job {job.name}"))
        if self._tasks:
            logger.info("scheduler: {} job(s) started: {}", len(self._tasks),
                        ", ".join(task.get_name().removeprefix("job ") for task in self._tasks))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task, "a scheduled job")

    async def _loop(self, router: str, job: Job) -> None:
        ctx = JobContext(self.client, self.scopes, router, job.name)
        await asyncio.sleep(job.delay(datetime.now(UTC), first=True))
        while True:
            if getattr(self.client, "connected", True):
                await self._run(job, ctx)
                ctx.runs += 1
            else:
                logger.debug("job {}: not connected; this run is skipped", job.name)
            await asyncio.sleep(job.delay(datetime.now(UTC), first=False))

    async def _run(self, job: Job, ctx: JobContext) -> None:
        self.runs += 1
        try:
            async with asyncio.timeout(min(job.seconds, self.timeout)):
                result = job.callback(ctx)
                if inspect.isawaitable(result):
                    await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a timeout included: the job's own code
            self.failures += 1
            logger.warning("job {} (router {}) failed: {}: {}", job.name, ctx.router, type(exc).__name__, exc)
