"""Status updates (stories) as events: what a contact posted to `status@broadcast`. Re-exported by
whatsapp/events.py; a status is not a chat message, so plugins that answer chats never see one."""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp.content import message_text
from whatsapp.event_base import Event
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2


@dataclass(frozen=True, slots=True)
class StatusPosted(Event):
    """A contact's (or our other device's) status update: `message` holds its text or media."""

    sender: JID  # the author's device
    id: str
    timestamp: int
    push_name: str | None
    from_me: bool
    message: e2e_pb2.Message
    sender_alt: JID | None = None
    stable_id: str = ""

    @property
    def text(self) -> str | None:
        return message_text(self.message)
