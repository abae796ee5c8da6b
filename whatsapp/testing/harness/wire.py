"""Recording what a client puts on the wire, and reducing each stanza to its shape, for conformance checks.

    recorder = WireRecorder(server, account)          # taps the server (EmulatedServer.add_tap)
    recorder.phase = "online"                         # stanzas are filed under the current phase
    ...
    recorder.shapes("online")                         # the distinct shapes the client sent in that phase

Only what the client sends is recorded ("in" at the server): from its registering connection (filed under
"pair", whatever the current phase) and from every connection logged in as a device of `account`.

A shape keeps what says *what* a stanza is and drops what differs on every run: the tag, the values of
`xmlns`, `type` and `class` (they name the request), the attribute names (sorted: order is not
meaningful on the wire's maps), and the set of the children's shapes (repeated children, like 812
prekeys or one `<to>` per device, collapse into one). Ids, timestamps, JIDs, key bytes and any content
are left out. Written out it reads `iq[type=get,xmlns=w:p]{id,to,type,xmlns}(ping)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from whatsapp.binary import Node

if TYPE_CHECKING:
    from whatsapp.testing.connection import ClientConnection
    from whatsapp.testing.server import EmulatedServer
    from whatsapp.testing.state import Account

NAMING_ATTRIBUTES = ("class", "type", "xmlns")


def shape(node: Node) -> str:
    named = ",".join(f"{name}={node.attrs[name]}" for name in NAMING_ATTRIBUTES if name in node.attrs)
    text = node.tag + (f"[{named}]" if named else "") + "{" + ",".join(sorted(node.attrs)) + "}"
    children = sorted({shape(child) for child in node.children})
    if children:
        text += "(" + " ".join(children) + ")"
    return text


@dataclass(slots=True)
class Recorded:
    phase: str
    node: Node


@dataclass(eq=False)
class WireRecorder:
    server: EmulatedServer
    account: Account
    phase: str = "login"
    records: list[Recorded] = field(default_factory=list)
    _remove: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self._remove = self.server.add_tap(self._tap)

    def close(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    def _tap(self, connection: ClientConnection, direction: str, node: Node) -> None:
        if direction != "in":
            return
        device = connection.device
        if device is None:
            if connection.registration is not None or connection.payload is not None:
                if not self._registration_is_ours(connection):
                    return
                self.records.append(Recorded("pair", node))
            return
        if device.account is self.account:
            self.records.append(Recorded(self.phase, node))

    def _registration_is_ours(self, connection: ClientConnection) -> bool:
        # A registering connection is the subject's unless another account's device paired on it.
        for event in self.server.state.events.of_kind("paired"):
            if event.connection is connection:
                return event.account is self.account
        return True

    def nodes(self, phase: str) -> list[Node]:
        return [r.node for r in self.records if r.phase == phase]

    def shapes(self, phase: str) -> set[str]:
        return {shape(node) for node in self.nodes(phase)}

    def phases(self) -> list[str]:
        return list(dict.fromkeys(r.phase for r in self.records))
