"""What a received `Message` protobuf says: the content inside its wrappers, and its text. Pure functions.

Kept apart from the event classes so that `whatsapp.events` (which uses `message_text`) and the
send path (which builds messages) both depend on it, and it on nothing but the protobufs.
"""

from __future__ import annotations

from dataclasses import dataclass

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
# Content kinds that carry a `contextInfo` (replies, mentions, expiration), in the order they are looked for.
_WITH_CONTEXT = ("extendedTextMessage", "imageMessage", "videoMessage", "audioMessage", "documentMessage",
                 "stickerMessage", "contactMessage", "locationMessage", "ptvMessage")


@dataclass(frozen=True, slots=True)
class Quoted:
    """The message a reply quotes: its id, author and chat (when given) and the copy the reply carries."""

    id: str
    sender: JID | None
    chat: JID | None
    message: e2e_pb2.Message

    @property
    def text(self) -> str | None:
        return message_text(self.message)


def unwrap_message(message: e2e_pb2.Message) -> e2e_pb2.Message:
    """The content inside ephemeral/view-once wrappers (at most a few levels; never loops)."""
    for _ in range(4):
        for name in _FUTURE_PROOF_WRAPPERS:
            wrapper: e2e_pb2.FutureProofMessage = getattr(message, name)
            if message.HasField(name) and wrapper.HasField("message"):
                message = wrapper.message
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
                caption: str = media.caption
                return caption
    return None


def has_content(message: e2e_pb2.Message) -> bool:
    """Anything besides the sender-key distribution and context info (an SKDM-only message is plumbing)."""
    return any(field.name not in ("senderKeyDistributionMessage", "messageContextInfo")
               for field, _ in message.ListFields())


def context_info(message: e2e_pb2.Message) -> e2e_pb2.ContextInfo | None:
    """The `contextInfo` of the message's content (inside its wrappers), or None when it has none."""
    content = unwrap_message(message)
    for name in _WITH_CONTEXT:
        if content.HasField(name):
            part = getattr(content, name)
            if part.HasField("contextInfo"):
                info: e2e_pb2.ContextInfo = part.contextInfo
                return info
    return None


def mentioned_jids(message: e2e_pb2.Message) -> list[JID]:
    info = context_info(message)
    if info is None:
        return []
    return [jid for jid in (JID.try_parse(raw) for raw in info.mentionedJID) if jid is not None]


def quoted_message(message: e2e_pb2.Message) -> Quoted | None:
    info = context_info(message)
    if info is None or not info.stanzaID:
        return None
    return Quoted(info.stanzaID, JID.try_parse(info.participant) if info.participant else None,
                  JID.try_parse(info.remoteJID) if info.remoteJID else None, info.quotedMessage)


def expiration_of(message: e2e_pb2.Message) -> int:
    """The disappearing-message timer (seconds) the message was sent with; 0 for none."""
    info = context_info(message)
    return info.expiration if info is not None else 0
