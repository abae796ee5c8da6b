"""Every error this library raises on purpose, in one tree (docs/architecture.md §Errors).

    WhatsAppError                       catch-all for the library
    ├── ProtocolError                   bytes or stanzas that break the protocol
    │   ├── DecodeError                 malformed frame, node, protobuf or key (`.offset` when known)
    │   │   └── MalformedMessageError   Signal message bytes that do not parse
    │   └── EncodeError                 a value that cannot be put on the wire
    ├── CryptoError                     a MAC, tag or signature check failed
    │   ├── AppStateMismatch            an app-state snapshot or patch failed a MAC or its LTHash (`.collection`)
    │   └── SignalError                 Signal decrypt/session failures (one class per remedy)
    │       ├── NoSessionError, BadMacError, DuplicateMessageError, UntrustedIdentityError,
    │       └── InvalidPreKeyError, InvalidSignatureError, InvalidMessageError
    ├── TransportError                  the connection to the server failed or is gone
    │   ├── HandshakeError              the Noise handshake did not complete
    │   │   └── CertificateError        the server's certificate chain did not verify
    │   ├── SocketClosed                the WebSocket closed (either side, or the network)
    │   ├── ConnectionGone              not connected, or it closed while a request waited
    │   └── KeepaliveFailed             the server stopped answering pings
    ├── IqError                         the server answered an IQ with type="error" (`.code`, `.text`)
    ├── IqTimeout                       no answer to an IQ in time
    ├── AppStateKeyMissing              an app-state patch names a key our phone has not shared (`.key_id`)
    ├── SendError                       the server refused a message (`.code`, e.g. 463) or nobody could get it
    ├── MediaError                      a media transfer failed
    │   ├── MediaIntegrityError         a downloaded blob failed its hash or MAC check (also a CryptoError)
    │   ├── MediaTooLarge               over the download cap
    │   ├── MediaDownloadError          every host failed (`.status`) ─ MediaExpired (404/410)
    │   ├── MediaUploadError            no host accepted the upload
    │   └── MediaRetryError             the phone could not upload the media again (`.code`)
    ├── PairingError                    pairing data from the server or the phone did not check out
    │   ├── PairRejected                a forged pair-success: `.reply` is the error IQ to send
    │   └── ADVVerificationError        (whatsapp.adv) the account signature or HMAC failed
    └── StorageError                    a session store could not load, save or lock (storage/errors.py)

Every bad input (a truncated frame, a malformed node, a bad MAC, a forged signature) raises one of
these, naming what was wrong and where, never an IndexError or a bare ValueError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: whatsapp.binary itself raises the errors defined here
    from whatsapp.binary import Node


class WhatsAppError(Exception):
    """Base class of every error this library raises on purpose."""


# -- protocol ---------------------------------------------------------------------------------------------


class ProtocolError(WhatsAppError):
    """Bytes or stanzas that do not follow the protocol."""


class DecodeError(ProtocolError):
    """Malformed bytes: a binary node, a frame, a protobuf or a key of the wrong shape."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.reason = message
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at offset {offset})")


class EncodeError(ProtocolError):
    """A value that cannot be put on the wire (too long, wrong type)."""


class CryptoError(WhatsAppError):
    """A MAC, tag or signature check failed, or a key had the wrong form."""


# -- connection -------------------------------------------------------------------------------------------


class TransportError(WhatsAppError):
    """The connection to the server could not be made, or is gone."""


class HandshakeError(TransportError):
    """The Noise handshake could not complete."""


class CertificateError(HandshakeError):
    """The server's certificate chain did not verify."""


class SocketClosed(TransportError):
    """The WebSocket is gone (closed by either side or by a network error)."""


class ConnectionGone(TransportError):
    """Not connected, or the connection closed while a request was waiting for its answer."""


class NotPaired(WhatsAppError):
    """The operation needs a linked device (a logout, the account's devices) and this one was never paired."""


class KeepaliveFailed(TransportError):
    """The server stopped answering keepalive pings (or sent nothing for too long)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


# -- requests and sends -----------------------------------------------------------------------------------


class IqError(WhatsAppError):
    """The server answered an IQ with `type="error"`; `code` is its error code (e.g. 404, 500)."""

    def __init__(self, code: int | None, text: str, node: Node | None = None) -> None:
        self.code = code
        self.text = text
        self.node = node
        super().__init__(f"iq error {code}: {text}")


class IqTimeout(WhatsAppError):
    """No answer to an IQ within its timeout."""


class SendError(WhatsAppError):
    """The server refused a message (`<ack error=..>`; `code`, e.g. 463) or it could not be encrypted for anybody."""

    def __init__(self, message_id: str, code: int | None, text: str) -> None:
        self.message_id = message_id
        self.code = code
        super().__init__(f"message {message_id} not sent: {text}" + (f" (error {code})" if code else ""))


# -- media (whatsapp/download.py, upload.py, mediaretry.py) -------------------------------------------------


class MediaError(WhatsAppError):
    """A media transfer failed: see the subclasses."""


class MediaIntegrityError(MediaError, CryptoError):
    """A downloaded blob failed a check (`.check`: "fileEncSha256", "mac", "padding", "fileSha256"); nothing kept."""

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        super().__init__(message)


class MediaTooLarge(MediaError):
    """The media is larger than the download cap (`.limit` bytes); nothing kept."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"media of {size} bytes is over the download limit of {limit} bytes")


class MediaDownloadError(MediaError):
    """Every media host failed (`.status`: the last HTTP status, None for a network error)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class MediaExpired(MediaDownloadError):
    """The media host no longer has the blob (404/410): only the sender's phone can upload it again."""


class MediaUploadError(MediaError):
    """No media host accepted the upload (`.status`: the last HTTP status, None for a network error)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class MediaRetryError(MediaError):
    """The phone could not upload the media again (`.code`: its error code or result; 2 = not on the phone)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


# -- pairing ----------------------------------------------------------------------------------------------


class PairingError(WhatsAppError):
    """Pairing data from the server or the phone did not check out."""


class PairRejected(PairingError):
    """pair-success did not verify; `reply` is the error IQ to send; nothing may be stored."""

    def __init__(self, message: str, reply: Node) -> None:
        self.reply = reply
        super().__init__(message)


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


# -- app state (whatsapp/syncd.py) ------------------------------------------------------------------------


class AppStateMismatch(CryptoError):
    """An app-state snapshot or patch of `.collection` failed a value, index, snapshot or patch MAC (the LTHash
    the server sent disagrees with ours): tampered or out of step; nothing of it is applied."""

    def __init__(self, collection: str, message: str) -> None:
        self.collection = collection
        super().__init__(message)


class AppStateKeyMissing(WhatsAppError):
    """An app-state record is encrypted with a key (`.key_id`) our phone has not shared with us yet."""

    def __init__(self, key_id: bytes) -> None:
        self.key_id = key_id
        super().__init__(f"app-state key {key_id.hex()} is not known")


# -- storage (storage/) -----------------------------------------------------------------------------------


class StorageError(WhatsAppError):
    """A session store could not load, save or lock the auth state; storage/errors.py derives from it."""
