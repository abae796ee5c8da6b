"""Message events and send results: what applications see of end-to-end encrypted messages.

`MessageReceived` is emitted once per decrypted `<message>` (after its records were committed and
before the delivery receipt leaves); `DecryptFailed` once per failed stanza (a retry receipt was
sent or the stanza was NACKed). `send_text`/`send_message` return a `SendResult` or raise
`SendError` when the server refuses the message (`<ack error=..>`, e.g. 463 missing privacy token).
"""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp.errors import WhatsAppError
from whatsapp.events import Event
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2

# Wrappers whose `.message` holds the real content (FutureProofMessage), unwrapped on receive.
_FUTURE_PROOF_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
)
_CAPTIONED = ("imageMessage", "videoMessage", "documentMessage")


def unwrap_message(message: e2e_pb2.Message) -> e2e_pb2.Message:
    """The content inside ephemeral/view-once wrappers (at most a few levels; never loops)."""
    for _ in range(4):
        for name in _FUTURE_PROOF_WRAPPERS:
            if message.HasField(name) and getattr(message, name).HasField("message"):
                message = getattr(message, name).message
                break
        else:
            return message
    return message


def message_text(message: e2e_pb2.Message) -> str | None:
    """Plain text of a message: conversation, extended text, or a media caption."""
    if message.HasField("conversation"):
        return message.conversation
    if message.HasField("extendedTextMessage"):
        return message.extendedTextMessage.text
    for name in _CAPTIONED:
        if message.HasField(name):
            media = getattr(message, name)
            if media.HasField("caption"):
                return media.caption
    return None


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    """A decrypted message. `chat` is the conversation (group or other user), `sender` the author's device."""

    chat: JID
    sender: JID
    id: str
    timestamp: int
    push_name: str | None
    from_me: bool
    is_group: bool
    offline: bool  # queued by the server while we were offline
    message: e2e_pb2.Message  # unwrapped (deviceSentMessage/ephemeral/viewOnce removed)
    sender_alt: JID | None = None  # the sender's other address (PN for a LID sender and vice versa)
    stanza_type: str | None = None  # the envelope's `type` (text, media, reaction, ...)

    @property
    def text(self) -> str | None:
        return message_text(self.message)


@dataclass(frozen=True, slots=True)
class DecryptFailed(Event):
    """A message that could not be decrypted; `retry_count` retry receipts were sent for it so far."""

    chat: JID
    sender: JID
    id: str
    error: str
    retry_count: int
    gave_up: bool  # NACKed: no further retry will be asked for


@dataclass(frozen=True, slots=True)
class SendResult:
    id: str
    timestamp: int | None
    devices: int  # how many device copies were encrypted (incl. our own other devices)


class SendError(WhatsAppError):
    """The server refused a message (`<ack error=..>`) or it could not be encrypted for anybody."""

    def __init__(self, message_id: str, code: int | None, text: str) -> None:
        self.message_id = message_id
        self.code = code
        super().__init__(f"message {message_id} not sent: {text}" + (f" (error {code})" if code else ""))
