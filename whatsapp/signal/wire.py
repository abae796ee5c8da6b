"""The Signal wire format as WhatsApp sends it: a version byte, a protobuf, and (for `msg`) a truncated MAC.

Shared by 1:1 sessions (`whatsapp.signal.session`) and sender keys (`whatsapp.signal.group`). Parsing only
checks shape (version byte, required fields, key lengths) and raises MalformedMessageError; what the bytes
mean cryptographically is decided by the callers. See docs/protocol.md §Signal sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from whatsapp.errors import CryptoError, MalformedMessageError
from whatsapp.keys import prefixed
from whatsapp.proto import signal_pb2

VERSION_BYTE = 0x33  # (3 << 4) | 3: current version 3, minimum version 3
MAC_LENGTH = 8

_M = TypeVar("_M", bound=Message)


def check_version(data: bytes, what: str, offset: int = 0) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        raise MalformedMessageError(f"{what}: empty or not bytes")
    if data[0] != VERSION_BYTE:
        raise MalformedMessageError(f"{what}: unsupported version byte 0x{data[0]:02x} (want 0x33)", offset)


def parse_proto(cls: type[_M], data: bytes, what: str, offset: int = 1) -> _M:
    """Parse a protobuf that sat after the version byte (`offset` is where it started, for the error)."""
    try:
        return cls.FromString(bytes(data))
    except ProtobufDecodeError as exc:
        raise MalformedMessageError(f"{what}: protobuf does not parse ({exc})", offset) from None


def parse_versioned(cls: type[_M], data: bytes, what: str, offset: int = 0) -> _M:
    """Version byte then protobuf: the SKDM and the signed part of an skmsg."""
    check_version(data, what, offset)
    return parse_proto(cls, data[1:], what, offset + 1)


def public_key(key: bytes, field: str) -> bytes:
    """A key as the wire must carry it: 33 bytes, 0x05-prefixed."""
    if len(key) != 33 or key[0] != 0x05:
        raise MalformedMessageError(f"{field} must be a 33-byte 0x05-prefixed key, got {len(key)} bytes")
    return bytes(key)


def as_public_key(key: bytes, what: str) -> bytes:
    """A key from a bundle or the store: 32 raw or 33 prefixed bytes, returned prefixed."""
    try:
        return prefixed(bytes(key))
    except CryptoError as exc:
        raise MalformedMessageError(f"{what}: {exc}") from None


@dataclass(frozen=True, slots=True)
class WhisperMessage:
    """A parsed `msg`: the fields plus what the MAC covers."""

    ratchet_key: bytes  # 33 bytes
    counter: int
    previous_counter: int
    ciphertext: bytes
    serialized: bytes  # version byte || protobuf, the MAC input after the identities
    mac: bytes

    @classmethod
    def parse(cls, data: bytes) -> WhisperMessage:
        check_version(data, "WhisperMessage")
        if len(data) < 1 + MAC_LENGTH + 1:
            raise MalformedMessageError(f"WhisperMessage too short ({len(data)} bytes)")
        serialized, mac = bytes(data[:-MAC_LENGTH]), bytes(data[-MAC_LENGTH:])
        proto = parse_proto(signal_pb2.WhisperMessage, serialized[1:], "WhisperMessage")
        if not (proto.HasField("ephemeralKey") and proto.HasField("counter") and proto.HasField("ciphertext")):
            raise MalformedMessageError("WhisperMessage lacks ephemeralKey, counter or ciphertext")
        return cls(
            ratchet_key=public_key(proto.ephemeralKey, "ephemeralKey"),
            counter=proto.counter,
            previous_counter=proto.previousCounter,
            ciphertext=proto.ciphertext,
            serialized=serialized,
            mac=mac,
        )


@dataclass(frozen=True, slots=True)
class PreKeyMessage:
    """A parsed `pkmsg`; read `pre_key_id` / `signed_pre_key_id` to load the keys before decrypting."""

    registration_id: int
    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes  # 33 bytes
    identity_key: bytes  # 33 bytes
    message: WhisperMessage

    @classmethod
    def parse(cls, data: bytes) -> PreKeyMessage:
        proto = parse_versioned(signal_pb2.PreKeyWhisperMessage, data, "PreKeyWhisperMessage")
        for name in ("baseKey", "identityKey", "message", "signedPreKeyId"):
            if not proto.HasField(name):
                raise MalformedMessageError(f"PreKeyWhisperMessage lacks {name}")
        return cls(
            registration_id=proto.registrationId,
            pre_key_id=proto.preKeyId if proto.HasField("preKeyId") else None,
            signed_pre_key_id=proto.signedPreKeyId,
            base_key=public_key(proto.baseKey, "baseKey"),
            identity_key=public_key(proto.identityKey, "identityKey"),
            message=WhisperMessage.parse(proto.message),
        )
