"""Status updates (stories): posting a text status, and telling received statuses apart from chat messages.

A status is a sender-key message to `status@broadcast` whose stanza names every recipient device (the
server keeps no audience for us), sent by whatsapp/send.py with the recipients given; a text status is an
ExtendedTextMessage with its background and text colours (Baileys `src/Utils/messages.ts`,
whatsmeow `send.go`). A received message from `status@broadcast` becomes `events.StatusPosted`, not a
`MessageReceived`: bots that answer chats must not answer someone's story as if it were a chat.

With no recipient list a status goes to the bot's contacts (whatsmeow does the same from its contact
store; Baileys always wants `statusJidList`). A bot's contacts are the users whose push names it keeps
(whatsapp/contacts.py): the people who wrote to it. App-state address-book names are not a list we can
enumerate, and a bot's account rarely has an address book; a bot that wants them passes them. A contact
known by LID and PN is named once, by PN (the status is sent in PN addressing), through the stored mapping.
"""

from __future__ import annotations

from whatsapp.addressing import pn_user_for
from whatsapp.auth import AuthState
from whatsapp.events import MessageReceived
from whatsapp.events_status import StatusPosted
from whatsapp.jid import JID, S_WHATSAPP_NET, STATUS_BROADCAST_JID
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


async def default_audience(auth: AuthState, contacts: list[JID]) -> list[JID]:
    """The contacts as status recipients: PN where the LID's number is known, each user once."""
    audience: dict[str, JID] = {}
    for user in contacts:
        if not user.is_pn and (pn := await pn_user_for(auth, user.user)) is not None:
            user = JID(pn, S_WHATSAPP_NET)
        audience.setdefault(str(user.to_non_ad()), user.to_non_ad())
    return list(audience.values())
