"""History sync: what our phone sends a companion about the account's past (docs/protocol.md §History sync).

The phone announces each chunk as a `protocolMessage{type=HISTORY_SYNC_NOTIFICATION}` from our own account
(whatsmeow `message.go` handleProtocolMessage / DownloadHistorySync, Baileys `src/Utils/history.ts` and
`process-message.ts`). The chunk is inline (`initialHistBootstrapInlinePayload`, since our DeviceProps ask
for `inlineInitialPayloadInE2EeMsg`) or a media blob (type "md-msg-hist", keys "WhatsApp History Keys");
either way a zlib stream of a `HistorySync` protobuf.

A bot keeps only what later sends need, and drops the chat history itself:
- the trust tokens contacts issued us (`Conversation.tcToken`), through whatsapp/trust.py;
- the account's nctSalt, for cstokens (whatsapp/cstoken.py);
- PN↔LID pairs (`phoneNumberToLidMappings`, and a conversation's ID with its `pnJID`/`lidJID`);
- our own push name, when the phone lists our account among the push names (whatsapp/presence.py). Contacts'
  names are not stored: the client keeps no contact book; they are in the event.
Then `<receipt type="hist_sync">` goes to our own account, and one `events.HistorySync` carries the parsed
chunk for applications that want the history.

The message event stays pending in the decrypted-event buffer (a hold) until this is done: a chunk whose
download failed for a passing reason (network, a connection that ended) is tried again at the next login.
A chunk that can never be read (expired, corrupt, not zlib, not a HistorySync) gets one warning and its
receipt, as both references acknowledge it whatever its fate.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtobufDecodeError
from loguru import logger

from whatsapp.addressing import own_addresses, store_mapping
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.cstoken import store_nct_salt
from whatsapp.errors import (
    ConnectionGone,
    DecodeError,
    MediaDownloadError,
    MediaExpired,
    MediaIntegrityError,
    MediaTooLarge,
    SocketClosed,
    WhatsAppError,
)
from whatsapp.eventlog import Release
from whatsapp.events import HistorySync, MessageReceived
from whatsapp.jid import JID, LEGACY_USER, LID, S_WHATSAPP_NET
from whatsapp.media_message import Downloadable
from whatsapp.proto import e2e_pb2, history_sync_pb2
from whatsapp.tctoken import takes_tokens

HIST_SYNC_RECEIPT = "hist_sync"
HISTORY_MEDIA_TYPE = "md-msg-hist"
# A chunk inflates to a few MB (a full sync to tens); past this it is refused rather than held in memory.
MAX_INFLATED = 256 * 1024 * 1024
_NOTIFICATION = e2e_pb2.ProtocolMessage.HISTORY_SYNC_NOTIFICATION

Download = Callable[[Downloadable], Awaitable[bytes]]
StoreTokens = Callable[[list[tuple[JID, bytes, int, int | None]]], Awaitable[int]]
LearnPushName = Callable[[str], Awaitable[None]]
Hold = Callable[[MessageReceived], Release]


# ---- pure: reading a chunk -------------------------------------------------------------------------------


def history_notification(message: e2e_pb2.Message) -> e2e_pb2.HistorySyncNotification | None:
    """The notification a message carries, if it is one."""
    if not message.HasField("protocolMessage"):
        return None
    proto = message.protocolMessage
    if proto.type != _NOTIFICATION or not proto.HasField("historySyncNotification"):
        return None
    return proto.historySyncNotification


def history_downloadable(notification: e2e_pb2.HistorySyncNotification) -> Downloadable | None:
    """Where the chunk's blob is (None when the notification names none)."""
    if not notification.mediaKey or not notification.directPath:
        return None
    return Downloadable(
        media_type=HISTORY_MEDIA_TYPE, direct_path=notification.directPath, url=None,
        media_key=notification.mediaKey, file_enc_sha256=notification.fileEncSHA256 or None,
        file_sha256=notification.fileSHA256 or None,
        file_length=notification.fileLength if notification.HasField("fileLength") else None,
    )


def inflate(data: bytes, limit: int = MAX_INFLATED) -> bytes:
    """A whole zlib stream (RFC 1950), at most `limit` bytes inflated; DecodeError otherwise."""
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(data, limit)
    except zlib.error as exc:
        raise DecodeError(f"not a zlib stream: {exc}") from None
    if stream.unconsumed_tail:
        raise DecodeError(f"inflates to more than {limit} bytes")
    if not stream.eof:
        raise DecodeError("the zlib stream is cut short")
    return raw


