"""A WhatsApp Web multi-device client library, written from scratch in Python.

    from whatsapp import Client, MemoryAuthState, events

    client = Client(MemoryAuthState())

    @client.on(events.MessageReceived)
    async def echo(message: events.MessageReceived) -> None:
        await client.send_text(message.chat, message.text or "", quoted=message)

    asyncio.run(client.run())

The public API is what `__all__` names:

- `Client` and its configuration: `DeviceConfig` (how the companion presents itself),
  `ReconnectPolicy` (what to do after each kind of disconnect), `KeepaliveTiming`, `Clock`.
- The session contract: `AuthState` (what a session store implements), `MemoryAuthState`,
  `KeyType`, `Credentials`. Durable stores (folder, MongoDB) live in the `storage` package.
- `events`: every event class (`events.QR`, `events.Connected`, `events.MessageReceived`, ...;
  interactions: `events.Receipt`, `PresenceUpdate`, `ReactionReceived`, `MessageEdited`, `MessageRevoked`,
  `PollVote`, `GroupParticipantsChanged`, `GroupInfoChanged`, `CallOffered`, `CallEnded`,
  `IdentityChanged`, `BlocklistChanged`); the message types `MessageReceived`, `DecryptFailed` and
  `SendResult` are also here at the top, with `MessageRef` (a message of ours to react to, edit or
  revoke), `LinkPreview`, and `HistorySync` (a chunk of history from our phone).
- `JID`, the address type, and the disconnect vocabulary `DisconnectReason` / `DisconnectKind`.
- `errors` and its classes: one tree rooted at `WhatsAppError` (see whatsapp/errors.py).

Everything else is an implementation module: importable, but free to change. The protocol core
(codec, Noise, pairing crypto, Signal) is sans-I/O; asyncio lives only at the edges
(docs/architecture.md).
"""

from whatsapp import errors, events
from whatsapp.auth import AuthState, KeyType, MemoryAuthState
from whatsapp.client import Client
from whatsapp.context import Clock, SystemClock
from whatsapp.creds import Credentials
from whatsapp.errors import (
    AppStateKeyMissing,
    AppStateMismatch,
    ConnectionGone,
    CryptoError,
    DecodeError,
    EncodeError,
    HandshakeError,
    IqError,
    IqTimeout,
    KeepaliveFailed,
    PairingError,
    PairRejected,
    ProtocolError,
    SendError,
    SignalError,
    SocketClosed,
    StorageError,
    TransportError,
    WhatsAppError,
)
from whatsapp.events import (
    AppStateSynced,
    ChatSettingChanged,
    ContactUpdated,
    DecryptFailed,
    Event,
    HistorySync,
    MessageReceived,
)
from whatsapp.group_meta import GroupInfo, GroupMember, InviteRequest, ParticipantResult
from whatsapp.jid import JID
from whatsapp.keepalive import KeepaliveTiming
from whatsapp.media_http import MediaOptions
from whatsapp.media_message import Downloadable, MediaInfo
from whatsapp.media_send import MediaSpec
from whatsapp.message_kinds import LinkPreview, MessageRef
from whatsapp.messages import SendResult
from whatsapp.payload import DeviceConfig
from whatsapp.reconnect import DisconnectKind, DisconnectReason, ReconnectPolicy
from whatsapp.upload import UploadResult
from whatsapp.users import OnWhatsApp

__version__ = "0.1.0"

__all__ = [
    "JID",
    "AppStateKeyMissing",
    "AppStateMismatch",
    "AppStateSynced",
    "AuthState",
    "ChatSettingChanged",
    "Client",
    "Clock",
    "ConnectionGone",
    "ContactUpdated",
    "Credentials",
    "CryptoError",
    "DecodeError",
    "DecryptFailed",
    "DeviceConfig",
    "DisconnectKind",
    "DisconnectReason",
    "Downloadable",
    "EncodeError",
    "Event",
    "GroupInfo",
    "GroupMember",
    "HandshakeError",
    "HistorySync",
    "InviteRequest",
    "IqError",
    "IqTimeout",
    "KeepaliveFailed",
    "KeepaliveTiming",
    "KeyType",
    "LinkPreview",
    "MediaInfo",
    "MediaOptions",
    "MediaSpec",
    "MemoryAuthState",
    "MessageReceived",
    "MessageRef",
    "OnWhatsApp",
    "PairRejected",
    "PairingError",
    "ParticipantResult",
    "ProtocolError",
    "ReconnectPolicy",
    "SendError",
    "SendResult",
    "SignalError",
    "SocketClosed",
    "StorageError",
    "SystemClock",
    "TransportError",
    "UploadResult",
    "WhatsAppError",
    "__version__",
    "errors",
    "events",
]
