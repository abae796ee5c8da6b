"""Building outgoing messages and their stanza parts: ids, types, wrappers. Pure functions.

`text_message` is what `Client.send_text` sends; the others are the pieces every send (direct,
group, resend) shares: the `3EB0…` id, the `<message type>`, our other devices' DeviceSentMessage
copy, the sender-key distribution message and the `<enc>` node.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from hashlib import sha256

from whatsapp.binary import Node
from whatsapp.content import expiration_of, unwrap_message
from whatsapp.events import MessageReceived
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2
from whatsapp.quoting import bounded_quote

_MEDIA_FIELDS = ("imageMessage", "videoMessage", "audioMessage", "documentMessage", "stickerMessage",
                 "contactMessage", "locationMessage")


def generate_message_id(me_user: str, now: int | None = None) -> str:
    """`3EB0` + 18 upper hex digits of SHA256(BE64(unix s) || user || "@c.us" || 16 random bytes)."""
    stamp = (now if now is not None else int(time.time())).to_bytes(8, "big")
    digest = sha256(stamp + me_user.encode() + b"@c.us" + secrets.token_bytes(16)).digest()
    return "3EB0" + digest[:9].hex().upper()


def derived_message_id(seed: str, n: int = 0) -> str:
    """A `3EB0…` id that is the same every time for (`seed`, `n`): a reply to a received message (seed: its
    stable id, n: the reply's position) sent again after a crash is the same message for WhatsApp."""
    return "3EB0" + sha256(f"reply|{seed}|{n}".encode()).digest()[:9].hex().upper()


def stanza_type(message: e2e_pb2.Message) -> str:
    """The `<message type>`: reaction, poll, media or text (whatsmeow `send.go` getTypeFromMessage)."""
    # Inside view-once/ephemeral wrappers, as whatsmeow's getTypeFromMessage looks (a view-once image is media).
    present = {field.name for field, _ in unwrap_message(message).ListFields()}  # the schema may lack some
    if present & {"reactionMessage", "encReactionMessage"}:
        return "reaction"
    if present & {"pollCreationMessage", "pollUpdateMessage", "pollCreationMessageV2", "pollCreationMessageV3"}:
        return "poll"
    if present & set(_MEDIA_FIELDS):
        return "media"
    return "text"


def device_sent_copy(message: e2e_pb2.Message, chat: JID) -> e2e_pb2.Message:
    """What our other devices get: the message wrapped in deviceSentMessage(destinationJID=chat)."""
    wrapped = e2e_pb2.Message()
    wrapped.deviceSentMessage.destinationJID = str(chat)
    wrapped.deviceSentMessage.message.CopyFrom(message)
    if message.HasField("messageContextInfo"):
        wrapped.messageContextInfo.CopyFrom(message.messageContextInfo)
    return wrapped


def skdm_message(group: JID, skdm: bytes) -> e2e_pb2.Message:
    message = e2e_pb2.Message()
    message.senderKeyDistributionMessage.groupID = str(group)
    message.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage = skdm
    return message


def enc_node(enc_type: str, body: bytes, count: int | None = None) -> Node:
    attrs: dict[str, str | JID] = {"v": "2", "type": enc_type}
    if count:
        attrs["count"] = str(count)
    return Node("enc", attrs, body)


def text_message(text: str, quoted: MessageReceived | None = None, mentions: Sequence[JID] = (),
                 expiration: int = 0) -> e2e_pb2.Message:
    """`conversation`, or `extendedTextMessage` with contextInfo when replying to `quoted`, mentioning
    users (their `@<number>` belongs in `text`) or sent with a disappearing-message timer."""
    message = e2e_pb2.Message()
    if quoted is None and not mentions and not expiration:
        message.conversation = text
        return message
    extended = message.extendedTextMessage
    extended.text = text
    if quoted is not None:
        quote_into(extended.contextInfo, quoted)
    if mentions:
        extended.contextInfo.mentionedJID.extend(str(jid.to_non_ad()) for jid in mentions)
    if expiration:
        extended.contextInfo.expiration = expiration
    return message


def quote_into(context: e2e_pb2.ContextInfo, quoted: MessageReceived) -> None:
    """Make `context` quote the received message (a reply; text or media): id, author, content, group chat,
    and the chat's disappearing-message timer when the quoted message had one (as the apps answer)."""
    context.stanzaID = quoted.id
    context.participant = str(quoted.sender.to_non_ad())
    context.quotedMessage.CopyFrom(bounded_quote(quoted.message))  # whatsapp/quoting.py
    if quoted.is_group:
        context.remoteJID = str(quoted.chat)
    if expiration := expiration_of(quoted.message):
        context.expiration = expiration


# `<message edit>` values (whatsmeow `types.EditAttribute`): what the message does to an earlier one.
EDIT_MESSAGE, EDIT_PIN, EDIT_SENDER_REVOKE, EDIT_ADMIN_REVOKE = "1", "2", "7", "8"


def edit_attribute(message: e2e_pb2.Message) -> str | None:
    """The stanza's `edit` attribute: an edit, a revoke (ours or an admin's), a reaction removed; else None."""
    if message.HasField("editedMessage") and message.editedMessage.HasField("message"):
        return edit_attribute(message.editedMessage.message)
    if message.HasField("protocolMessage") and message.protocolMessage.HasField("key"):
        protocol = message.protocolMessage
        if protocol.type == e2e_pb2.ProtocolMessage.REVOKE:
            return EDIT_SENDER_REVOKE if protocol.key.fromMe else EDIT_ADMIN_REVOKE
        if protocol.type == e2e_pb2.ProtocolMessage.MESSAGE_EDIT and protocol.HasField("editedMessage"):
            return EDIT_MESSAGE
    if message.HasField("reactionMessage") and not message.reactionMessage.text:
        return EDIT_SENDER_REVOKE
    return None


def stanza_extras(message: e2e_pb2.Message) -> tuple[dict[str, str], list[Node]]:
    """Attributes and children a message stanza adds for its kind: `edit`, and the `<meta polltype>` of polls
    (whatsmeow `send.go` getEditAttribute and getMessageContent)."""
    attrs: dict[str, str] = {}
    if (edit := edit_attribute(message)) is not None:
        attrs["edit"] = edit
    children: list[Node] = []
    if stanza_type(message) == "poll":
        vote = unwrap_message(message).HasField("pollUpdateMessage")
        children.append(Node("meta", {"polltype": "vote" if vote else "creation"}))
    return attrs, children
