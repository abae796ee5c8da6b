"""The library's own error types.

Every bad input (a truncated frame, a malformed node, a bad MAC, a forged signature) raises one
of these, naming what was wrong and where, never an IndexError or a bare ValueError.
"""

from __future__ import annotations


class WhatsAppError(Exception):
    """Base class of every error this library raises on purpose."""


class DecodeError(WhatsAppError):
    """Malformed bytes: a binary node, a frame, a protobuf or a key of the wrong shape."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.reason = message
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at offset {offset})")


class EncodeError(WhatsAppError):
    """A value that cannot be put on the wire (too long, wrong type)."""


class CryptoError(WhatsAppError):
    """A MAC, tag or signature check failed, or a key had the wrong form."""


class HandshakeError(WhatsAppError):
    """The Noise handshake could not complete."""


class CertificateError(HandshakeError):
    """The server's certificate chain did not verify."""


class PairingError(WhatsAppError):
    """Pairing data from the server or the phone did not check out."""
