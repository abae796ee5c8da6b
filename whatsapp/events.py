"""Events the client raises for applications, and the registry that delivers them.

Handlers are registered with a decorator, aiogram / discord.py style, or with `add_handler`, which
returns a function that removes the registration again::

    @client.on(events.MessageReceived)
    async def got(event: events.MessageReceived) -> None: ...

    unsubscribe = client.add_handler(events.QR, show_qr)

A handler may be a coroutine function or a plain function. A handler that raises is logged and
skipped: an application bug must never take down the connection, nor stop the other handlers.
Subscribing to a class receives its subclasses too (`Event` receives everything).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast, overload

from loguru import logger

from whatsapp.binary import Node
from whatsapp.content import message_text
from whatsapp.errors import MediaError
from whatsapp.jid import JID
from whatsapp.media_message import MediaDownloads, MediaInfo, media_info
from whatsapp.proto import e2e_pb2, history_sync_pb2
from whatsapp.reconnect import Decision, DisconnectReason


class Event:
    """Base class of every event; subscribe to it to receive all of them."""


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


# ---- delivery -----------------------------------------------------------------------------------------------

E = TypeVar("E", bound=Event)
HandlerResult = Awaitable[None] | None
Unsubscribe = Callable[[], None]


@dataclass(frozen=True, slots=True, eq=False)  # identity, not value: two equal registrations are two
class _Subscription:
    event_type: type[Event]
    handler: Callable[[Event], object]


class EventBus:
    """Maps event classes to handlers; dispatch matches subclasses (subscribe to `Event` for all)."""

    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []

    def on(self, event_type: type[E]) -> Callable[[Callable[[E], HandlerResult]], Callable[[E], HandlerResult]]:
        """Decorator form of `add_handler`; returns the handler unchanged."""
        _check_event_type(event_type)

        def register(handler: Callable[[E], HandlerResult]) -> Callable[[E], HandlerResult]:
            self.add_handler(event_type, handler)
            return handler

        return register

    def add_handler(self, event_type: type[E], handler: Callable[[E], HandlerResult]) -> Unsubscribe:
        """Call `handler(event)` for every event of `event_type`; returns the function that unsubscribes."""
        _check_event_type(event_type)
        # emit() only passes instances of event_type, so the narrower parameter type is safe here.
        subscription = _Subscription(event_type, cast("Callable[[Event], object]", handler))
        self._subscriptions.append(subscription)

        def unsubscribe() -> None:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        return unsubscribe

    def remove_handler(self, handler: Callable[[E], HandlerResult]) -> None:
        """Remove every registration of `handler`, whatever its event type."""
        self._subscriptions = [s for s in self._subscriptions if s.handler is not handler]

    async def emit(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if not isinstance(event, subscription.event_type):
                continue
            handler = subscription.handler
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                name = getattr(handler, "__qualname__", repr(handler))
                logger.exception("event handler {} failed on {}", name, type(event).__name__)


def _check_event_type(event_type: object) -> None:
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(f"expected an event class, got {event_type!r}")
