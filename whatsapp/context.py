"""The narrow context every handler module gets instead of the Client.

Handlers (pairing, login upkeep, notifications, receipts, calls, receive, send, resend) need a few
things from the connection: send a stanza, ask a question and wait for the answer, the auth state,
a way to raise events, a clock, and per-connection background tasks. They get exactly that, typed
by the Protocols below, so the arrows run one way: client -> handlers -> context, never back
(docs/architecture.md §Layers). The connection supervisor (whatsapp/connection.py) implements
`Link` and `Control`; tests can implement them with a few lines and no socket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Protocol

from whatsapp.acks import build_ack
from whatsapp.auth import AuthState
from whatsapp.binary import Node
from whatsapp.events import Event
from whatsapp.reconnect import DisconnectReason

Emit = Callable[[Event], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class Clock(Protocol):
    """Time for every timer of the client (QR rotation, offline watchdog, keepalive, rate limits)."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.monotonic` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Link(Protocol):
    """The wire, as handlers see it."""

    async def send_node(self, node: Node) -> None:
        """Send one stanza; raises ConnectionGone when not connected, SocketClosed when it fails."""
        ...

    async def query(self, node: Node, timeout: float | None = None) -> Node:
        """Send a request and wait for its answer; raises IqError, IqTimeout or ConnectionGone."""
        ...

    def new_id(self) -> str:
        """A fresh request id (unique across reconnects)."""
        ...


class Control(Protocol):
    """The current connection's lifetime, as handlers may influence it."""

    def spawn(self, coro: Coroutine[object, object, object], name: str) -> asyncio.Task[None]:
        """Run `coro` as a task of the current connection: cancelled when it ends, failures logged."""
        ...

    def end(self, reason: DisconnectReason) -> None:
        """End the current connection with `reason` (the first reason given wins)."""
        ...

    def reset_backoff(self) -> None:
        """A connection succeeded (paired, or logged in): the next failure starts the backoff afresh."""
        ...

    async def logged_in(self) -> None:
        """The server accepted our login: mark the connection open and start its keepalive."""
        ...


@dataclass(frozen=True, slots=True)
class Locks:
    """Locks shared by the handlers that change the same records."""

    # Over every Signal record change (decrypt and encrypt): a ratchet is never advanced by two
    # operations at once, whichever address (PN or LID) they came in by.
    signal: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Held (briefly, never across a network wait) by whatever allocates prekey ids from the
    # credentials: the upload batch and a retry receipt's fresh key never get the same id.
    creds: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may use. `emit` raises an event now (in the reader's order); `deliver` queues a
    message event for the handlers, off the reader (whatsapp/inbox.py)."""

    link: Link
    control: Control
    auth: AuthState
    emit: Emit
    deliver: Emit
    clock: Clock
    locks: Locks

    # Shorthands: looked up on `link`/`control` at call time, so a wrapped `send_node` sees every stanza.
    async def send(self, node: Node) -> None:
        await self.link.send_node(node)

    async def query(self, node: Node, timeout: float | None = None) -> Node:
        return await self.link.query(node, timeout)

    def new_id(self) -> str:
        return self.link.new_id()

    async def ack(self, node: Node) -> None:
        """Acknowledge a receipt, notification or call (the server redelivers what is not acked)."""
        await self.link.send_node(build_ack(node, self.auth.creds.me_id))

    def spawn(self, coro: Coroutine[object, object, object], name: str) -> asyncio.Task[None]:
        return self.control.spawn(coro, name)

    @property
    def me_id(self) -> str | None:
        return self.auth.creds.me_id
