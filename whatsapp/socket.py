"""One WebSocket connection to WhatsApp: Noise handshake, then encrypted binary nodes both ways.

The only asyncio/websockets code of the connection layer; framing, Noise and the codec are the
sans-I/O modules `whatsapp.noise` and `whatsapp.binary`. A `WASocket` lives for exactly one
connection: the client builds a new one for every (re)connect and closes the old one first.

Bounded: a WebSocket message may be at most MAX_MESSAGE bytes, one Noise frame at its cap (16 MiB,
whatsapp/noise.py); websockets refuses a larger one from its header, before buffering it (close code
1009), and the connection is recycled with one log line. Stanzas that fail to decode are dropped with
at most DECODE_WARNINGS lines a minute (whatsapp/loglimit.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import websockets
from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from whatsapp.binary import Node, decode_node, encode_node
from whatsapp.certs import WA_ROOT_PUBLIC_KEY
from whatsapp.errors import CryptoError, DecodeError, HandshakeError, SocketClosed
from whatsapp.keys import KeyPair
from whatsapp.loglimit import LogLimiter
from whatsapp.noise import FRAME_LENGTH_SIZE, MAX_FRAME_SIZE, ClientHandshake, FrameReader, NoiseTransport, encode_frame

WA_ORIGIN = "https://web.whatsapp.com"
DEFAULT_CONNECT_TIMEOUT = 20.0
MAX_MESSAGE = FRAME_LENGTH_SIZE + MAX_FRAME_SIZE  # one frame at the cap, with its length prefix
MESSAGE_TOO_BIG = 1009  # the WebSocket close code websockets sends when it refuses a message
DECODE_WARNINGS = 5  # per minute


class WASocket:
    def __init__(
        self,
        ws: ClientConnection,
        transport: NoiseTransport,
        reader: FrameReader,
        pending: list[bytes],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ws = ws
        self._transport = transport
        self._reader = reader
        self._frames: deque[bytes] = deque(pending)
        self._send_lock = asyncio.Lock()
        self._clock = clock  # the keepalive compares last_received with the same clock
        self.last_received = clock()
        self.closed = False
        self._decode_warnings = LogLimiter(DECODE_WARNINGS, 60.0, time.monotonic)

    @classmethod
    async def connect(
        cls,
        url: str,
        noise_key: KeyPair,
        client_payload: bytes,
        *,
        root_public_key: bytes = WA_ROOT_PUBLIC_KEY,
        routing_info: bytes | None = None,
        timeout: float = DEFAULT_CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> WASocket:
        """Open the WebSocket and run the Noise handshake; raises HandshakeError / OSError / TimeoutError."""
        ws = await asyncio.wait_for(
            connect(
                url,
                origin=Origin(WA_ORIGIN),
                max_size=MAX_MESSAGE,  # history and app-state frames exceed websockets' 1 MiB default
                ping_interval=None,  # liveness comes from w:p pings, as a browser does it
                proxy=None,
                open_timeout=timeout,
                close_timeout=2,
                user_agent_header=None,
            ),
            timeout,
        )
        try:
            async with asyncio.timeout(timeout):
                handshake = ClientHandshake(noise_key, root_public_key=root_public_key, routing_info=routing_info)
                await ws.send(handshake.start())
                reader = FrameReader()
                frames: list[bytes] = []
                while not frames:
                    message = await ws.recv()
                    if isinstance(message, str):
                        raise HandshakeError("server sent a text WebSocket message during the handshake")
                    frames.extend(reader.feed(message))
                handshake.process_server_hello(frames.pop(0))
                finish, transport = handshake.finish(client_payload)
                await ws.send(finish)
        except BaseException:
            await ws.close()
            raise
        return cls(ws, transport, reader, frames, clock)

    async def send_node(self, node: Node) -> None:
        if self.closed:
            raise SocketClosed("socket is closed")
        data = encode_node(node)
        # Encrypt and send under one lock: frame counters must reach the wire in order.
        async with self._send_lock:
            frame = self._transport.encrypt(data)
            try:
                await self._ws.send(encode_frame(frame))
            except websockets.ConnectionClosed as exc:
                self.closed = True
                raise SocketClosed(f"connection closed while sending ({exc})") from exc

    async def recv_node(self) -> Node:
        """The next stanza; raises SocketClosed when the connection ends."""
        while True:
            while self._frames:
                frame = self._frames.popleft()
                try:
                    plaintext = self._transport.decrypt(frame)
                except CryptoError as exc:
                    # The counters are out of step now; nothing after this frame can be read.
                    raise SocketClosed(f"frame failed to decrypt ({exc})") from exc
                try:
                    return decode_node(plaintext)
                except DecodeError as exc:
                    if self._decode_warnings.allow("decode", "{} more stanzas failed to decode in the last minute"):
                        logger.warning("dropped a stanza that failed to decode: {}", exc)
                    else:
                        logger.debug("dropped a stanza that failed to decode: {}", exc)
                    continue
            try:
                message = await self._ws.recv()
            except websockets.ConnectionClosed as exc:
                self.closed = True
                if exc.sent is not None and exc.sent.code == MESSAGE_TOO_BIG:
                    logger.warning("refused a WebSocket message over {} bytes (the frame cap); reconnecting",
                                   MAX_MESSAGE)
                    raise SocketClosed("message over the frame cap refused") from exc
                raise SocketClosed(f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})") from exc
            except OSError as exc:
                self.closed = True
                raise SocketClosed(f"network error ({exc})") from exc
            self.last_received = self._clock()
            if isinstance(message, str):
                logger.warning("ignored a text WebSocket message")
                continue
            try:
                self._frames.extend(self._reader.feed(message))
            except DecodeError as exc:
                raise SocketClosed(f"bad frame ({exc})") from exc

    async def close(self) -> None:
        self.closed = True
        try:
            await asyncio.wait_for(self._ws.close(), 3)
        except Exception as exc:  # closing a dead socket must never raise into the supervisor
            logger.debug("websocket close: {!r}", exc)
