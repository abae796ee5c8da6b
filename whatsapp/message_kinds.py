"""Building the messages that act on other messages, and the other content kinds. Pure functions.

A reaction, an edit and a revoke name their target by a `MessageKey` written from the sender's point of
view (whatsmeow `send.go` BuildMessageKey, Baileys `src/Utils/messages.ts`): `remoteJID` the chat,
`fromMe` whether the sender of the new message wrote the target, `participant` the target's author in a
group when that is someone else. An edit is a `protocolMessage` MESSAGE_EDIT inside `editedMessage`
(whatsmeow BuildEdit), a revoke a `protocolMessage` REVOKE (by an admin when the target is not ours); the
stanza's `edit` attribute follows from them (whatsapp/compose.py stanza_extras). Locations, contact cards
(vCard 3.0) and link previews from a given title and description (nothing is fetched) are plain content.
"""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp.compose import quote_into
from whatsapp.events import MessageReceived
from whatsapp.jid import JID
from whatsapp.proto import common_pb2, e2e_pb2


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message to act on: its chat and id, its author (None: us) and whether we wrote it."""

    chat: JID
    id: str
    sender: JID | None = None
    from_me: bool = True


Target = MessageReceived | MessageRef


def ref_of(target: Target) -> MessageRef:
    if isinstance(target, MessageRef):
        return target
    return MessageRef(target.chat, target.id, target.sender, target.from_me)


def message_key(target: Target) -> common_pb2.MessageKey:
    ref = ref_of(target)
    key = common_pb2.MessageKey(remoteJID=str(ref.chat.to_non_ad()), fromMe=ref.from_me, ID=ref.id)
    if ref.chat.is_group and not ref.from_me and ref.sender is not None:
        key.participant = str(ref.sender.to_non_ad())
    return key


def reaction_message(target: Target, emoji: str, now_ms: int) -> e2e_pb2.Message:
    """React with `emoji` to `target`; an empty emoji removes our reaction."""
    message = e2e_pb2.Message()
    reaction = message.reactionMessage
    reaction.key.CopyFrom(message_key(target))
    reaction.text = emoji
    reaction.senderTimestampMS = now_ms
    return message


def edit_message(target: Target, new_content: e2e_pb2.Message, now_ms: int) -> e2e_pb2.Message:
    """Replace the content of our message `target` by `new_content`."""
    message = e2e_pb2.Message()
    protocol = message.editedMessage.message.protocolMessage
    protocol.key.CopyFrom(message_key(target))
    protocol.type = e2e_pb2.ProtocolMessage.MESSAGE_EDIT
    protocol.editedMessage.CopyFrom(new_content)
    protocol.timestampMS = now_ms
    return message


def revoke_message(target: Target) -> e2e_pb2.Message:
    """Delete `target` for everyone: ours, or (as a group admin) someone else's."""
    message = e2e_pb2.Message()
    protocol = message.protocolMessage
    protocol.key.CopyFrom(message_key(target))
    protocol.type = e2e_pb2.ProtocolMessage.REVOKE
    return message


def ephemeral_setting_message(seconds: int) -> e2e_pb2.Message:
    """Set a 1:1 chat's disappearing-message timer (0 turns it off); WhatsApp offers 1 day, 7 and 90 days."""
    message = e2e_pb2.Message()
    message.protocolMessage.type = e2e_pb2.ProtocolMessage.EPHEMERAL_SETTING
    message.protocolMessage.ephemeralExpiration = seconds
    return message


def location_message(latitude: float, longitude: float, name: str | None = None, address: str | None = None,
                     quoted: MessageReceived | None = None) -> e2e_pb2.Message:
    message = e2e_pb2.Message()
    location = message.locationMessage
    location.degreesLatitude = latitude
    location.degreesLongitude = longitude
    if name:
        location.name = name
    if address:
        location.address = address
    if quoted is not None:
        quote_into(location.contextInfo, quoted)
    return message


def _vcard_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def vcard(name: str, phone: str, organization: str | None = None) -> str:
    """A vCard 3.0 with the `waid` parameter the apps use to offer "Message" for the number."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_vcard_escape(name)}"]
    if organization:
        lines.append(f"ORG:{_vcard_escape(organization)};")
    lines += [f"TEL;type=CELL;type=VOICE;waid={digits}:+{digits}", "END:VCARD"]
    return "\n".join(lines)


def contact_message(display_name: str, card: str, quoted: MessageReceived | None = None) -> e2e_pb2.Message:
    message = e2e_pb2.Message()
    contact = message.contactMessage
    contact.displayName = display_name
    contact.vcard = card
    if quoted is not None:
        quote_into(contact.contextInfo, quoted)
    return message


@dataclass(frozen=True, slots=True)
class LinkPreview:
    """A preview card for the first link of a text, from what the caller knows (never fetched)."""

    url: str
    title: str
    description: str = ""


def with_link_preview(message: e2e_pb2.Message, preview: LinkPreview) -> e2e_pb2.Message:
    """`message` (a text) as an extendedTextMessage carrying `preview`."""
    out = e2e_pb2.Message()
    out.CopyFrom(message)
    if out.HasField("conversation"):
        out.extendedTextMessage.text = out.conversation
        out.ClearField("conversation")
    extended = out.extendedTextMessage
    extended.matchedText = preview.url
    extended.title = preview.title
    if preview.description:
        extended.description = preview.description
    return out
