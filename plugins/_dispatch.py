"""Runs command and message handlers for received messages (field-notes §3.3 runner guarantees).

- Per-chat ordering: each chat has a FIFO worker, so a conversation's handlers run in message order;
  different chats run concurrently, bounded by a semaphore (`max_concurrency`).
- Every handler call has a timeout; an exception or timeout is logged with the plugin's name (the
  traceback only the first time a handler fails, a one-line warning afterwards) and never reaches
  the connection or the other handlers.
- Commands in the offline backlog are dispatched unless older than `stale_after` seconds (a command
  may opt in with `allow_stale=True`); message handlers see every message.
- Our own messages (sent from our phone or another companion) are ignored unless a handler asks
  for them (`include_own=True`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from plugins._filters import Filter
from whatsapp.jid import JID
from whatsapp.messages import MessageReceived, SendResult
from whatsapp.tasks import cancel_and_wait

Callback = Callable[["Context"], Awaitable[Any] | Any]


@dataclass(frozen=True, slots=True)
class CommandHandler:
    plugin: str
    name: str
    aliases: tuple[str, ...]
    callback: Callback
    prefixes: tuple[str, ...] | None = None  # None: the bot's prefixes
    filter: Filter | None = None
    allow_stale: bool = False
    include_own: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class MessageHandler:
    plugin: str
    callback: Callback
    filter: Filter | None = None
    include_own: bool = False


@dataclass(slots=True)
class Context:
    """What a handler gets: the message, the parsed command, and ways to answer."""

    client: Any
    event: MessageReceived
    plugin: str
    command: str | None = None
    args: list[str] = field(default_factory=list)

    @property
    def text(self) -> str | None:
        return self.event.text

    @property
    def chat(self) -> JID:
        return self.event.chat

    @property
    def sender(self) -> JID:
        return self.event.sender

    async def reply(self, text: str) -> SendResult:
        """Answer in the same chat, quoting the message."""
        return await self.client.send_text(self.event.chat, text, quoted=self.event)

    async def send(self, text: str, to: JID | str | None = None) -> SendResult:
        return await self.client.send_text(to if to is not None else self.event.chat, text)


class Dispatcher:
    def __init__(
        self,
        client: Any,
        commands: Sequence[CommandHandler] = (),
        handlers: Sequence[MessageHandler] = (),
        *,
        prefixes: Sequence[str] = ("!",),
        max_concurrency: int = 8,
        handler_timeout: float = 30.0,
        stale_after: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefixes = tuple(prefixes)
        self.handler_timeout = handler_timeout
        self.stale_after = stale_after
        self._clock = clock
        self._commands: dict[str, CommandHandler] = {}
        for command in commands:
            for name in command.names:
                if name.lower() in self._commands:
                    logger.warning("command {!r} of plugin {} shadows plugin {}", name, command.plugin,
                                   self._commands[name.lower()].plugin)
                self._commands[name.lower()] = command
        self._handlers = list(handlers)
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._queues: dict[JID, deque[MessageReceived]] = {}
        self._workers: dict[JID, asyncio.Task[None]] = {}
        self._failed_before: set[str] = set()
        self.dispatched = 0
        self.failures = 0

    def attach(self) -> Dispatcher:
        self.client.add_handler(MessageReceived, self.feed)
        return self

    # ---- queueing ---------------------------------------------------------------------------------------

    def feed(self, event: MessageReceived) -> None:
        """Queue a message for its chat's worker (returns at once: the client's event pump never waits)."""
        queue = self._queues.setdefault(event.chat, deque())
        queue.append(event)
        worker = self._workers.get(event.chat)
        if worker is None or worker.done():
            self._workers[event.chat] = asyncio.get_running_loop().create_task(
                self._drain(event.chat), name=f"chat-{event.chat}")

    async def _drain(self, chat: JID) -> None:
        queue = self._queues[chat]
        try:
            while queue:
                event = queue.popleft()
                async with self._semaphore:
                    await self.process(event)
        finally:
            if not queue:
                self._queues.pop(chat, None)
                self._workers.pop(chat, None)

    async def idle(self) -> None:
        """Until every queued message was handled (tests, shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def close(self) -> None:
        for worker in list(self._workers.values()):
            worker.cancel()
        for worker in list(self._workers.values()):
            await cancel_and_wait(worker, "a plugin worker")

    # ---- dispatch ---------------------------------------------------------------------------------------

    def parse_command(self, text: str | None) -> tuple[CommandHandler, str, list[str]] | None:
        if not text:
            return None
        stripped = text.strip()
        for prefix in sorted({*self.prefixes, *self._own_prefixes()}, key=len, reverse=True):
            if not prefix or not stripped.startswith(prefix):
                continue
            parts = stripped[len(prefix):].split()
            if not parts:
                continue
            handler = self._commands.get(parts[0].lower())
            if handler is None:
                continue
            allowed = handler.prefixes if handler.prefixes is not None else self.prefixes
            if prefix in allowed:
                return handler, parts[0].lower(), parts[1:]
        return None

    def _own_prefixes(self) -> set[str]:
        return {p for c in self._commands.values() if c.prefixes for p in c.prefixes}

    async def process(self, event: MessageReceived) -> None:
        parsed = self.parse_command(event.text)
        if parsed is not None:
            handler, name, args = parsed
            age = self._clock() - event.timestamp
            if self._wants(handler.plugin, handler.filter, handler.include_own, event):
                if not handler.allow_stale and age > self.stale_after:
                    logger.info("command {} in message {} is {:.0f}s old; skipped (stale)", name, event.id, age)
                else:
                    await self._run(handler.plugin, handler.callback,
                                    Context(self.client, event, handler.plugin, name, args), f"command {name}")
        for message_handler in self._handlers:
            if self._wants(message_handler.plugin, message_handler.filter, message_handler.include_own, event):
                await self._run(message_handler.plugin, message_handler.callback,
                                Context(self.client, event, message_handler.plugin), "message handler")

    def _wants(self, plugin: str, message_filter: Filter | None, include_own: bool, event: MessageReceived) -> bool:
        if event.from_me and not include_own:
            return False
        if message_filter is None:
            return True
        try:
            return message_filter(event)
        except Exception as exc:
            self._log_failure(plugin, f"filter {message_filter.name}", exc)
            return False

    async def _run(self, plugin: str, callback: Callback, ctx: Context, what: str) -> None:
        self.dispatched += 1
        try:
            async with asyncio.timeout(self.handler_timeout):
                result = callback(ctx)
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    await result
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.failures += 1
            logger.warning("plugin {}: {} timed out after {:g}s on message {}", plugin, what,
                           self.handler_timeout, ctx.event.id)
        except Exception as exc:
            self.failures += 1
            self._log_failure(plugin, f"{what} {getattr(callback, '__name__', '?')}", exc)

    def _log_failure(self, plugin: str, what: str, exc: Exception) -> None:
        key = f"{plugin}:{what}"
        if key in self._failed_before:
            logger.warning("plugin {}: {} failed again: {}: {}", plugin, what, type(exc).__name__, exc)
        else:
            self._failed_before.add(key)
            logger.opt(exception=exc).error("plugin {}: {} failed", plugin, what)
