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


# -- Signal protocol (whatsapp/signal/) ------------------------------------------------------------------
# One class per failure a client must tell apart: a duplicate is acked and dropped, a bad MAC or missing
# session triggers a retry receipt, an identity change is a policy decision, a missing prekey means a re-upload.


class SignalError(CryptoError):
    """A Signal message could not be decrypted or a session could not be built."""


class NoSessionError(SignalError):
    """No session (or no sender key) exists to encrypt or decrypt with."""


class BadMacError(SignalError):
    """The message MAC matched no session state: a wrong, stale or forged session."""


class DuplicateMessageError(SignalError):
    """The message key for this counter was already used (a redelivered message) or has expired."""


class UntrustedIdentityError(SignalError):
    """The peer's identity key differs from the stored one and the caller did not accept the change."""


class InvalidPreKeyError(SignalError):
    """A PreKeyWhisperMessage named a one-time or signed prekey we do not have."""

    def __init__(self, message: str, pre_key_id: int | None = None) -> None:
        self.pre_key_id = pre_key_id
        super().__init__(message)


class InvalidSignatureError(SignalError):
    """A signed prekey or sender-key message signature did not verify."""


class InvalidMessageError(SignalError):
    """A well-formed message the ratchet refuses: too far in the future, on a closed chain."""


class MalformedMessageError(DecodeError):
    """Signal message bytes that do not parse: bad version byte, truncated protobuf, wrong key sizes."""
