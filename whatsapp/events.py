"""Events the client raises for applications, and the registry that delivers them.

Handlers are registered with a decorator, aiogram / discord.py style::

    @client.on(events.QR)
    async def show(event: events.QR) -> None: ...

A handler may be a coroutine function or a plain function. A handler that raises is logged and
skipped: an application bug must never take down the connection, nor stop the other handlers.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from loguru import logger

from whatsapp.binary import Node
from whatsapp.reconnect import Decision, DisconnectReason


class Event:
    """Base class of every event; subscribe to it to receive all of them."""


@dataclass(frozen=True, slots=True)
class Connecting(Event):
    attempt: int  # 1 for the first attempt after an open connection or a start


@dataclass(frozen=True, slots=True)
class QR(Event):
    """A QR string to show; it replaces the previous one and is valid for `timeout` seconds."""

    code: str
    index: int  # 0-based position among the refs of this connection
    total: int
    timeout: float


@dataclass(frozen=True, slots=True)
class PairingCode(Event):
    """The code to type on the phone (Linked devices → Link with phone number)."""

    code: str  # 8 characters, no dash

    @property
    def display(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"


@dataclass(frozen=True, slots=True)
class PairSuccess(Event):
    me_id: str
    me_lid: str | None
    platform: str | None
    business_name: str | None


@dataclass(frozen=True, slots=True)
class PairError(Event):
    """A pair-success that did not verify (forged HMAC or signature); nothing was stored."""

    reason: str


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """Logged in: the connection is open."""

    me_id: str | None
    me_lid: str | None


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """The connection closed; `decision` says what the client does next."""

    reason: DisconnectReason
    decision: Decision


@dataclass(frozen=True, slots=True)
class LoggedOut(Event):
    """The session is dead (unlinked, locked, banned); the stored session has been cleared."""

    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class Replaced(Event):
    """Another connection with the same keys took over; this client stopped reconnecting."""

    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class TemporaryBan(Event):
    code: int | None
    expires_in: float | None


@dataclass(frozen=True, slots=True)
class ClientOutdated(Event):
    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class Stopped(Event):
    """The supervisor ended: by `close()` or by a disconnect after which reconnecting would be wrong."""

    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class OfflineSyncPreview(Event):
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class OfflineSyncCompleted(Event):
    """The server has delivered the backlog queued while we were offline (`<ib><offline count>`).

    `timed_out` is True when the marker never came (Baileys #2810) and the client gave up waiting.
    """

    count: int
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class PrekeysUploaded(Event):
    count: int
    first_id: int


@dataclass(frozen=True, slots=True)
class PasskeyRequired(Event):
    """The server asked for a passkey assertion during linking; a CLI cannot give one."""


@dataclass(frozen=True, slots=True)
class NodeReceived(Event):
    """A stanza the client does not consume itself (receipts, calls, group and other notifications)."""

    node: Node


def __getattr__(name: str) -> Any:
    """`events.MessageReceived` / `events.DecryptFailed`: they live in whatsapp.messages (which imports this
    module), and are offered here too so every event class is reachable from one place."""
    if name in ("MessageReceived", "DecryptFailed"):
        from whatsapp import messages

        return getattr(messages, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None] | None]


class EventBus:
    """Maps event classes to handlers; dispatch matches subclasses (subscribe to `Event` for all)."""

    def __init__(self) -> None:
        self._handlers: list[tuple[type[Event], Handler]] = []

    def on(self, event_type: type[E]) -> Callable[[Callable[[E], Any]], Callable[[E], Any]]:
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"on() takes an event class, got {event_type!r}")

        def register(handler: Callable[[E], Any]) -> Callable[[E], Any]:
            self.add_handler(event_type, handler)
            return handler

        return register

    def add_handler(self, event_type: type[Event], handler: Handler) -> None:
        self._handlers.append((event_type, handler))

    def remove_handler(self, handler: Handler) -> None:
        self._handlers = [(t, h) for t, h in self._handlers if h is not handler]

    async def emit(self, event: Event) -> None:
        for event_type, handler in list(self._handlers):
            if not isinstance(event, event_type):
                continue
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                name = getattr(handler, "__qualname__", repr(handler))
                logger.exception("event handler {} failed on {}", name, type(event).__name__)
