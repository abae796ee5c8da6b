"""Strictness reports: what the emulated server met and does not model, or refused, as server events.

The real server answers what it does not know the way it answers any client mistake (an IQ with
`<error code="501" text="feature-not-implemented"/>`, a stanza with nothing); the emulator answers the
same way and *also* emits a server event, so a test can tell "the client did something the emulator
cannot vouch for" from "the client did the right thing":

- `"unmodelled"` (data: `what`, `node`, `detail`): a stanza, IQ, usync protocol, group operation or
  answer that no handler models, or a handler that failed on it;
- `"phone_rejected"` (data: `what`, `node`, `detail`): the simulated phone could not decrypt or check
  a copy addressed to it (an own-device `DeviceSentMessage`, a sender key distribution).

`watch_servers()` collects these events from every server created while it is open: the test suite's
autouse fixture (tests/fixtures/emulator.py) fails a test that produced one it did not allow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loguru import logger

from whatsapp.testing.events import EventLog, ServerEvent

if TYPE_CHECKING:
    from whatsapp.binary import Node
    from whatsapp.testing.connection import ClientConnection
    from whatsapp.testing.state import ServerState

UNMODELLED = "unmodelled"
PHONE_REJECTED = "phone_rejected"
STRICT_KINDS = (UNMODELLED, PHONE_REJECTED)

# The `what` labels the emulator uses (a test allows them by label, see tests/fixtures/emulator.py).
WHAT = {
    "iq": "an IQ no handler models (answered 501 feature-not-implemented)",
    "stanza": "a stanza tag no handler models (ignored)",
    "stanza-type": "a known stanza with a type the emulator does not model (ignored)",
    "reply": "an iq result/error nobody asked for (ignored)",
    "handler-error": "a handler raised on the stanza (answered 500)",
    "usync-protocol": "a usync protocol the emulator does not answer (left out)",
    "w:g2": "a group operation the emulator does not model (answered 501)",
    "message-child": "a message child the emulator does not model (not delivered)",
    "message-reporting": "a <reporting> node of a shape the server does not take (not kept)",
    "message-target": "a message to a server the emulator does not route (status, newsletter, broadcast)",
    "phone-decrypt": "the simulated phone could not decrypt a copy addressed to it",
    "phone-content": "the simulated phone decrypted a copy whose content is wrong for it",
}


def report(state: ServerState, kind: str, what: str, detail: str, *, node: Node | None = None,
           connection: ClientConnection | None = None) -> ServerEvent:
    """Log and emit one strictness event (`kind` is "unmodelled" or "phone_rejected")."""
    logger.warning("emulator: {} {}: {}", kind, what, detail)
    return state.emit(kind, connection=connection, device=connection.device if connection else None,
                      data={"what": what, "detail": detail, "node": node})


@dataclass(eq=False)
class Watch:
    """The strictness events of every server created while `watch_servers()` is open."""

    events: list[ServerEvent] = field(default_factory=list)

    def listen(self, log: EventLog) -> None:
        log.listeners.append(self._seen)

    def _seen(self, event: ServerEvent) -> None:
        if event.kind in STRICT_KINDS:
            self.events.append(event)

    def violations(self, allowed: set[str] | frozenset[str] = frozenset()) -> list[ServerEvent]:
        return [e for e in self.events if e.data.get("what") not in allowed]


_watches: list[Watch] = []


def announce(state: ServerState) -> None:
    """Called by every EmulatedServer when it is built: open watches listen to its events."""
    for watch in _watches:
        watch.listen(state.events)


@contextlib.contextmanager
def watch_servers() -> Iterator[Watch]:
    watch = Watch()
    _watches.append(watch)
    try:
        yield watch
    finally:
        _watches.remove(watch)


def describe(events: list[ServerEvent]) -> str:
    """One line per event, for a test failure message."""
    lines = []
    for event in events:
        what = str(event.data.get("what"))
        node = event.data.get("node")
        shown = str(node)[:300] if node is not None else ""
        lines.append(f"- {event.kind} {what} ({WHAT.get(what, '?')}): {event.data.get('detail')} {shown}")
    return "\n".join(lines)
