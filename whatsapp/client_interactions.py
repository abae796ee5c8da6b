"""The Client's methods for interactions: receipts, typing and presence, reactions, edits, revokes, polls,
locations, contact cards, disappearing timers and calls (docs/architecture.md §Interactions).

One-line delegates to the concerns that do the work (whatsapp/receipts.py, chatstate.py, presence.py,
interactions.py, calls.py), kept apart from whatsapp/client.py so the facade stays one screenful per topic.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from whatsapp import events
from whatsapp.calls import Calls
from whatsapp.chatstate import ChatPresence
from whatsapp.compose import text_message
from whatsapp.events import MessageReceived
from whatsapp.interactions import Interactions
from whatsapp.jid import JID
from whatsapp.message_kinds import Target, contact_message, ephemeral_setting_message, location_message, vcard
from whatsapp.messages import SendResult
from whatsapp.presence import Presence
from whatsapp.proto import e2e_pb2
from whatsapp.receipts import Receipts


def as_jid(jid: JID | str) -> JID:
    return JID.parse(jid) if isinstance(jid, str) else jid


class InteractionMethods:
    """Mixed into `Client`, which sets these concerns up in its constructor."""

    _receipts: Receipts
    _chat: ChatPresence
    _presence: Presence
    _interactions: Interactions
    _calls: Calls

    async def mark_read(self, chat: JID | str | MessageReceived, ids: Sequence[str] = (), sender: JID | None = None,
                        *, played: bool = False, private: bool = False) -> None:
        """Read receipts (blue ticks) for messages of one author; a MessageReceived marks itself. `played`: voice
        notes listened to; `private`: read-self, so only our own devices learn it (read receipts off)."""
        if isinstance(chat, MessageReceived):
            event = chat
            chat, ids, sender = event.chat, [event.id], event.sender if event.is_group else None
        await self._receipts.mark_read(as_jid(chat), ids, sender, played=played, private=private)

    async def send_chat_presence(self, chat: JID | str, state: str = "composing") -> None:
        """Typing indicator in `chat`: "composing", "recording" (a voice note) or "paused"."""
        await self._chat.send_state(as_jid(chat), state)

    def typing(self, chat: JID | str, state: str = "composing") -> contextlib.AbstractAsyncContextManager[None]:
        """`async with client.typing(chat): ...`: composing while the block runs (repeated), paused after."""
        return self._typing(as_jid(chat), state)

    @contextlib.asynccontextmanager
    async def _typing(self, chat: JID, state: str) -> AsyncIterator[None]:
        async with self._chat.typing(chat, state):
            yield

    async def send_presence(self, kind: str) -> None:
        """Announce "available" (online; receipts count as active) or "unavailable", now and after each login."""
        await self._presence.set(kind)

    async def subscribe_presence(self, jid: JID | str) -> None:
        """Ask for a contact's presence: `PresenceUpdate` events follow (WhatsApp wants us available first)."""
        await self._chat.subscribe(as_jid(jid))

    async def send_reaction(self, target: Target, emoji: str) -> SendResult:
        """React to a message (a MessageReceived, or a MessageRef to one of ours); "" removes the reaction."""
        return await self._interactions.react(target, emoji)

    async def edit_message(self, target: Target, new_text: str | e2e_pb2.Message) -> SendResult:
        """Replace the content of one of our messages (WhatsApp allows it for 15 minutes)."""
        content = text_message(new_text) if isinstance(new_text, str) else new_text
        return await self._interactions.edit(target, content)

    async def revoke_message(self, target: Target) -> SendResult:
        """Delete a message for everyone: ours, or as a group admin someone else's."""
        return await self._interactions.revoke(target)

    async def send_poll(self, jid: JID | str, name: str, options: Sequence[str], *, selectable: int = 1) -> SendResult:
        """A poll; votes come back as `PollVote` events. `selectable`: choices per voter (0: any number)."""
        return await self._interactions.send_poll(as_jid(jid), name, options, selectable)

    async def vote_poll(self, poll: Target, options: Sequence[str]) -> SendResult:
        """Vote in a poll (a received MessageReceived, or a MessageRef to ours); no options withdraws."""
        return await self._interactions.vote(poll, options)

    async def send_location(self, jid: JID | str, latitude: float, longitude: float, *, name: str | None = None,
                            address: str | None = None, quoted: MessageReceived | None = None) -> SendResult:
        message = location_message(latitude, longitude, name, address, quoted)
        return await self._interactions.send_content(as_jid(jid), message)

    async def send_contact(self, jid: JID | str, name: str, phone: str | None = None, *, card: str | None = None,
                           quoted: MessageReceived | None = None) -> SendResult:
        """A contact card: from a name and number, or a vCard of your own (`card`)."""
        if card is None and phone is None:
            raise ValueError("send_contact needs a phone number or a vCard")
        message = contact_message(name, card or vcard(name, phone or ""), quoted)
        return await self._interactions.send_content(as_jid(jid), message)

    async def set_disappearing(self, jid: JID | str, seconds: int) -> SendResult:
        """Set a 1:1 chat's disappearing-message timer (0: off); later sends pass `expiration=seconds`."""
        return await self._interactions.send_content(as_jid(jid), ephemeral_setting_message(seconds))

    async def reject_call(self, call: events.CallOffered) -> None:
        """Decline a ringing call (a companion cannot answer one)."""
        await self._calls.reject(call.caller, call.call_id, call.creator)
