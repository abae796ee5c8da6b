"""The server half of the connection: the intro and frames a client sends, and the Noise XX responder.

Written from the Noise Protocol Framework specification (revision 34: §5 processing rules, §7.5 the XX
pattern, §12 the 25519/AESGCM/SHA256 functions), not from the client's `whatsapp/noise.py`, so that a
misreading on either side fails the handshake instead of passing on both. It uses `cryptography`'s
primitives directly and the standard library's HMAC for the Noise HKDF (§4.3).

What WhatsApp does on top of plain Noise (docs/protocol.md §Connection, §Handshake; whatsmeow
`socket/noisehandshake.go` is the same from the client's side):

- before the first frame the client sends `[ED 00 01 u24 routing-info] WA 06 03` once; the 4-byte header
  (never the routing prefix) is the prologue;
- every message is a 3-byte big-endian length and that many bytes (a `HandshakeMessage` protobuf during
  the handshake, an AES-GCM sealed stanza afterwards);
- the first message (`-> e`) carries no payload and, unlike §5.3 ReadMessage, nothing is mixed into h for it;
- the second message's payload is the certificate chain, the third's the `ClientPayload`.

The rest is §5 as written: "Noise_XX_25519_AESGCM_SHA256" is 28 bytes, so h is the name zero-padded to
32 bytes; one CipherState serves the whole handshake and InitializeKey resets its nonce; the AESGCM
nonce is 32 zero bits and the 64-bit big-endian counter; Split gives the initiator→responder key first.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError as ProtobufDecodeError

from whatsapp.errors import CryptoError, DecodeError, HandshakeError
from whatsapp.proto import wa6_pb2

PROTOCOL_NAME = b"Noise_XX_25519_AESGCM_SHA256"
HASHLEN = 32
DHLEN = 32
TAG_LEN = 16
INTRO_HEADER = b"WA\x06\x03"  # "WA", magic 6, token dictionary 3: the only one this server speaks
ROUTING_MAGIC = b"ED\x00\x01"
MAX_FRAME = (1 << 24) - 1
MAX_NONCE = (1 << 64) - 1  # §5.1: n = 2^64-1 is reserved


def frame(payload: bytes) -> bytes:
    """One outgoing frame: u24 big-endian length, then the payload."""
    if len(payload) > MAX_FRAME:
        raise DecodeError(f"a frame holds at most {MAX_FRAME} bytes, not {len(payload)}")
    return len(payload).to_bytes(3, "big") + payload


class ClientStream:
    """Cuts what a client sends into frames: first its intro (routing prefix, WA header), then frames.

    `feed(bytes)` returns every frame completed so far; `header` and `routing_info` are set once the
    intro is read. A malformed stream raises DecodeError, and keeps raising: it cannot be resynchronised.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._data = bytearray()
        self._max_frame = max_frame
        self._broken: str | None = None
        self.header: bytes | None = None
        self.routing_info: bytes | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that are not part of a complete frame yet."""
        return len(self._data)

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._broken is not None:
            raise DecodeError(f"client stream already broken: {self._broken}")
        self._data += chunk
        try:
            if self.header is None and not self._take_intro():
                return []
            return self._take_frames()
        except DecodeError as exc:
            self._broken = str(exc)
            raise

    def _take_intro(self) -> bool:
        data = self._data
        offset = 0
        if data[:2] == ROUTING_MAGIC[:2]:
            if len(data) < 7:
                return False
            if bytes(data[:4]) != ROUTING_MAGIC:
                raise DecodeError(f"routing prefix must start {ROUTING_MAGIC.hex()}, not {bytes(data[:4]).hex()}")
            offset = 7 + int.from_bytes(data[4:7], "big")
            routing = bytes(data[7:offset])
        else:
            routing = None
        if len(data) < offset + 2:
            return False
        if bytes(data[offset:offset + 2]) != b"WA":
            raise DecodeError(f"a client stream starts with 'WA', not {bytes(data[offset:offset + 2])!r}")
        if len(data) < offset + 4:
            return False
        self.header = bytes(data[offset:offset + 4])
        self.routing_info = routing
        del data[:offset + 4]
        return True

    def _take_frames(self) -> list[bytes]:
        frames: list[bytes] = []
        data = self._data
        while len(data) >= 3:
            size = int.from_bytes(data[:3], "big")
            if size > self._max_frame:
                raise DecodeError(f"client frame of {size} bytes is over the {self._max_frame}-byte limit")
            if len(data) < 3 + size:
                break
            frames.append(bytes(data[3:3 + size]))
            del data[:3 + size]
        return frames


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def noise_hkdf(chaining_key: bytes, input_key_material: bytes) -> tuple[bytes, bytes]:
    """§4.3 HKDF with two outputs."""
    temp = _hmac(chaining_key, input_key_material)
    first = _hmac(temp, b"\x01")
    return first, _hmac(temp, first + b"\x02")


class CipherState:
    """§5.1: a key (or none) and a 64-bit nonce; AESGCM nonces per §12.3."""

    def __init__(self, key: bytes | None = None) -> None:
        self.k = key
        self.n = 0

    def initialize_key(self, key: bytes) -> None:
        self.k = key
        self.n = 0

    def _nonce(self) -> bytes:
        if self.n >= MAX_NONCE:
            raise CryptoError("Noise nonce exhausted")
        return b"\x00\x00\x00\x00" + self.n.to_bytes(8, "big")

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        if self.k is None:
            return plaintext
        sealed = AESGCM(self.k).encrypt(self._nonce(), plaintext, ad)
        self.n += 1
        return sealed

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        if self.k is None:
            return ciphertext
        nonce = self._nonce()
        # The nonce is spent whether or not the tag checks: the peer moved its counter when it sealed.
        self.n += 1
        try:
            return AESGCM(self.k).decrypt(nonce, ciphertext, ad)
        except (InvalidTag, ValueError):
            raise CryptoError("AES-GCM tag does not verify") from None


class SymmetricState:
    """§5.2: ck, h and the handshake's CipherState."""

    def __init__(self, protocol_name: bytes) -> None:
        h = protocol_name.ljust(HASHLEN, b"\x00") if len(protocol_name) <= HASHLEN else hashlib.sha256(
            protocol_name).digest()
        self.h = h
        self.ck = h
        self.cipher = CipherState()

    def mix_key(self, input_key_material: bytes) -> None:
        self.ck, temp_k = noise_hkdf(self.ck, input_key_material)
        self.cipher.initialize_key(temp_k[:32])

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self.cipher.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        first, second = noise_hkdf(self.ck, b"")
        return CipherState(first[:32]), CipherState(second[:32])


