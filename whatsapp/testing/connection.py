"""One client connection to the emulated server: Noise responder, framing, stanza I/O and lifecycle.

The handshake and framing are the server's own (noise_responder.py), independent of the client's.

The protocol decisions (what to answer to a registration or a login, which handler gets a stanza)
belong to the concern modules (pairing.py, login.py, dispatch.py); this class only moves nodes in and
out in order and closes cleanly. It knows the server only through the key and certificate it answers
the handshake with.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from whatsapp.binary import Node, decode_node, encode_node
from whatsapp.binary.node import AttrValue
from whatsapp.testing.errors import ConnectionDropped, QueryTimeout
from whatsapp.testing.noise_responder import ClientStream, NoiseResponder, ServerTransport, frame

if TYPE_CHECKING:
    from whatsapp.keys import KeyPair
    from whatsapp.testing.client_payload import DeviceProps, ParsedClientPayload
    from whatsapp.testing.records import Device


# A stanza tap: called with every stanza a connection decodes from its client ("in") or sends it ("out"),
# after decoding and before encoding, on the server side of the wire (EmulatedServer.add_tap).
StanzaTap = Callable[["ClientConnection", str, Node], None]


@dataclass(eq=False)
class Registration:
    """A connection that registered (no login yet): its offered keys and the QR refs it was given."""

    identity_public: bytes
    registration_id: int
    signed_prekey_id: int
    signed_prekey_public: bytes
    signed_prekey_signature: bytes
    device_props: DeviceProps
    refs: list[bytes] = field(default_factory=list)
    # Absolute loop times at which each ref stops being valid.
    ref_deadlines: list[float] = field(default_factory=list)
    push_name: str | None = None
    pairing: bool = False  # a pair-success is in flight: a second scan must not start another


class ClientConnection:
    """A live WebSocket: handshake, then encrypted stanzas in both directions."""

    def __init__(self, websocket: ServerConnection, connection_id: int, noise_key: KeyPair, cert_chain: bytes,
                 taps: list[StanzaTap] | None = None) -> None:
        self.websocket = websocket
        self.taps: list[StanzaTap] = taps if taps is not None else []  # shared with the server's list
        self.id = connection_id
        self._noise_key = noise_key
        self._cert_chain = cert_chain
        self.device: Device | None = None
        self.registration: Registration | None = None
        self.payload: ParsedClientPayload | None = None
        self.client_static: bytes | None = None  # the client's Noise static key (its noise key)
        self.routing_info: bytes | None = None  # the "ED" prefix the client sent, if any
        self.transport: ServerTransport | None = None
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self.silent = False  # fault: no more frames either way, the socket stays open
        self.active = False  # <iq xmlns="passive"><active/></iq> received
        self.available = False  # last <presence> said available
        self.tasks: set[asyncio.Task[None]] = set()  # cancelled when the connection closes
        self._send_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[Node]] = {}
        self._unawaited: set[str] = set()  # ids of server IQs sent with `send_request`, answer still due
        self._iq_ids = itertools.count(1)
        self._reader = ClientStream()
        self._frames: deque[bytes] = deque()

    def __repr__(self) -> str:
        who = self.device.jid if self.device else ("registering" if self.registration else "handshaking")
        return f"ClientConnection(#{self.id}, {who})"

    @property
    def is_open(self) -> bool:
        return not self.closed.is_set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `coro` tied to this connection's life (cancelled when it closes)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # -- sending --------------------------------------------------------------------------------

    async def send_node(self, node: Node) -> None:
        """Encode, encrypt, frame and send one stanza; a closed or silenced connection drops it."""
        if self.closed.is_set() or self.silent or self.transport is None:
            return
        for tap in self.taps:
            tap(self, "out", node)
        async with self._send_lock:
            # Encrypt under the lock: the Noise counter must follow the order frames leave in.
            sealed = frame(self.transport.encrypt(encode_node(node)))
            try:
                await self.websocket.send(sealed)
            except ConnectionClosed:
                self.mark_closed("peer closed while sending")

    async def send_raw_frame(self, data: bytes) -> None:
        """Send bytes as they are (faults: a frame that cannot decrypt)."""
        async with self._send_lock:
            try:
                await self.websocket.send(data)
            except ConnectionClosed:
                self.mark_closed("peer closed while sending")

    def next_iq_id(self) -> str:
        return f"srv.{self.id}.{next(self._iq_ids)}"

    async def query(self, node: Node, timeout: float = 10.0) -> Node:
        """Send a server-originated IQ and wait for the client's result/error with the same id."""
        iq_id = node.attr_str("id") or self.next_iq_id()
        node.attrs["id"] = iq_id
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._pending[iq_id] = future
        try:
            await self.send_node(node)
            closed = asyncio.ensure_future(self.closed.wait())
            try:
                waited: set[asyncio.Future[Any]] = {future, closed}
                done, _ = await asyncio.wait(waited, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
            if future in done:
                return future.result()
            if closed.done() or self.closed.is_set():
                raise ConnectionDropped(f"connection #{self.id} closed before answering iq {iq_id}")
            raise QueryTimeout(f"no answer to iq {iq_id} within {timeout}s")
        finally:
            self._pending.pop(iq_id, None)

    async def send_request(self, node: Node) -> None:
        """Send a server-originated IQ whose answer nobody waits for (pair-device): it is expected, though."""
        iq_id = node.attr_str("id") or self.next_iq_id()
        node.attrs["id"] = iq_id
        self._unawaited.add(iq_id)
        await self.send_node(node)

    def resolve_reply(self, node: Node) -> bool:
        """Hand an `<iq type=result|error>` to whoever awaits it; False if it answers no server IQ."""
        iq_id = node.attr_str("id") or ""
        if iq_id in self._unawaited:
            self._unawaited.discard(iq_id)
            return True
        future = self._pending.get(iq_id)
        if future is None or future.done():
            return False
        future.set_result(node)
        return True

    # -- closing --------------------------------------------------------------------------------

    async def close_with_stream_error(self, code: str | None = None, conflict: str | None = None) -> None:
        """`<stream:error code=..>[<conflict type=../>]</stream:error>`, then a normal close."""
        attrs: dict[str, AttrValue] = {"code": str(code)} if code is not None else {}
        children = [Node("conflict", {"type": conflict})] if conflict else None
        await self.send_node(Node("stream:error", attrs, children))
        reason = f"stream:error code={code}" + (f" conflict={conflict}" if conflict else "")
        await self.close(reason)

    async def close(self, reason: str, code: int = 1000) -> None:
        if self.closed.is_set():
            return
        self.mark_closed(reason)
        try:
            await asyncio.wait_for(self.websocket.close(code=code, reason=reason[:120]), 2.0)
        except (TimeoutError, ConnectionClosed, OSError):
            self.abort()

    def abort(self, reason: str | None = None) -> None:
        """Drop the TCP connection without a WebSocket close or a stream error."""
        if reason:
            self.mark_closed(reason)
        self.websocket.transport.abort()

    def mark_closed(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionDropped(f"connection #{self.id} closed: {reason}"))

    # -- receiving ------------------------------------------------------------------------------

    async def handshake(self) -> bytes:
        """Run the Noise XX responder; return the decrypted ClientPayload bytes."""
        reader = self._reader
        client_hello = await self._next_frame()
        handshake = NoiseResponder(self._noise_key.private, self._cert_chain, prologue=reader.header or b"")
        await self.websocket.send(handshake.read_client_hello(client_hello))
        finished = handshake.read_client_finish(await self._next_frame())
        self.routing_info = reader.routing_info
        self.client_static = finished.client_static
        self.transport = finished.transport
        return finished.client_payload

    async def _next_frame(self) -> bytes:
        while not self._frames:
            message = await self.websocket.recv()
            if isinstance(message, str):
                message = message.encode()
            self._frames.extend(self._reader.feed(message))
        return self._frames.popleft()

    async def stanzas(self) -> AsyncIterator[Node]:
        """Decrypted and decoded stanzas, in arrival order, until the socket closes.

        Raises DecodeError/CryptoError on a malformed frame: the caller closes this connection.
        """
        assert self.transport is not None
        # Driven by recv() rather than `closed`: stanzas the client sent just before closing (Baileys' logout
        # sends remove-companion-device and hangs up at once) are still buffered and must be handled.
        while True:
            frame = await self._next_frame()
            if self.silent:
                continue
            node = decode_node(self.transport.decrypt(frame))
            for tap in self.taps:
                tap(self, "in", node)
            yield node
