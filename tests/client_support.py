"""A handler context without a socket: fake link, control and clock that record what handlers do.

    rig = Rig()                       # MemoryAuthState, FakeClock, every answer an empty result
    flow = PairingFlow(rig.ctx, PairingConfig())
    await flow.on_pair_device(node)
    assert rig.link.sent[0].attrs["type"] == "result"
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

from whatsapp.auth import AuthState, MemoryAuthState
from whatsapp.binary import Node
from whatsapp.context import Context, Locks
from whatsapp.events import Event
from whatsapp.reconnect import DisconnectReason


class FakeClock:
    """Virtual time: `sleep` records the delay, advances `now` and yields once."""

    def __init__(self) -> None:
        self.now_value = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.now_value

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_value += seconds
        await asyncio.sleep(0)


class FakeLink:
    """Records stanzas; `answer(node)` gives each query's answer (default: an empty result)."""

    def __init__(self, answer: Callable[[Node], Node] | None = None) -> None:
        self.sent: list[Node] = []
        self.queries: list[Node] = []
        self.answer = answer or (lambda node: Node("iq", {"id": node.attr_str("id") or "", "type": "result"}))
        self._ids = 0

    async def send_node(self, node: Node) -> None:
        self.sent.append(node)

    async def query(self, node: Node, timeout: float | None = None) -> Node:
        self.queries.append(node)
        return self.answer(node)

    def new_id(self) -> str:
        self._ids += 1
        return f"t-{self._ids}"


class FakeControl:
    def __init__(self) -> None:
        self.ended: list[DisconnectReason] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.backoff_resets = 0
        self.logins = 0

    def spawn(self, coro: Coroutine[object, object, object], name: str) -> asyncio.Task[None]:
        async def run() -> None:
            await coro

        task = asyncio.create_task(run(), name=name)
        self.tasks.append(task)
        return task

    def end(self, reason: DisconnectReason) -> None:
        self.ended.append(reason)

    def reset_backoff(self) -> None:
        self.backoff_resets += 1

    async def logged_in(self) -> None:
        self.logins += 1

    async def settle(self) -> None:
        """Wait for every spawned task (raising the first failure)."""
        while pending := [t for t in self.tasks if not t.done()]:
            await asyncio.gather(*pending)
        for task in self.tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]  # re-raise the task's own failure


class Rig:
    """A Context over fakes; `events` holds what was emitted, `delivered` what went to the inbox."""

    def __init__(self, auth: AuthState | None = None, link: FakeLink | None = None) -> None:
        self.auth = auth or MemoryAuthState()
        self.link = link or FakeLink()
        self.control = FakeControl()
        self.clock = FakeClock()
        self.events: list[Event] = []
        self.delivered: list[Event] = []
        self.ctx = Context(link=self.link, control=self.control, auth=self.auth, emit=self._emit,
                           deliver=self._deliver, clock=self.clock, locks=Locks())

    async def _emit(self, event: Event) -> None:
        self.events.append(event)

    async def _deliver(self, event: Event) -> None:
        self.delivered.append(event)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]
