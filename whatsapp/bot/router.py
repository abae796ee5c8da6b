"""Routers: where a plugin declares its commands, message handlers, event handlers and middlewares.

    router = Router()                       # named after its module ("ping" for plugins/ping.py)

    @router.command("ping", aliases=["p"])  # "!ping" / "!p"; the docstring is the command's help
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    @router.message(F.text & F.group)       # every matching message (several filters are ANDed)
    async def seen(ctx: Context) -> None: ...

    @router.on(events.Connected)            # any client event (and its subclasses)
    async def online(ctx: EventContext[events.Connected]) -> None: ...

    router.include_router(other)            # sub-routers: their handlers run after this router's

A Router only declares: it holds no runtime state and knows no parent, so one plugin's router can be
included by several Dispatchers (each keeps its own queues, counters and `ctx.state`). Registering
the same function twice on a router, or including the same router twice, adds nothing; including a
router from the same module under the same name (a reloaded plugin) replaces the earlier one.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Generic, TypeVar

from loguru import logger

from whatsapp.bot.context import Context, EventContext
from whatsapp.bot.cron import CronSpec
from whatsapp.bot.filters import Filter
from whatsapp.bot.middleware import Middleware
from whatsapp.bot.schedule import Job, JobCallback
from whatsapp.events import Event

E = TypeVar("E", bound=Event)
C = TypeVar("C", bound=EventContext[Event])

MessageCallback = Callable[[Context], Awaitable[None] | None]
EventCallback = Callable[[EventContext[E]], Awaitable[None] | None]
MC = TypeVar("MC", bound=MessageCallback)
JC = TypeVar("JC", bound=JobCallback)


@dataclass(frozen=True, slots=True, eq=False)
class CommandRoute:
    name: str
    aliases: tuple[str, ...]
    callback: MessageCallback
    filters: tuple[Filter, ...] = ()
    prefixes: tuple[str, ...] | None = None  # None: the bot's prefixes
    allow_stale: bool = False  # also run for backlog messages older than the bot's stale_after
    include_own: bool = False  # also run for messages sent from this account
    timeout: float | None = None  # None: the bot's handler timeout
    description: str = ""  # first line of the docstring, for a help command

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True, eq=False)
class MessageRoute:
    callback: MessageCallback
    filters: tuple[Filter, ...] = ()
    include_own: bool = False
    timeout: float | None = None


@dataclass(frozen=True, slots=True, eq=False)
class EventRoute:
    event_type: type[Event]
    callback: Callable[[EventContext[Event]], Awaitable[None] | None]
    filters: tuple[Filter, ...] = ()
    timeout: float | None = None


def callback_name(callback: Callable[..., object]) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)


def _check_filters(filters: Sequence[object]) -> tuple[Filter, ...]:
    """The filters, refused at registration (not at the first message) when one is not a Filter."""
    checked = tuple(item for item in filters if isinstance(item, Filter))
    if len(checked) != len(filters):
        bad = next(item for item in filters if not isinstance(item, Filter))
        raise TypeError(f"filters are built from F (e.g. F.text & F.group, F.func(predicate)), got {bad!r}")
    return checked


class Observer(Generic[C]):
    """The middlewares of one kind of update on one router."""

    def __init__(self) -> None:
        self.inner: list[Middleware[C]] = []
        self.outer: list[Middleware[C]] = []

    def middleware(self, middleware: Middleware[C]) -> Middleware[C]:
        """Add an inner middleware (usable as a decorator); the same one twice is added once."""
        if middleware not in self.inner:
            self.inner.append(middleware)
        return middleware

    def outer_middleware(self, middleware: Middleware[C]) -> Middleware[C]:
        """Add an outer middleware (usable as a decorator); the same one twice is added once."""
        if middleware not in self.outer:
            self.outer.append(middleware)
        return middleware


class MessageObserver(Observer[Context]):
    """`router.message`: commands and message handlers, and their middlewares."""

    def __init__(self, owner: str) -> None:
        super().__init__()
        self._owner = owner
        self.commands: list[CommandRoute] = []
        self.handlers: list[MessageRoute] = []

    def __call__(
        self, *filters: Filter, include_own: bool = False, timeout: float | None = None
    ) -> Callable[[MC], MC]:
        """Register a handler for every received message passing all `filters` (every message if none)."""
        checked = _check_filters(filters)

        def register(callback: MC) -> MC:
            if any(route.callback is callback for route in self.handlers):
                logger.warning("router {}: {} registered twice; the second is ignored", self._owner,
                               callback_name(callback))
            else:
                self.handlers.append(MessageRoute(callback, checked, include_own, timeout))
            return callback

        return register


class EventObserver(Observer[EventContext[Event]]):
    """`router.event`: handlers of client events, and their middlewares."""

    def __init__(self, owner: str) -> None:
        super().__init__()
        self._owner = owner
        self.handlers: list[EventRoute] = []

    def __call__(
        self, event_type: type[E], *filters: Filter, timeout: float | None = None
    ) -> Callable[[EventCallback[E]], EventCallback[E]]:
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"on() takes an event class, got {event_type!r}")
        checked = _check_filters(filters)

        def register(callback: EventCallback[E]) -> EventCallback[E]:
            if any(r.callback is callback and r.event_type is event_type for r in self.handlers):
                logger.warning("router {}: {} registered twice; the second is ignored", self._owner,
                               callback_name(callback))
            else:
                # Stored as a handler of Event: the dispatcher calls it only for `event_type` instances.
                self.handlers.append(EventRoute(event_type, callback, checked, timeout))  # type: ignore[arg-type]
            return callback

        return register


class Router:
    """A set of handlers and middlewares, plus the sub-routers it includes."""

    def __init__(self, *, name: str | None = None) -> None:
        # The module that made the router: its default name, and how a reloaded plugin is recognised.
        self.module: str = sys._getframe(1).f_globals.get("__name__", "__main__")
        self.name = name or self.module.rsplit(".", 1)[-1]
        self.message = MessageObserver(self.name)
        self.event = EventObserver(self.name)
        self.jobs: list[Job] = []
        self._routers: list[Router] = []

    def __repr__(self) -> str:
        return f"Router({self.name!r})"

    def command(
        self,
        name: str,
        *filters: Filter,
        aliases: Sequence[str] = (),
        prefixes: Sequence[str] | None = None,
        allow_stale: bool = False,
        include_own: bool = False,
        timeout: float | None = None,
    ) -> Callable[[MC], MC]:
        """Register a command: `@router.command("ping", aliases=["p"])`; the handler gets a Context.

        `prefixes` replaces the bot's prefixes for this command; `allow_stale` runs it for old backlog
        messages too; `include_own` for messages sent from this account; `timeout` replaces the bot's.
        """
        names = [n.lower() for n in (name, *aliases)]
        if any(not n or any(ch.isspace() for ch in n) for n in names):
            raise ValueError(f"command names are single words, got {[name, *aliases]!r}")
        checked = _check_filters(filters)
        commands = self.message.commands

        def register(callback: MC) -> MC:
            if any(route.callback is callback and list(route.names) == names for route in commands):
                logger.warning("router {}: command {} registered twice; the second is ignored", self.name, name)
                return callback
            doc = (callback.__doc__ or "").strip().splitlines()
            commands.append(CommandRoute(
                names[0], tuple(names[1:]), callback, checked, tuple(prefixes) if prefixes is not None else None,
                allow_stale, include_own, timeout, doc[0] if doc else ""))
            return callback

        return register

    def every(self, seconds: float, *, name: str | None = None, first: float | None = None) -> Callable[[JC], JC]:
        """Register a job run every `seconds` while connected (whatsapp/bot/schedule.py); it gets a JobContext.

        `first`: seconds before the first run (default: one interval)."""
        if not seconds > 0:
            raise ValueError(f"every() takes a positive number of seconds, got {seconds!r}")

        def register(callback: JC) -> JC:
            if not any(job.callback is callback for job in self.jobs):
                self.jobs.append(Job(callback, float(seconds), name or f"{self.name}.{callback_name(callback)}", first))
            return callback

        return register

    def cron(self, line: str, *, name: str | None = None, tz: tzinfo = UTC) -> Callable[[JC], JC]:
        """Register a job run at the times of a cron line (`"*/15 9-17 * * 1-5"`, `@daily`; whatsapp/bot/cron.py)
        in `tz` (UTC by default), while connected; it gets a JobContext. A bad line raises ValueError here."""
        spec = CronSpec.parse(line)
        spec.next_after(datetime.now(UTC), tz)  # a line that never fires (31 February) is refused now

        def register(callback: JC) -> JC:
            if not any(job.callback is callback for job in self.jobs):
                label = name or f"{self.name}.{callback_name(callback)}"
                self.jobs.append(Job(callback, 60.0, label, cron=spec, tz=tz))
            return callback

        return register

    def on(
        self, event_type: type[E], *filters: Filter, timeout: float | None = None
    ) -> Callable[[EventCallback[E]], EventCallback[E]]:
        """Register a handler for client events of `event_type` (and subclasses); it gets an EventContext."""
        return self.event(event_type, *filters, timeout=timeout)

    @property
    def sub_routers(self) -> tuple[Router, ...]:
        return tuple(self._routers)

    def include_router(self, router: Router) -> Router:
        """Include `router` (and its sub-routers) after the ones included so far; returns it."""
        if not isinstance(router, Router):
            raise TypeError(f"include_router() takes a Router, got {router!r}")
        if router is self or any(r is self for r, _ in router.walk()):
            raise ValueError(f"{router!r} includes {self!r}: routers cannot include each other in a cycle")
        if any(r is router for r in self._routers):
            return router
        for index, included in enumerate(self._routers):
            if included.module == router.module and included.name == router.name:
                logger.info("router {} (module {}) replaced by a new instance (plugin reloaded)", router.name,
                            router.module)
                self._routers[index] = router
                return router
        self._routers.append(router)
        return router

    def include_routers(self, *routers: Router) -> None:
        for router in routers:
            self.include_router(router)

    def replace_routers(self, routers: Sequence[Router]) -> None:
        """Put `routers` in place of the included ones in one assignment (a plugin reload): a message being
        routed meanwhile walks the old list or the new one, never a mix."""
        for router in routers:
            if not isinstance(router, Router):
                raise TypeError(f"replace_routers() takes Routers, got {router!r}")
            if router is self or any(r is self for r, _ in router.walk()):
                raise ValueError(f"{router!r} includes {self!r}: routers cannot include each other in a cycle")
        self._routers = list(dict.fromkeys(routers))

    def walk(self) -> Iterator[tuple[Router, tuple[Router, ...]]]:
        """This router and every router below it, depth first, each once, with its path from here."""
        seen: set[int] = set()

        def visit(router: Router, path: tuple[Router, ...]) -> Iterator[tuple[Router, tuple[Router, ...]]]:
            if id(router) in seen:
                return
            seen.add(id(router))
            here = (*path, router)
            yield router, here
            for child in router._routers:
                yield from visit(child, here)

        yield from visit(self, ())