def _dh(private: bytes, public: bytes) -> bytes:
    """§12.1 DH(key_pair, public_key); an all-zero result (a small-order public key) is refused."""
    if len(public) != DHLEN:
        raise HandshakeError(f"a Curve25519 public key is {DHLEN} bytes, not {len(public)}")
    try:
        return X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        raise HandshakeError("Diffie-Hellman with a small-order public key") from None


def _public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


class ServerTransport:
    """The responder's transport after Split: reads with the initiator's cipher, writes with its own; AD empty."""

    def __init__(self, read: CipherState, write: CipherState) -> None:
        self._read = read
        self._write = write

    @property
    def read_counter(self) -> int:
        return self._read.n

    @property
    def write_counter(self) -> int:
        return self._write.n

    def encrypt(self, plaintext: bytes) -> bytes:
        if len(plaintext) + TAG_LEN > MAX_FRAME:
            raise DecodeError(f"a sealed stanza of {len(plaintext) + TAG_LEN} bytes does not fit in a frame")
        return self._write.encrypt_with_ad(b"", plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        return self._read.decrypt_with_ad(b"", ciphertext)


@dataclass(slots=True)
class Responded:
    """What the responder learned once the third message was read."""

    client_static: bytes
    client_payload: bytes
    transport: ServerTransport


def _handshake_message(data: bytes, part: str) -> wa6_pb2.HandshakeMessage:
    message = wa6_pb2.HandshakeMessage()
    try:
        message.ParseFromString(data)
    except (ProtobufDecodeError, ValueError) as exc:
        raise HandshakeError(f"{part}: not a HandshakeMessage ({exc})") from None
    if not message.HasField(part):
        raise HandshakeError(f"expected a HandshakeMessage with {part}")
    return message


class NoiseResponder:
    """XX as the responder: `read_client_hello(frame) -> serverHello frame`, `read_client_finish(frame) -> Responded`.

    `static_private` is the server's long-term key (its public half goes in the leaf certificate);
    `cert_chain` the serialized CertChain sent as the second message's payload.
    """

    def __init__(self, static_private: bytes, cert_chain: bytes, *, prologue: bytes,
                 ephemeral_private: bytes | None = None) -> None:
        if prologue != INTRO_HEADER:
            raise HandshakeError(f"intro header {prologue.hex()} is not spoken here (only {INTRO_HEADER.hex()})")
        self._s = static_private
        self._e = ephemeral_private or X25519PrivateKey.generate().private_bytes_raw()
        self._cert_chain = cert_chain
        self._state = SymmetricState(PROTOCOL_NAME)
        self._state.mix_hash(prologue)
        self._stage = 1

    def _at(self, stage: int) -> None:
        if self._stage != stage:
            raise HandshakeError(f"responder expected message {self._stage}, got a call for message {stage}")
        self._stage = 0  # until this message is fully processed: a failed handshake is never resumed

    def read_client_hello(self, data: bytes) -> bytes:
        """Message 1 (`-> e`), then message 2 (`<- e, ee, s, es` + the certificate chain), framed."""
        self._at(1)
        re = _handshake_message(data, "clientHello").clientHello.ephemeral
        if len(re) != DHLEN:
            raise HandshakeError(f"clientHello ephemeral is {len(re)} bytes, not {DHLEN}")
        state = self._state
        state.mix_hash(re)
        e_public = _public(self._e)
        state.mix_hash(e_public)  # e
        state.mix_key(_dh(self._e, re))  # ee
        encrypted_static = state.encrypt_and_hash(_public(self._s))  # s
        state.mix_key(_dh(self._s, re))  # es
        encrypted_chain = state.encrypt_and_hash(self._cert_chain)
        hello = wa6_pb2.HandshakeMessage(serverHello=wa6_pb2.HandshakeMessage.ServerHello(
            ephemeral=e_public, static=encrypted_static, payload=encrypted_chain))
        self._stage = 3
        return frame(hello.SerializeToString())

    def read_client_finish(self, data: bytes) -> Responded:
        """Message 3 (`-> s, se` + the ClientPayload); Split."""
        self._at(3)
        finish = _handshake_message(data, "clientFinish").clientFinish
        if len(finish.static) != DHLEN + TAG_LEN or not finish.payload:
            raise HandshakeError("clientFinish needs a sealed 32-byte static key and a payload")
        state = self._state
        try:
            rs = state.decrypt_and_hash(finish.static)  # s
        except CryptoError as exc:
            raise HandshakeError(f"clientFinish: the client static key does not decrypt: {exc}") from None
        state.mix_key(_dh(self._e, rs))  # se (the responder's e with the initiator's s)
        try:
            payload = state.decrypt_and_hash(finish.payload)
        except CryptoError as exc:
            raise HandshakeError(f"clientFinish: the client payload does not decrypt: {exc}") from None
        to_responder, to_initiator = state.split()
        self._stage = 4
        return Responded(rs, payload, ServerTransport(read=to_responder, write=to_initiator))