def parse_history(raw: bytes) -> history_sync_pb2.HistorySync:
    try:
        return history_sync_pb2.HistorySync.FromString(raw)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"not a HistorySync protobuf: {exc}") from None


def _user(text: str, servers: tuple[str, ...]) -> JID | None:
    jid = JID.try_parse(text) if text else None
    if jid is None or not jid.user or jid.server not in servers:
        return None
    # Legacy `c.us` is the phone-number server (whatsmeow storeHistoricalPNLIDMappings does the same).
    return JID(jid.user, S_WHATSAPP_NET if jid.server == LEGACY_USER else jid.server)


@dataclass(frozen=True, slots=True)
class Kept:
    """What a bot keeps of one chunk."""

    mappings: list[tuple[str, str]] = field(default_factory=list)  # (pn_user, lid_user)
    tokens: list[tuple[JID, bytes, int, int | None]] = field(default_factory=list)  # (contact, token, t, sender_t)
    nct_salt: bytes | None = None
    own_push_name: str | None = None


def what_to_keep(sync: history_sync_pb2.HistorySync, own_users: set[str]) -> Kept:
    """The tokens, mappings, salt and our push name of a chunk; entries that do not parse are skipped."""
    pn_servers, lid_servers = (S_WHATSAPP_NET, LEGACY_USER), (LID,)
    mappings: list[tuple[str, str]] = []

    def pair(pn_text: str, lid_text: str) -> None:
        pn, lid = _user(pn_text, pn_servers), _user(lid_text, lid_servers)
        if pn is not None and lid is not None and (pn.user, lid.user) not in mappings:
            mappings.append((pn.user, lid.user))

    for mapping in sync.phoneNumberToLidMappings:
        pair(mapping.pnJID, mapping.lidJID)
    tokens: list[tuple[JID, bytes, int, int | None]] = []
    for conversation in sync.conversations:
        chat = _user(conversation.ID, pn_servers + lid_servers)
        if chat is None:
            continue  # groups, broadcasts, newsletters: no tokens, no mappings
        if chat.server == LID:
            pair(conversation.pnJID, conversation.ID)
        else:
            pair(conversation.ID, conversation.lidJID)
        if conversation.tcToken and conversation.tcTokenTimestamp > 0 and takes_tokens(chat):
            tokens.append((chat, conversation.tcToken, conversation.tcTokenTimestamp,
                           conversation.tcTokenSenderTimestamp or None))
    own_name = None
    for entry in sync.pushnames:
        who = _user(entry.ID, pn_servers + lid_servers)
        if who is not None and who.user in own_users and entry.pushname and entry.pushname != "-":
            own_name = entry.pushname  # "-" is WhatsApp's placeholder for "no name"
    return Kept(mappings, tokens, sync.nctSalt or None, own_name)


def hist_sync_receipt(message_id: str, me_pn: JID) -> Node:
    """`<receipt id to=<our own user> type="hist_sync"/>` (whatsmeow SendProtocolMessageReceipt)."""
    return Node("receipt", {"id": message_id, "to": me_pn.to_non_ad(), "type": HIST_SYNC_RECEIPT})


def history_event(message_id: str, sync: history_sync_pb2.HistorySync) -> HistorySync:
    return HistorySync(
        message_id=message_id,
        sync_type=history_sync_pb2.HistorySync.HistorySyncType.Name(sync.syncType),
        chunk_order=sync.chunkOrder,
        progress=sync.progress if sync.HasField("progress") else None,
        conversations=len(sync.conversations),
        messages=sum(len(c.messages) for c in sync.conversations),
        push_names=len(sync.pushnames),
        data=sync,
    )


def _final(exc: Exception) -> bool:
    """A failure that trying again cannot cure (the phone's blob is gone or bad)."""
    if isinstance(exc, (DecodeError, MediaExpired, MediaIntegrityError, MediaTooLarge)):
        return True
    return isinstance(exc, MediaDownloadError) and exc.status == 403


# ---- the concern -------------------------------------------------------------------------------------------


