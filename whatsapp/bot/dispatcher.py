"""The Dispatcher: the root router that runs the handlers of one client.

    dispatcher = Dispatcher(client, prefixes=("!",))
    dispatcher.include_routers(*(plugin.router for plugin in load_plugins("plugins")))
    dispatcher.attach()                      # client.add_handler(Event, dispatcher.feed)
    ...
    await dispatcher.drain(grace=8)          # on SIGTERM: before the client closes its socket
    await client.close()
    await dispatcher.close()

What it guarantees:
- Per-chat ordering: each chat has a FIFO lane, so a conversation's handlers run in message order;
  chats run concurrently, at most `max_concurrency` at once. Other events share one lane of their own.
- `feed` only queues: the client's event pump never waits for a plugin.
- Isolation: every handler call has a timeout (`handler_timeout`, or the route's own); an exception or
  a timeout is logged with the router's name (a traceback the first time, one line afterwards) and
  never reaches the connection or the other handlers. The same holds for filters and middlewares.
- Commands in the offline backlog older than `stale_after` seconds are skipped (`allow_stale=True`
  opts in); message handlers see every message.
- Messages from this account reach only `include_own=True` handlers, except commands in our own chat
  when `self_commands` is on; the first ignored command is logged at INFO, later ones at DEBUG.
- Shutdown: `drain(grace)` stops taking messages, lets queued and running handlers finish (and reply)
  within `grace` seconds, then cancels the rest, naming them; `close()` stops the other events too.
- No message lost: each queued message holds its entry in the client's decrypted-event buffer
  (`client.hold`, whatsapp/eventlog.py) until its handlers ran; it is released as handled when they
  finished or failed for good, and as NOT handled (so the next login or process dispatches it again,
  `event.redelivered`) when it arrived while stopping, was cancelled at the drain's deadline, or a
  handler lost the connection (`TransportError`) on the way.
- Bounded: messages are bounded by the buffer's in-flight limit (the client stops reading beyond it);
  other events queue at most MAX_EVENTS, the oldest dropped first.
- Courtesy (docs/architecture.md §Interactions): a message a command or message handler handled is marked
  read afterwards (`read_receipts`, BOT_READ_RECEIPTS); a command still running after `typing_after`
  seconds shows "typing…" in its chat until it finishes. Neither ever fails the handler.

Each Dispatcher owns its queues, counters and `ctx.state`; routers are shared declarations, so two
Dispatchers in one process (two bots, or tests) never see each other's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from loguru import logger

from whatsapp.bot.commands import ParsedCommand, parse_command
from whatsapp.bot.context import Context, EventContext, Scopes
from whatsapp.bot.filters import Filter, describe
from whatsapp.bot.middleware import Middleware, wrap
from whatsapp.bot.router import CommandRoute, Router, callback_name
from whatsapp.bot.schedule import Scheduler
from whatsapp.errors import TransportError, WhatsAppError
from whatsapp.eventlog import Release
from whatsapp.events import Event, MessageReceived
from whatsapp.jid import JID
from whatsapp.tasks import cancel_and_wait

if TYPE_CHECKING:  # for annotations only: at run time a handler uses nothing but the methods it calls
    from whatsapp.client import Client

C = TypeVar("C", bound=EventContext[Event])
Lane = JID | None  # a chat, or None for the events that are not messages
MAX_EVENTS = 1024  # queued events that are not messages (receipts, notifications)


def _self_chat(event: MessageReceived) -> bool:
    """Sent by this account in its own chat: the chat is the sender's user (by phone number or LID)."""
    users = {event.sender.user, event.sender_alt.user if event.sender_alt is not None else None}
    return event.from_me and not event.is_group and event.chat.user in users


def _about(event: Event) -> str:
    return f"message {event.id}" if isinstance(event, MessageReceived) else type(event).__name__


