"""Status updates (stories): posting a text status, and telling received statuses apart from chat messages.

A status is a sender-key message to `status@broadcast` whose stanza names every recipient device (the
server keeps no audience for us), sent by whatsapp/send.py with the recipients given; a text status is an
ExtendedTextMessage with its background and text colours (Baileys `src/Utils/messages.ts`,
whatsmeow `send.go`). A received message from `status@broadcast` becomes `events.StatusPosted`, not a
`MessageReceived`: bots that answer chats must not answer someone's story as if it were a chat.
"""

from __future__ import annotations

from whatsapp.events import MessageReceived
from whatsapp.events_status import StatusPosted
from whatsapp.jid import STATUS_BROADCAST_JID
from whatsapp.proto import e2e_pb2

DEFAULT_BACKGROUND = 0xFF1E6E4F  # WhatsApp's green, as ARGB
DEFAULT_TEXT_COLOUR = 0xFFFFFFFF


def text_status(text: str, background: int = DEFAULT_BACKGROUND) -> e2e_pb2.Message:
    return e2e_pb2.Message(extendedTextMessage=e2e_pb2.ExtendedTextMessage(
        text=text, backgroundArgb=background, textArgb=DEFAULT_TEXT_COLOUR))


def as_status(event: MessageReceived) -> StatusPosted | None:
    """The status a received message is, or None for a chat message."""
    if event.chat != STATUS_BROADCAST_JID:
        return None
    return StatusPosted(event.sender, event.id, event.timestamp, event.push_name, event.from_me, event.message,
                        event.sender_alt, event.stable_id)
