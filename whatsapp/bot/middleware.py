"""Middlewares: code around handlers, as in aiogram 3.

A middleware is `async def mw(handler, ctx) -> None` and decides whether (and how) to call
`await handler(ctx)`. Register it on an observer of a router:

    router.message.middleware(mw)         # inner: around each command/message handler whose filters passed
    router.message.outer_middleware(mw)   # outer: once per message reaching this router, before any filter
    router.event.middleware(mw)           # the same for `router.on` handlers (ctx is an EventContext)

Inner middlewares of a router also wrap the handlers of its sub-routers (outermost router first),
as aiogram's do; an outer middleware wraps the router's handlers and its sub-routers. A middleware
that raises is logged with its router's name like a failing handler; the handler is then skipped.

Two are built in: `Timing` (how long each handler took; a warning for slow ones) and `Cooldown`
(per-user or per-chat rate limit with a polite reply). Their state lives in the Dispatcher
(`ctx.scopes`), so one instance may serve several bots.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from loguru import logger

from whatsapp.bot.context import Context, EventContext
from whatsapp.events import Event

C = TypeVar("C", bound=EventContext[Event])

Handler = Callable[[C], Awaitable[None]]
Middleware = Callable[[Callable[[C], Awaitable[None]], C], Awaitable[None]]


def wrap(middlewares: Sequence[Middleware[C]], handler: Handler[C]) -> Handler[C]:
    """`handler` inside `middlewares` (the first one outermost)."""
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler


def _bind(middleware: Middleware[C], handler: Handler[C]) -> Handler[C]:
    async def call(ctx: C) -> None:
        await middleware(handler, ctx)

    return call


class Timing:
    """Logs each handler's duration at DEBUG, and at WARNING when it took longer than `slow` seconds."""

    def __init__(self, slow: float = 2.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.slow = slow
        self._clock = clock

    async def __call__(self, handler: Handler[C], ctx: C) -> None:
        started = self._clock()
        try:
            await handler(ctx)
        finally:
            took = self._clock() - started
            what = f"command {ctx.command}" if isinstance(ctx, Context) and ctx.command else type(ctx.event).__name__
            level = "WARNING" if took > self.slow else "DEBUG"
            logger.log(level, "router {}: {} took {:.0f} ms", ctx.router, what, took * 1000)


class Cooldown:
    """At most one handled message per user (or chat) every `seconds`; others get `reply` once per window.

    Meant as an inner middleware (`router.message.middleware(Cooldown(5))`): it then counts only the
    messages a handler of that router wanted. `reply` may name `{retry}`: the whole seconds left until the
    next message is handled. `reply=None` skips silently.
    """

    MAX_TRACKED = 10_000

    def __init__(
        self,
        seconds: float,
        *,
        per: Literal["user", "chat"] = "user",
        reply: str | None = "Please wait {retry}s before trying again.",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.per = per
        self.reply = reply
        self._clock = clock

    async def __call__(self, handler: Handler[Context], ctx: Context) -> None:
        who = ctx.event.sender if self.per == "user" else ctx.event.chat
        key = f"{who.user}@{who.server}"  # the account, whichever of its devices wrote
        seen = ctx.scopes.get(self)  # key -> (time of the last handled message, told to wait since)
        now = self._clock()
        entry = seen.get(key)
        if isinstance(entry, tuple) and now - entry[0] < self.seconds:
            logger.debug("router {}: message {} within the cooldown of {}; skipped", ctx.router, ctx.event.id, key)
            if self.reply is not None and not entry[1]:
                seen[key] = (entry[0], True)
                await ctx.reply(self.reply.format(retry=max(1, math.ceil(self.seconds - (now - entry[0])))))
            return
        seen[key] = (now, False)
        if len(seen) > self.MAX_TRACKED:  # bounded: forget whoever is out of the window anyway
            for old in [k for k, v in seen.items() if isinstance(v, tuple) and now - v[0] >= self.seconds]:
                del seen[old]
        await handler(ctx)
