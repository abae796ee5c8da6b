"""The WhatsApp Web connection layer below the binary codec: framing and the Noise XX handshake.

Sans-I/O: nothing here touches a socket. The connection code feeds received WebSocket message
bytes into a `FrameReader`, hands complete frames to the handshake object or the transport, and
sends the bytes they return. This is the client's (initiator's) side only; the emulated server's
responder is written separately (whatsapp/testing/noise_responder.py), so the two check each other.

Flow (initiator = client, responder = server; `frame(x)` is a u24 big-endian length + x):

    client -> [ED 00 01 u24 routing-info] "WA" 06 03 frame(HandshakeMessage{clientHello{e}})
    server -> frame(HandshakeMessage{serverHello{e, enc(s), enc(CertChain)}})
    client -> frame(HandshakeMessage{clientFinish{enc(noise key), enc(ClientPayload)}})
    both   -> frame(AES-GCM(transport plaintext)) ...

The handshake is Noise_XX_25519_AESGCM_SHA256 with WhatsApp's twists (docs/protocol.md §Handshake): the
32-byte protocol name is used unhashed as h and ck, the prologue is the 4-byte WA header, and
one nonce counter serves both directions during the handshake, reset by every MixKey.
"""

from __future__ import annotations

import hashlib
import struct

from google.protobuf.message import DecodeError as ProtobufDecodeError
from loguru import logger

from whatsapp.certs import WA_ROOT_PUBLIC_KEY, VerifiedChain, verify_cert_chain
from whatsapp.cipher import aes_gcm_decrypt, aes_gcm_encrypt, hkdf_sha256
from whatsapp.errors import CryptoError, DecodeError, EncodeError, HandshakeError
from whatsapp.keys import KeyPair
from whatsapp.proto import wa6_pb2

WA_HEADER = b"WA\x06\x03"
NOISE_PROTOCOL_NAME = b"Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"
ROUTING_PREFIX_MAGIC = b"ED\x00\x01"
FRAME_LENGTH_SIZE = 3
MAX_FRAME_SIZE = (1 << 24) - 1
KEY_SIZE = 32
TAG_SIZE = 16
_MAX_COUNTER = 0xFFFFFFFF


def _u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def encode_frame(payload: bytes) -> bytes:
    """u24 big-endian length || payload; EncodeError when the payload does not fit in 2^24-1 bytes."""
    if len(payload) > MAX_FRAME_SIZE:
        raise EncodeError(f"frame payload is {len(payload)} bytes, the maximum is {MAX_FRAME_SIZE}")
    return _u24(len(payload)) + payload


def encode_intro(routing_info: bytes | None = None) -> bytes:
    """What precedes the first frame: the optional `ED 00 01 <u24 len> <routing info>` prefix, then the WA header."""
    if not routing_info:
        return WA_HEADER
    if len(routing_info) > MAX_FRAME_SIZE:
        raise EncodeError(f"routing info is {len(routing_info)} bytes, the maximum is {MAX_FRAME_SIZE}")
    return ROUTING_PREFIX_MAGIC + _u24(len(routing_info)) + routing_info + WA_HEADER


