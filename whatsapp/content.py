"""What a received `Message` protobuf says: the content inside its wrappers, and its text. Pure functions.

Kept apart from the event classes so that `whatsapp.events` (which uses `message_text`) and the
send path (which builds messages) both depend on it, and it on nothing but the protobufs.
"""

from __future__ import annotations

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
