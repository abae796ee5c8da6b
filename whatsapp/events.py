"""Events the client raises for applications (the registry that delivers them: whatsapp/eventbus.py).

    @client.on(events.MessageReceived)
    async def got(event: events.MessageReceived) -> None: ...

    @client.on(events.ReactionReceived)
    async def reacted(event: events.ReactionReceived) -> None: ...

Subscribing to a class receives its subclasses too (`Event` receives everything). Protocol events the
client models are typed (receipts, presence, reactions, edits, revokes, poll votes, group changes, calls,
identity and block-list changes); every other stanza stays available raw, as `NodeReceived`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from whatsapp.binary import Node
from whatsapp.content import Quoted, mentioned_jids, message_text, quoted_message
from whatsapp.errors import MediaError
from whatsapp.event_base import Event as Event
from whatsapp.events_appstate import AppStateSynced as AppStateSynced
from whatsapp.events_appstate import ChatSettingChanged as ChatSettingChanged
from whatsapp.events_appstate import ContactUpdated as ContactUpdated
from whatsapp.events_status import StatusPosted as StatusPosted
from whatsapp.jid import JID
from whatsapp.media_message import MediaDownloads, MediaInfo, media_info
from whatsapp.proto import e2e_pb2, history_sync_pb2
from whatsapp.reconnect import Decision, DisconnectReason


@dataclass(frozen=True, slots=True)
class Connecting(Event):
    attempt: int  # 1 for the first attempt after an open connection or a start


@dataclass(frozen=True, slots=True)
class QR(Event):
    """A QR string to show; it replaces the previous one and is valid for `timeout` seconds."""

    code: str
    index: int  # 0-based position among the refs of this connection
    total: int
    timeout: float


@dataclass(frozen=True, slots=True)
class PairingCode(Event):
    """The code to type on the phone (Linked devices → Link with phone number)."""

    code: str  # 8 characters, no dash

    @property
    def display(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"


@dataclass(frozen=True, slots=True)
class PairSuccess(Event):
    me_id: str
    me_lid: str | None
    platform: str | None
    business_name: str | None


@dataclass(frozen=True, slots=True)
class PairError(Event):
    """A pair-success that did not verify (forged HMAC or signature); nothing was stored."""

    reason: str


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """Logged in: the connection is open."""

    me_id: str | None
    me_lid: str | None


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """The connection closed; `decision` says what the client does next."""

    reason: DisconnectReason
    decision: Decision


@dataclass(frozen=True, slots=True)
class LoggedOut(Event):
    """The session is dead (unlinked, locked, banned); the stored session has been cleared."""

    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class Replaced(Event):
    """Another connection with the same keys took over; this client stopped reconnecting."""

    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class TemporaryBan(Event):
    code: int | None
    expires_in: float | None


@dataclass(frozen=True, slots=True)
class ClientOutdated(Event):
    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class Stopped(Event):
    """The supervisor ended: by `close()` or by a disconnect after which reconnecting would be wrong."""

    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class OfflineSyncPreview(Event):
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class OfflineSyncCompleted(Event):
    """The server has delivered the backlog queued while we were offline (`<ib><offline count>`).

    `timed_out` is True when the marker never came (Baileys #2810) and the client gave up waiting.
    """

    count: int
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class PrekeysUploaded(Event):
    count: int
    first_id: int


@dataclass(frozen=True, slots=True)
class PasskeyRequired(Event):
    """The server asked for a passkey assertion during linking; a CLI cannot give one."""


@dataclass(frozen=True, slots=True)
class NodeReceived(Event):
    """A stanza the client does not consume itself (receipts, calls, group and other notifications)."""

    node: Node


# ---- messages ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    """A decrypted message. `chat` is the conversation (group or other user), `sender` the author's device.

    Emitted once per decrypted `<message>`, after its Signal records and this event were committed
    together (the decrypted-event buffer) and before the delivery receipt leaves; emitted again, with
    `redelivered=True`, when a process stopped before its handlers finished.
    """

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
    # Stable across processes (whatsapp/eventlog.py): handlers that must act once key on it.
    stable_id: str = ""
    # Dispatched again from the decrypted-event buffer: an earlier process (or connection) may have
    # handled it partly before it stopped (docs/architecture.md §The path of one message).
    redelivered: bool = False
    view_once: bool = False  # it came in a view-once wrapper (removed from `message`)
    # Set by the client when the event is emitted (whatsapp/media_service.py); never stored.
    media_source: MediaDownloads | None = field(default=None, repr=False, compare=False,
                                                metadata={"transient": True})

    @property
    def text(self) -> str | None:
        return message_text(self.message)

    @property
    def mentions(self) -> list[JID]:
        """The users this message mentions (`contextInfo.mentionedJID`), in order."""
        return mentioned_jids(self.message)

    @property
    def quoted(self) -> Quoted | None:
        """The message this one replies to (its id, author, chat and content), or None."""
        return quoted_message(self.message)

    @property
    def media(self) -> MediaInfo | None:
        """The attachment (type, mimetype, size, caption, ...), or None for a message without one."""
        return media_info(self.message, view_once=self.view_once)

    @overload
    async def download(self, path: None = None) -> bytes: ...

    @overload
    async def download(self, path: Path | str) -> Path: ...

    async def download(self, path: Path | str | None = None) -> bytes | Path:
        """The attachment, verified and decrypted: as bytes, or written to `path` (returned).

        Raises a `whatsapp.errors.MediaError` (MediaTooLarge over the client's cap, MediaIntegrityError
        for a corrupt blob, MediaRetryError when expired media could not be had again).
        """
        if self.media_source is None:
            raise MediaError("this event was not emitted by a client, so it cannot download")
        return await self.media_source.download_message(self, path)


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
class HistorySync(Event):
    """One history-sync chunk from our phone, after what the client keeps of it was stored and the phone
    was told (whatsapp/history.py). `data` is the whole parsed chunk (conversations, messages, push names)
    for applications that want the history; the client itself keeps none of it.
    """

    message_id: str  # the notification message's id
    sync_type: str  # HistorySync.HistorySyncType name: INITIAL_BOOTSTRAP, RECENT, FULL, PUSH_NAME, ...
    chunk_order: int
    progress: int | None  # percent, when the phone says
    conversations: int
    messages: int
    push_names: int
    data: history_sync_pb2.HistorySync = field(repr=False)


# ---- interactions (docs/protocol.md §Interactions) ----------------------------------------------------------
# Raised after the MessageReceived they come from (which stays the raw form), or for a stanza the client
# models (receipts, presence, calls, notifications; `node` is that stanza, for what is not parsed).


@dataclass(frozen=True, slots=True)
class Receipt(Event):
    """Messages we sent reached a device (`delivered`), were read (`read`) or played (`played`); our own
    devices say `read-self` / `played-self` / `sender`. In a group, one event per participant (`sender`)."""

    chat: JID
    sender: JID  # the device that sent the receipt
    ids: tuple[str, ...]
    type: str  # "delivered", "read", "played", "read-self", "played-self", "sender", "inactive", ...
    timestamp: int
    is_group: bool
    from_me: bool  # the receipt came from one of our own devices
    node: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PresenceUpdate(Event):
    """A contact's presence (`available`/`unavailable`, with `last_seen`; after `subscribe_presence`) or chat
    state in a chat (`composing`, `recording`, `paused`)."""

    chat: JID  # the chat the state is about (the user itself for available/unavailable)
    sender: JID  # who is typing / online
    state: str
    last_seen: int | None = None
    node: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ReactionReceived(Event):
    """`message` reacted with `emoji` to the message `target_id` (by `target_sender`); "" removes it."""

    message: MessageReceived
    target_id: str
    target_sender: JID | None
    emoji: str

    @property
    def removed(self) -> bool:
        return not self.emoji


@dataclass(frozen=True, slots=True)
class MessageEdited(Event):
    """`message` replaced the content of `target_id` by `new_message` (its author edited it)."""

    message: MessageReceived
    target_id: str
    new_message: e2e_pb2.Message

    @property
    def text(self) -> str | None:
        return message_text(self.new_message)


@dataclass(frozen=True, slots=True)
class MessageRevoked(Event):
    """`message` deleted `target_id` for everyone (by its author, or by a group admin: `by_admin`)."""

    message: MessageReceived
    target_id: str
    by_admin: bool = False


@dataclass(frozen=True, slots=True)
class PollVote(Event):
    """A vote in one of our polls, decrypted with its message secret: the options now chosen (none: withdrawn)."""

    message: MessageReceived
    poll_id: str
    options: tuple[str, ...]  # names of the chosen options the poll knows
    hashes: tuple[bytes, ...]  # SHA-256 of every chosen option name, as sent

    @property
    def voter(self) -> JID:
        return self.message.sender


@dataclass(frozen=True, slots=True)
class GroupParticipantsChanged(Event):
    """Members `joined` (added or by invite), `left`, were `removed`, `promoted` or `demoted`; `by` did it."""

    group: JID
    action: str
    participants: tuple[JID, ...]
    by: JID | None
    timestamp: int
    node: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class GroupInfoChanged(Event):
    """A group's subject, description or settings changed; the fields that did not change are None."""

    group: JID
    by: JID | None
    timestamp: int
    subject: str | None = None
    description: str | None = None
    announce: bool | None = None  # only admins may send
    locked: bool | None = None  # only admins may edit the group info
    ephemeral: int | None = None  # disappearing-message timer in seconds (0: off)
    node: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class CallOffered(Event):
    """Someone is calling us; a companion cannot answer, `client.reject_call(event)` declines it."""

    call_id: str
    caller: JID  # the calling device
    creator: JID
    timestamp: int
    video: bool
    offline: bool
    node: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class CallEnded(Event):
    """A call stopped ringing: terminated or rejected (by the caller, or by another of our devices)."""

    call_id: str
    caller: JID
    reason: str  # "terminate", "reject", ...
    node: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class IdentityChanged(Event):
    """A contact's identity key changed (new phone, reinstall): its sessions start afresh."""

    jid: JID
    timestamp: int
    node: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class BlocklistChanged(Event):
    """Our block list changed (from another of our devices): `(jid, "block" | "unblock")` pairs."""

    changes: tuple[tuple[JID, str], ...]
    node: Node | None = field(default=None, repr=False, compare=False)
