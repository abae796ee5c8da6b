"""The IQ layer: request ids, pending requests and their timeouts.

An `<iq>` request carries an id; the server answers with `<iq type="result|error" id=..>` (and
acknowledges sent messages with `<ack id=..>`). `IqTracker` owns the id sequence and the futures
of requests in flight; the connection resolves them as responses arrive and fails them all when
the socket goes away, so no caller ever waits on a dead connection.
"""

from __future__ import annotations

import asyncio
import secrets

from whatsapp.binary import Node
from whatsapp.errors import IqError

DEFAULT_IQ_TIMEOUT = 60.0


class IqTracker:
    def __init__(self) -> None:
        # Two random parts keep ids unique across reconnects and processes, like WA Web's.
        self._prefix = f"{secrets.randbelow(65536)}.{secrets.randbelow(65536)}"
        self._counter = 0
        self._pending: dict[str, asyncio.Future[Node]] = {}

    def next_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}-{self._counter}"

    def expect(self, request_id: str) -> asyncio.Future[Node]:
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def resolve(self, node: Node) -> bool:
        """Hand a response (`<iq type=result|error>` or `<ack>`) to its waiter; False if nobody waits."""
        request_id = node.attr_str("id")
        future = self._pending.pop(request_id, None) if request_id is not None else None
        if future is None:
            return False
        if not future.done():
            future.set_result(node)
        return True

    def fail_all(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
                # Nobody may be awaiting it any more; don't let asyncio warn about it.
                future.exception()


def check_iq_result(node: Node) -> Node:
    """Raise IqError for a `type="error"` answer, return the node otherwise."""
    if node.tag == "iq" and node.attr_str("type") == "error":
        error = node.child("error")
        code = error.attr_int("code") if error is not None else None
        text = (error.attr_str("text") or "") if error is not None else ""
        raise IqError(code, text, node)
    return node