class HistorySyncer:
    """Subscribed to MessageReceived (the client wires it): each of our phone's notifications is read in a
    task of the connection, while its event is held pending in the decrypted-event buffer."""

    def __init__(self, ctx: Context, download: Download, store_tokens: StoreTokens, learn_push_name: LearnPushName,
                 hold: Hold) -> None:
        self.ctx = ctx
        self._download = download
        self._store_tokens = store_tokens
        self._learn_push_name = learn_push_name
        self._hold = hold
        # One chunk at a time, as whatsmeow's loop reads them: a full sync's blobs are never all in memory at once.
        self._serial = asyncio.Lock()
        self.synced = 0  # chunks applied (diagnostics, tests)

    async def on_message(self, event: MessageReceived) -> None:
        notification = history_notification(event.message)
        if notification is None:
            return
        if not event.from_me:  # only our phone may tell us about our account (Baileys drops it the same way)
            logger.warning("history sync notification {} from {}, not our own account: ignored", event.id,
                           event.sender)
            return
        release = self._hold(event)
        self.ctx.spawn(self._apply(event.id, notification, release), "history sync")

    async def _apply(self, message_id: str, notification: e2e_pb2.HistorySyncNotification,
                     release: Release) -> None:
        handled = False
        try:
            async with self._serial:
                handled = await self._apply_one(message_id, notification)
        finally:
            release(handled)

    async def _apply_one(self, message_id: str, notification: e2e_pb2.HistorySyncNotification) -> bool:
        """True when the chunk is done with (applied, or unreadable for good and acknowledged)."""
        try:
            sync = await self.read(notification)
            kept = await self.keep(sync)
            await self._receipt(message_id)
            logger.info("history sync {} ({} chunk {}): {} conversations; kept {} trust tokens, {} LID mappings{}{}",
                        message_id, history_sync_pb2.HistorySync.HistorySyncType.Name(sync.syncType),
                        sync.chunkOrder, len(sync.conversations), len(kept.tokens), len(kept.mappings),
                        ", the nctSalt" if kept.nct_salt else "", ", our push name" if kept.own_push_name else "")
            self.synced += 1
            await self.ctx.emit(history_event(message_id, sync))
            return True
        except (ConnectionGone, SocketClosed):
            logger.debug("history sync {}: the connection ended; read again at the next login", message_id)
            return False
        except WhatsAppError as exc:
            if not _final(exc):
                logger.warning("history sync {} not applied ({}: {}); tried again at the next login", message_id,
                               type(exc).__name__, exc)
                return False
            logger.warning("history sync {} cannot be read ({}: {}); acknowledged and skipped", message_id,
                           type(exc).__name__, exc)
        try:
            await self._receipt(message_id)
        except (ConnectionGone, SocketClosed):
            return False  # the event stays pending: the receipt goes with the next login's attempt
        return True

    async def read(self, notification: e2e_pb2.HistorySyncNotification) -> history_sync_pb2.HistorySync:
        """The chunk, inline or downloaded; DecodeError or a MediaError when it cannot be had."""
        if notification.initialHistBootstrapInlinePayload:
            data = notification.initialHistBootstrapInlinePayload
        else:
            item = history_downloadable(notification)
            if item is None:
                raise DecodeError("the notification has neither an inline payload nor a direct path")
            data = await self._download(item)
        return parse_history(inflate(data))

    async def keep(self, sync: history_sync_pb2.HistorySync) -> Kept:
        """Store what a bot needs; each write is committed before this returns (the receipt follows)."""
        auth = self.ctx.auth
        me_pn, me_lid = own_addresses(auth.creds)
        kept = what_to_keep(sync, {me_pn.user} | ({me_lid.user} if me_lid else set()))
        if kept.mappings:  # first: the tokens of phone-number chats are then keyed by LID
            # Under the Signal lock, as the receiver stores the envelope's pairs: addresses resolve one way at a time.
            async with self.ctx.locks.signal, auth.transaction() as tx:
                for pn_user, lid_user in kept.mappings:
                    store_mapping(tx, pn_user, lid_user)
        if kept.tokens:
            await self._store_tokens(kept.tokens)
        if kept.nct_salt:
            async with self.ctx.locks.creds:
                await store_nct_salt(auth, kept.nct_salt)
        if kept.own_push_name:
            await self._learn_push_name(kept.own_push_name)
        return kept

    async def _receipt(self, message_id: str) -> None:
        me_pn, _ = own_addresses(self.ctx.auth.creds)
        await self.ctx.send(hist_sync_receipt(message_id, me_pn))