class FrameReader:
    """Reassembles frames from a byte stream that arrives in arbitrary chunks.

    One WebSocket message may hold several frames or part of one, so `feed` buffers and returns
    every frame completed so far (payloads without their length prefix). The server sends no intro
    header, so every byte belongs to a frame.

    After a DecodeError the stream is out of sync for good: every later `feed` raises again.
    """

    def __init__(self, *, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self._max_frame_size = max_frame_size
        self._error: DecodeError | None = None
        self._consumed = 0  # stream offset of _buffer[0], for error messages

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self._error is not None:
            raise DecodeError(f"frame stream already failed: {self._error.reason}", self._error.offset)
        self._buffer += data
        try:
            return self._read_frames()
        except DecodeError as exc:
            self._error = exc
            raise

    def _read_frames(self) -> list[bytes]:
        buf = self._buffer
        frames: list[bytes] = []
        pos = 0
        while len(buf) - pos >= FRAME_LENGTH_SIZE:
            length = int.from_bytes(buf[pos : pos + FRAME_LENGTH_SIZE], "big")
            if length > self._max_frame_size:
                raise DecodeError(f"frame of {length} bytes exceeds the limit of {self._max_frame_size}", pos)
            end = pos + FRAME_LENGTH_SIZE + length
            if end > len(buf):
                break
            frames.append(bytes(buf[pos + FRAME_LENGTH_SIZE : end]))
            pos = end
        if pos:
            del buf[:pos]  # once per feed, so many small frames stay linear
            self._consumed += pos
        return frames


def _nonce(counter: int) -> bytes:
    return b"\x00" * 8 + struct.pack(">I", counter)


class NoiseTransport:
    """The post-handshake cipher pair: independent AES-256-GCM keys and counters per direction, empty AD.

    A counter advances even when decryption fails, like the real peers: the sender spent that
    nonce on the frame, so the next frame uses the next one.
    """

    __slots__ = ("_read_key", "_write_key", "read_counter", "write_counter")

    def __init__(self, write_key: bytes, read_key: bytes) -> None:
        if len(write_key) != KEY_SIZE or len(read_key) != KEY_SIZE:
            raise CryptoError("Noise transport keys must be 32 bytes each")
        self._write_key = write_key
        self._read_key = read_key
        self.write_counter = 0
        self.read_counter = 0

    def __repr__(self) -> str:
        return f"NoiseTransport(write_counter={self.write_counter}, read_counter={self.read_counter})"

    def encrypt(self, plaintext: bytes) -> bytes:
        """Raises EncodeError, before the counter moves, when the sealed frame could not be framed:
        an oversized stanza must not leave the two sides' counters out of step."""
        if len(plaintext) + TAG_SIZE > MAX_FRAME_SIZE:
            size = len(plaintext) + TAG_SIZE
            raise EncodeError(f"frame payload would be {size} bytes, the maximum is {MAX_FRAME_SIZE}")
        if self.write_counter > _MAX_COUNTER:
            raise CryptoError("Noise transport write counter exhausted; reconnect")
        nonce = _nonce(self.write_counter)
        self.write_counter += 1
        return aes_gcm_encrypt(self._write_key, nonce, plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Raises CryptoError on a bad tag or a ciphertext shorter than a tag."""
        if self.read_counter > _MAX_COUNTER:
            raise CryptoError("Noise transport read counter exhausted; reconnect")
        nonce = _nonce(self.read_counter)
        self.read_counter += 1
        return aes_gcm_decrypt(self._read_key, nonce, ciphertext)


class _SymmetricState:
    """h, ck, k and the shared counter n of the WhatsApp Noise handshake."""

    def __init__(self, prologue: bytes) -> None:
        # The name is exactly 32 bytes, so Noise uses it as-is instead of hashing it.
        self.hash = NOISE_PROTOCOL_NAME
        self.chaining_key = NOISE_PROTOCOL_NAME
        self.key = NOISE_PROTOCOL_NAME
        self.counter = 0
        self.mix_hash(prologue)

    def mix_hash(self, data: bytes) -> None:
        self.hash = hashlib.sha256(self.hash + data).digest()

    def mix_key(self, input_key_material: bytes) -> None:
        out = hkdf_sha256(input_key_material, 64, salt=self.chaining_key)
        self.chaining_key, self.key = out[:32], out[32:]
        self.counter = 0

    def mix_dh(self, private: KeyPair, public: bytes, what: str) -> None:
        try:
            shared = private.shared_secret(public)
        except CryptoError as exc:
            raise HandshakeError(f"Diffie-Hellman with the {what} failed: {exc}") from exc
        self.mix_key(shared)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = aes_gcm_encrypt(self.key, _nonce(self.counter), plaintext, self.hash)
        self.counter += 1
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes, what: str) -> bytes:
        try:
            plaintext = aes_gcm_decrypt(self.key, _nonce(self.counter), ciphertext, self.hash)
        except CryptoError as exc:
            raise HandshakeError(f"could not decrypt the {what}: {exc}") from exc
        self.counter += 1
        self.mix_hash(ciphertext)  # the ciphertext, never the plaintext
        return plaintext

    def split(self) -> NoiseTransport:
        out = hkdf_sha256(b"", 64, salt=self.chaining_key)
        # The initiator (we) writes with the first half and reads with the second.
        return NoiseTransport(out[:32], out[32:])


def _parse_handshake(payload: bytes, expected: str) -> wa6_pb2.HandshakeMessage:
    message = wa6_pb2.HandshakeMessage()
    try:
        message.ParseFromString(payload)
    except (ProtobufDecodeError, ValueError) as exc:
        raise HandshakeError(f"{expected}: HandshakeMessage does not parse: {exc}") from None
    if not message.HasField(expected):
        raise HandshakeError(f"HandshakeMessage has no {expected}")
    return message


def _require(part: bytes, length: int | None, what: str) -> bytes:
    if not part:
        raise HandshakeError(f"{what} is missing")
    if length is not None and len(part) != length:
        raise HandshakeError(f"{what} is {len(part)} bytes, expected {length}")
    return part


class ClientHandshake:
    """The initiator side of the handshake (our client).

    1. `start()` -> bytes of the first WebSocket message (intro + clientHello frame).
    2. `process_server_hello(frame)` with the first frame's payload (from a FrameReader); decrypts the
       server's static key and verifies its certificate chain against `root_public_key` (CertificateError).
    3. `finish(client_payload)` -> (clientFinish frame bytes, NoiseTransport) given the serialized ClientPayload.

    `now` (Unix seconds) pins the time used for certificate validity, for tests.
    """

    def __init__(
        self,
        noise_key: KeyPair,
        *,
        root_public_key: bytes = WA_ROOT_PUBLIC_KEY,
        routing_info: bytes | None = None,
        ephemeral: KeyPair | None = None,
        now: float | None = None,
    ) -> None:
        self._noise_key = noise_key
        self._root_public_key = root_public_key
        self._routing_info = routing_info
        self._ephemeral = ephemeral or KeyPair.generate()
        self._now = now
        self._state = _SymmetricState(WA_HEADER)  # the prologue is the WA header, never the routing prefix
        self._step = "start"
        self._server_ephemeral: bytes | None = None
        self.server_static: bytes | None = None
        self.certificate: VerifiedChain | None = None

    def _expect(self, step: str) -> None:
        if self._step != step:
            raise HandshakeError(f"client handshake is at step {self._step!r}, not {step!r}")

    def start(self) -> bytes:
        self._expect("start")
        self._state.mix_hash(self._ephemeral.public)
        hello = wa6_pb2.HandshakeMessage(
            clientHello=wa6_pb2.HandshakeMessage.ClientHello(ephemeral=self._ephemeral.public)
        )
        self._step = "server_hello"
        return encode_intro(self._routing_info) + encode_frame(hello.SerializeToString())

    def process_server_hello(self, payload: bytes) -> None:
        self._expect("server_hello")
        self._step = "failed"  # until this step succeeds; a half-mixed state must never be reused
        hello = _parse_handshake(payload, "serverHello").serverHello
        server_ephemeral = _require(hello.ephemeral, KEY_SIZE, "serverHello ephemeral key")
        encrypted_static = _require(hello.static, KEY_SIZE + TAG_SIZE, "serverHello static key")
        encrypted_certs = _require(hello.payload, None, "serverHello certificate payload")
        state = self._state
        state.mix_hash(server_ephemeral)
        state.mix_dh(self._ephemeral, server_ephemeral, "server ephemeral key")
        server_static = state.decrypt_and_hash(encrypted_static, "server static key")
        state.mix_dh(self._ephemeral, server_static, "server static key")
        cert_bytes = state.decrypt_and_hash(encrypted_certs, "server certificate chain")
        self.certificate = verify_cert_chain(cert_bytes, server_static, self._root_public_key, self._now)
        self._server_ephemeral = server_ephemeral
        self.server_static = server_static
        self._step = "finish"

    def finish(self, client_payload: bytes) -> tuple[bytes, NoiseTransport]:
        self._expect("finish")
        assert self._server_ephemeral is not None
        state = self._state
        encrypted_static = state.encrypt_and_hash(self._noise_key.public)
        state.mix_dh(self._noise_key, self._server_ephemeral, "server ephemeral key")
        encrypted_payload = state.encrypt_and_hash(client_payload)
        finish = wa6_pb2.HandshakeMessage(
            clientFinish=wa6_pb2.HandshakeMessage.ClientFinish(static=encrypted_static, payload=encrypted_payload)
        )
        self._step = "done"
        logger.debug("noise handshake complete (client)")
        return encode_frame(finish.SerializeToString()), state.split()
