"""Messages that act on other messages, both ways: reactions, edits, revokes and poll votes.

Received: every `MessageReceived` stays the raw event; the client then raises the typed one this module
derives from it (`ReactionReceived`, `MessageEdited`, `MessageRevoked`, `PollVote`). A poll vote opens
only with the poll's message secret: for our polls it is in the sent-message store (whatsapp/sentstore.py,
5,000 / 3 days), which keeps every send with the secret it left with; a vote in a poll that is not ours,
or older than the store, is logged at DEBUG and left raw.
Sent: the helpers build the message (whatsapp/message_kinds.py, whatsapp/polls.py) and send it like any
other; the stanza's `edit` attribute and `<meta polltype>` follow from the content (whatsapp/compose.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from loguru import logger

from whatsapp.addressing import own_addresses
from whatsapp.context import Context
from whatsapp.errors import CryptoError, SendError
from whatsapp.events import Event, MessageEdited, MessageReceived, MessageRevoked, PollVote, ReactionReceived
from whatsapp.jid import JID, LID
from whatsapp.message_kinds import (
    MessageRef,
    Target,
    edit_message,
    message_key,
    reaction_message,
    ref_of,
    revoke_message,
)
from whatsapp.messages import SendResult
from whatsapp.polls import chosen_options, decrypt_vote, encrypt_vote, poll_creation, poll_message
from whatsapp.proto import common_pb2, e2e_pb2
from whatsapp.sent import SentMessages

SendFn = Callable[[JID, e2e_pb2.Message], Awaitable[SendResult]]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _author(event: MessageReceived, key: common_pb2.MessageKey) -> JID | None:
    """The target's author, read from a key written from the point of view of `event`'s sender."""
    if key.fromMe:
        return event.sender.to_non_ad()
    raw = key.participant or key.remoteJID
    jid = JID.try_parse(raw) if raw else None
    return jid.to_non_ad() if jid is not None and jid.is_user else None


class Interactions:
    def __init__(self, ctx: Context, sent: SentMessages, send: SendFn,
                 now_ms: Callable[[], int] = _now_ms) -> None:
        self.ctx = ctx
        self.sent = sent
        self._send = send
        self._now_ms = now_ms

    # ---- received -----------------------------------------------------------------------------------------

    async def derive(self, event: MessageReceived) -> Event | None:
        """The typed event a received message stands for, or None for plain content."""
        message = event.message
        if message.HasField("editedMessage") and message.editedMessage.HasField("message"):
            message = message.editedMessage.message
        if message.HasField("reactionMessage"):
            reaction = message.reactionMessage
            return ReactionReceived(event, reaction.key.ID, _author(event, reaction.key), reaction.text)
        if message.HasField("protocolMessage") and message.protocolMessage.HasField("key"):
            protocol = message.protocolMessage
            if protocol.type == e2e_pb2.ProtocolMessage.REVOKE:
                return MessageRevoked(event, protocol.key.ID, by_admin=not protocol.key.fromMe)
            if protocol.type == e2e_pb2.ProtocolMessage.MESSAGE_EDIT and protocol.HasField("editedMessage"):
                return MessageEdited(event, protocol.key.ID, protocol.editedMessage)
        if message.HasField("pollUpdateMessage"):
            return await self._vote(event, message.pollUpdateMessage)
        return None

    async def _vote(self, event: MessageReceived, update: e2e_pb2.PollUpdateMessage) -> PollVote | None:
        poll_id = update.pollCreationMessageKey.ID
        sent = await self.sent.get(poll_id)
        poll = poll_creation(sent.message) if sent is not None else None
        secret = sent.message.messageContextInfo.messageSecret if sent is not None else b""
        if poll is None or not secret:
            logger.debug("vote {} in poll {}, which is not one of ours we still know: left raw", event.id, poll_id)
            return None
        me_pn, me_lid = own_addresses(self.ctx.auth.creds)
        ours = [str(j.to_non_ad()) for j in (me_pn, me_lid) if j is not None]
        voters = [str(event.sender.to_non_ad())] + ([str(event.sender_alt)] if event.sender_alt else [])
        if event.from_me:
            voters += ours
        try:
            hashes = decrypt_vote(secret, update, ours, voters)
        except CryptoError as exc:
            logger.warning("vote {} in poll {} could not be decrypted: {}", event.id, poll_id, exc)
            return None
        return PollVote(event, poll_id, tuple(chosen_options(poll, hashes)), tuple(hashes))

    # ---- sent ---------------------------------------------------------------------------------------------

    async def send_content(self, chat: JID, message: e2e_pb2.Message) -> SendResult:
        return await self._send(chat, message)

    async def react(self, target: Target, emoji: str) -> SendResult:
        return await self._send(ref_of(target).chat, reaction_message(target, emoji, self._now_ms()))

    async def edit(self, target: Target, new_content: e2e_pb2.Message) -> SendResult:
        if not ref_of(target).from_me:
            raise SendError(ref_of(target).id, None, "only our own messages can be edited")
        return await self._send(ref_of(target).chat, edit_message(target, new_content, self._now_ms()))

    async def revoke(self, target: Target) -> SendResult:
        return await self._send(ref_of(target).chat, revoke_message(target))

    async def send_poll(self, chat: JID, name: str, options: Sequence[str], selectable: int) -> SendResult:
        return await self._send(chat, poll_message(name, options, selectable))

    async def vote(self, poll: Target, options: Sequence[str]) -> SendResult:
        """Vote `options` (names; none withdraws) in a received poll, or in one of ours by its MessageRef."""
        ref = ref_of(poll)
        me_pn, me_lid = own_addresses(self.ctx.auth.creds)
        if isinstance(poll, MessageReceived) and not poll.from_me:
            message, creator = poll.message, poll.sender.to_non_ad()
        else:
            sent = await self.sent.get(ref.id)
            if sent is None:
                raise SendError(ref.id, None, "the poll is not among our recent sends")
            message, creator = sent.message, (me_lid if ref.chat.server == LID and me_lid else me_pn).to_non_ad()
        secret = message.messageContextInfo.messageSecret
        creation = poll_creation(message)
        if creation is None or not secret:
            raise SendError(ref.id, None, "not a poll with a message secret")
        unknown = set(options) - {o.optionName for o in creation.options}
        if unknown:
            raise ValueError(f"the poll has no option {sorted(unknown)!r}")
        # As whatsmeow `msgsecret.go` EncryptPollVote: our LID unless the poll's author is addressed by PN.
        voter = (me_lid if creator.server == LID and me_lid else me_pn).to_non_ad()
        update = encrypt_vote(secret, message_key(ref), str(creator), str(voter), options, self._now_ms())
        return await self._send(ref.chat, update)


__all__ = ["Interactions", "MessageRef"]
