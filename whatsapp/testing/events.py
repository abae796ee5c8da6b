"""Server events: what happened on the emulated server, for tests to await (`server.wait_for(...)`)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from whatsapp.testing.errors import EventTimeout

if TYPE_CHECKING:
    from whatsapp.testing.connection import ClientConnection
    from whatsapp.testing.records import Account, Device

EventPredicate = Callable[["ServerEvent"], bool]


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """Something that happened on the server, for tests to await.

    Kinds: "connected" (handshake done; data["registration"]), "registration" (pair-device refs sent;
    data["refs"]), "pairing_code_requested" (companion_hello; data["ref"]), "paired", "pair_failed"
    (data["why"]), "logged_in", "login_failed" (data["reason"], data["why"]), "offline_done" (<ib><offline>
    sent; data["count"]), "prekeys_uploaded" (data["count"], data["total"]), "unlinked", "closed"
    (data["reason"]), "stanza" (every decoded client stanza; data["node"]), "message_routed" (data["id"],
    data["to"], data["targets"], data["error"]), "group_created" (data["group"]), "unmodelled" and
    "phone_rejected" (whatsapp/testing/strict.py; data["what"], data["detail"], data["node"]).
    """

    kind: str
    account: Account | None = None
    device: Device | None = None
    connection: ClientConnection | None = None
    # Free-form details per kind (see above): nodes, JIDs, counts, reasons.
    data: dict[str, Any] = field(default_factory=dict)


class EventLog:
    """Append-only event history plus waiters: `await log.wait_for(lambda ev: ...)` also sees past events."""

    def __init__(self, keep: int = 10_000) -> None:
        self.events: deque[ServerEvent] = deque(maxlen=keep)
        self._waiters: list[tuple[EventPredicate, asyncio.Future[ServerEvent]]] = []
        # Called with every event, unbounded by `keep` (strict.Watch counts strictness events this way).
        self.listeners: list[Callable[[ServerEvent], None]] = []

    def emit(self, event: ServerEvent) -> None:
        self.events.append(event)
        for listener in self.listeners:
            listener(event)
        for predicate, future in list(self._waiters):
            if future.done():
                self._waiters.remove((predicate, future))
            elif predicate(event):
                future.set_result(event)
                self._waiters.remove((predicate, future))

    async def wait_for(self, predicate: EventPredicate, timeout: float = 30.0, *, past: bool = True) -> ServerEvent:
        """The first event (already emitted if `past`, else future) matching `predicate`."""
        if past:
            for event in self.events:
                if predicate(event):
                    return event
        future: asyncio.Future[ServerEvent] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise EventTimeout(f"no matching server event within {timeout}s") from None
        finally:
            if (predicate, future) in self._waiters:
                self._waiters.remove((predicate, future))

    def of_kind(self, kind: str) -> list[ServerEvent]:
        return [e for e in self.events if e.kind == kind]