class Dispatcher(Router):
    def __init__(
        self,
        client: Client,
        *,
        prefixes: Sequence[str] = ("!",),
        max_concurrency: int = 8,
        handler_timeout: float = 30.0,
        stale_after: float = 300.0,
        clock: Callable[[], float] = time.time,
        name: str = "bot",
        read_receipts: bool = True,
        typing_after: float | None = 1.0,
        self_commands: bool = False,
    ) -> None:
        super().__init__(name=name)
        self.client = client
        self.prefixes = tuple(prefixes)
        self.handler_timeout = handler_timeout
        self.stale_after = stale_after
        self.read_receipts = read_receipts
        self.typing_after = typing_after
        self.self_commands = self_commands  # commands the account sends in its own chat ("Message yourself") run
        self._ran: set[int] = set()  # id(message event) that reached a command or message handler
        self.scopes = Scopes()  # ctx.state of every router, for this Dispatcher only
        self.scheduler = Scheduler(self, client, self.scopes, handler_timeout)  # the routers' @every jobs
        self.dispatched = 0  # handler calls made
        self.failures = 0  # of which raised or timed out
        self._clock = clock
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._lanes: dict[Lane, deque[Event]] = {}
        self._workers: dict[Lane, asyncio.Task[None]] = {}
        self._current: dict[Lane, Event] = {}
        self._failed_before: set[str] = set()
        self._holds: dict[int, Release] = {}  # id(message event) -> its hold on the buffer entry
        self._unfinished: set[int] = set()  # id(message event) whose handler lost the connection
        self._shadowed: set[tuple[str, int]] = set()
        self._own_command_noted = False
        self._accepting = True  # messages; events until close()
        self._closed = False
        self._unsubscribe: Callable[[], None] | None = None
        self._attached = False

    # ---- wiring -----------------------------------------------------------------------------------------

    def attach(self) -> Dispatcher:
        """Subscribe to the client's events (once; a second call does nothing)."""
        if not self._attached:
            self._unsubscribe = self.client.add_handler(Event, self.feed)  # the client's public event API
            self._attached = True
        self.scheduler.start()
        return self

    def command_routes(self) -> list[tuple[Router, CommandRoute]]:
        """Every command reachable from here, with its router, in include order (for a help command)."""
        return [(router, route) for router, _ in self.walk() for route in router.message.commands]

    def _command_table(self) -> dict[str, CommandRoute]:
        table: dict[str, CommandRoute] = {}
        owners: dict[str, str] = {}
        for router, route in self.command_routes():
            for name in route.names:
                if name not in table:
                    table[name], owners[name] = route, router.name
                elif (name, id(route)) not in self._shadowed:
                    self._shadowed.add((name, id(route)))
                    logger.warning("command {!r} of router {} is hidden by router {}, included earlier", name,
                                   router.name, owners[name])
        return table

    # ---- queueing ---------------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Queue an event for its lane's worker; returns at once."""
        lane: Lane
        if isinstance(event, MessageReceived):
            release = self.client.hold(event)
            if not self._accepting:
                release(False)
                logger.info("message {} arrived while stopping; left pending for the next start", event.id)
                return
            self._holds[id(event)] = release
            lane = event.chat
        elif self._closed or not self._routes_event(event):
            return
        else:
            lane = None
            if len(self._lanes.get(None, ())) >= MAX_EVENTS:
                dropped = self._lanes[None].popleft()
                logger.warning("bot {}: event queue full; {} dropped", self.name, type(dropped).__name__)
        self._lanes.setdefault(lane, deque()).append(event)
        worker = self._workers.get(lane)
        if worker is None or worker.done():
            self._workers[lane] = asyncio.get_running_loop().create_task(
                self._work(lane), name=f"bot-{lane if lane is not None else 'events'}")

    async def _work(self, lane: Lane) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                event = queue.popleft()
                self._current[lane] = event
                if lane is None:
                    await self.process(event)
                else:
                    async with self._semaphore:
                        await self.process(event)
                    await self._mark_read(event)
                    self._release(event, id(event) not in self._unfinished)
                del self._current[lane]
        finally:
            self._current.pop(lane, None)
            if not queue:
                self._lanes.pop(lane, None)
            if self._workers.get(lane) is asyncio.current_task():
                del self._workers[lane]

    async def _mark_read(self, event: Event) -> None:
        """Blue ticks for a message a handler took (not for our own, nor when BOT_READ_RECEIPTS=off)."""
        if id(event) not in self._ran:
            return
        self._ran.discard(id(event))
        if not self.read_receipts or not isinstance(event, MessageReceived) or event.from_me:
            return
        try:
            await self.client.mark_read(event)
        except (WhatsAppError, OSError) as exc:  # a courtesy: the message was handled all the same
            logger.debug("message {}: read receipt not sent: {}", event.id, exc)

    @contextlib.asynccontextmanager
    async def _typing_while_slow(self, event: MessageReceived) -> AsyncIterator[None]:
        """"typing…" in the chat once the command has run `typing_after` seconds, until it ends."""
        if self.typing_after is None or event.from_me:
            yield
            return

        async def later() -> None:
            await asyncio.sleep(self.typing_after or 0.0)
            async with self.client.typing(event.chat):
                await asyncio.Event().wait()  # until the command ends and cancels this

        task = asyncio.get_running_loop().create_task(later(), name=f"typing {event.chat}")
        try:
            yield
        finally:
            task.cancel()
            results = await asyncio.gather(task, return_exceptions=True)
            if results and isinstance(results[0], WhatsAppError):
                logger.debug("message {}: typing indicator failed: {}", event.id, results[0])

    def _release(self, event: Event, handled: bool) -> None:
        self._unfinished.discard(id(event))
        release = self._holds.pop(id(event), None)
        if release is not None:
            release(handled)

    async def idle(self) -> None:
        """Until every queued event was handled (tests)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def drain(self, grace: float = 8.0) -> bool:
        """Stop taking messages; let queued and running handlers finish within `grace` seconds.

        Returns True when all finished; otherwise the rest is cancelled (and listed in the log).
        """
        if self._accepting:
            self._accepting = False
            busy = sum(1 for lane in self._workers if lane is not None)
            logger.info("stopping: no new messages for handlers; {} chat(s) busy, waiting up to {:g}s", busy, grace)
        return await self._settle(lambda lane: lane is not None, grace, "message")

    async def close(self, grace: float = 2.0) -> None:
        """`drain` if that was not done, then stop handling events and unsubscribe. Safe to call twice."""
        if self._closed:
            return
        deadline = asyncio.get_running_loop().time() + grace
        await self.drain(grace)
        self._closed = True
        await self.scheduler.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._settle(lambda lane: lane is None, deadline - asyncio.get_running_loop().time(), "event")

    async def _settle(self, select: Callable[[Lane], bool], grace: float, kind: str) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, grace)
        while True:
            tasks = [task for lane, task in self._workers.items() if select(lane) and not task.done()]
            if not tasks:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(tasks, timeout=remaining)
        lanes = [lane for lane in self._workers if select(lane)]
        unhandled = [_about(e) for lane in lanes for e in self._pending(lane)]
        logger.warning("stopping: {} {}(s) not handled within {:g}s, cancelled: {}", len(unhandled), kind, grace,
                       ", ".join(unhandled))
        left = [e for lane in lanes for e in self._pending(lane)]
        for lane in lanes:
            await cancel_and_wait(self._workers.get(lane), "a bot worker")
            self._lanes.pop(lane, None)
            self._current.pop(lane, None)
        for event in left:  # pending in the buffer: the next process handles them
            self._release(event, False)
        return False

    def _pending(self, lane: Lane) -> list[Event]:
        current = self._current.get(lane)
        return [*([current] if current is not None else []), *self._lanes.get(lane, ())]

    # ---- dispatch ---------------------------------------------------------------------------------------

    async def process(self, event: Event) -> None:
        """Run every handler the event reaches, now (the lanes call this; tests may too)."""
        try:
            if isinstance(event, MessageReceived):
                await self._message(event)
            if self._routes_event(event):
                await self._event_tree(self, EventContext(self.client, event, self.scopes, self.name), (), set())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("bot {}: handling {} failed", self.name, _about(event))

    def parse_command(self, text: str | None) -> ParsedCommand | None:
        return parse_command(text, self._command_table(), self.prefixes)

    async def _message(self, event: MessageReceived) -> None:
        parsed = self.parse_command(event.text)
        if event.from_me and parsed is not None and not self._own_allowed(parsed.route, event):
            if not self._own_command_noted:
                self._own_command_noted = True
                logger.info("message {} looks like the command {!r} but was sent from this account: ignored (own "
                            "messages reach only handlers registered with include_own=True; BOT_SELF_COMMANDS=on runs "
                            "the commands you send in your own chat, 'Message yourself'; said once)", event.id,
                            parsed.name)
            else:
                logger.debug("own message {} (command {!r}) ignored", event.id, parsed.name)
        ctx = Context(self.client, event, self.scopes, self.name,
                      command=parsed.name if parsed else None, args=list(parsed.args) if parsed else [],
                      prefix=parsed.prefix if parsed else None)
        await self._message_tree(self, ctx, parsed, (), set())

    async def _message_tree(self, router: Router, ctx: Context, parsed: ParsedCommand | None,
                            inherited: tuple[Middleware[Context], ...], seen: set[int]) -> None:
        seen.add(id(router))
        inner = (*inherited, *router.message.inner)

        async def handle(here: Context) -> None:
            for command in router.message.commands:
                if parsed is not None and command is parsed.route:
                    await self._command(router, command, replace(here, args=list(here.args)), inner)
            for route in router.message.handlers:
                if await self._wants(router, route.filters, route.include_own, here.event):
                    await self._call(router, route.callback, replace(here, args=list(here.args)), inner,
                                     route.timeout, f"message handler {callback_name(route.callback)}")
            for child in router.sub_routers:
                if id(child) not in seen:
                    await self._message_tree(child, replace(here, router=child.name), parsed, inner, seen)

        await self._outer(router, router.message.outer, handle, replace(ctx, router=router.name))

    async def _command(self, router: Router, route: CommandRoute, ctx: Context,
                       inner: tuple[Middleware[Context], ...]) -> None:
        event = ctx.event
        if not await self._wants(router, route.filters, self._own_allowed(route, event), event):
            logger.debug("command {} in message {}: filtered out (router {})", ctx.command, event.id, router.name)
            return
        age = self._clock() - event.timestamp
        if not route.allow_stale and age > self.stale_after:
            logger.info("command {} in message {} is {:.0f}s old; skipped (stale)", ctx.command, event.id, age)
            return
        async with self._typing_while_slow(event):
            await self._call(router, route.callback, ctx, inner, route.timeout, f"command {ctx.command}")

    def _routes_event(self, event: Event) -> bool:
        return any(isinstance(event, r.event_type) for router, _ in self.walk() for r in router.event.handlers)

    async def _event_tree(self, router: Router, ctx: EventContext[Event],
                          inherited: tuple[Middleware[EventContext[Event]], ...], seen: set[int]) -> None:
        seen.add(id(router))
        inner = (*inherited, *router.event.inner)

        async def handle(here: EventContext[Event]) -> None:
            for route in router.event.handlers:
                if isinstance(here.event, route.event_type) and await self._wants(router, route.filters, True,
                                                                                  here.event):
                    await self._call(router, route.callback, replace(here), inner, route.timeout,
                                     f"event handler {callback_name(route.callback)}")
            for child in router.sub_routers:
                if id(child) not in seen:
                    await self._event_tree(child, replace(here, router=child.name), inner, seen)

        await self._outer(router, router.event.outer, handle, replace(ctx, router=router.name))

    async def _outer(self, router: Router, outer: Sequence[Middleware[C]], handle: Callable[[C], Awaitable[None]],
                     ctx: C) -> None:
        if not outer:
            await handle(ctx)
            return
        try:
            await wrap(outer, handle)(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            self._log_failure(router.name, "outer middleware", exc)

    def _own_allowed(self, route: CommandRoute, event: MessageReceived) -> bool:
        return route.include_own or (self.self_commands and _self_chat(event))

    async def _wants(self, router: Router, filters: Sequence[Filter], include_own: bool, event: Event) -> bool:
        if isinstance(event, MessageReceived) and event.from_me and not include_own:
            return False
        for check in filters:
            try:
                async with asyncio.timeout(self.handler_timeout):
                    if not await check(event):
                        return False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a timeout included: the filter is the plugin's code
                self._log_failure(router.name, f"filter {describe(check)}", exc)
                return False
        return True

    async def _call(self, router: Router, callback: Callable[[C], Awaitable[None] | None], ctx: C,
                    inner: Sequence[Middleware[C]], timeout: float | None, what: str) -> None:
        async def invoke(here: C) -> None:
            result = callback(here)
            if inspect.isawaitable(result):
                await result

        self.dispatched += 1
        if isinstance(ctx.event, MessageReceived):
            self._ran.add(id(ctx.event))
        limit = self.handler_timeout if timeout is None else timeout
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                await wrap(inner, invoke)(ctx)
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            self.failures += 1
            if not scope.expired():  # the handler's own TimeoutError (an IQ that timed out, ...)
                self._log_failure(router.name, what, exc)
            else:
                logger.warning("router {}: {} timed out after {:g}s on {}", router.name, what, limit,
                               _about(ctx.event))
        except Exception as exc:
            self.failures += 1
            if isinstance(exc, TransportError) and isinstance(ctx.event, MessageReceived):
                self._unfinished.add(id(ctx.event))  # not failed for good: the next login tries again
                logger.warning("router {}: {} lost the connection ({}); it runs again after the next login",
                               router.name, what, type(exc).__name__)  # not the plugin's bug: no traceback
            else:
                self._log_failure(router.name, what, exc)

    def _log_failure(self, router: str, what: str, exc: BaseException) -> None:
        key = f"{router}:{what}"
        if key in self._failed_before:
            logger.warning("router {}: {} failed again: {}: {}", router, what, type(exc).__name__, exc)
        else:
            self._failed_before.add(key)
            logger.opt(exception=exc).error("router {}: {} failed", router, what)
