"""App-state sync, read side: the collections the account's devices share (docs/protocol.md §App state;
whatsmeow `appstate.go`, `message.go` handleAppStateSyncKeyShare; Baileys `src/Socket/chats.ts` resyncAppState).

- Our phone shares the keys as `protocolMessage{type=APP_STATE_SYNC_KEY_SHARE}`; only our own account may
  (as for history sync). They are stored in one transaction (`KeyType.APP_STATE_SYNC_KEY`), then every
  collection is fetched.
- `<iq xmlns="w:sync:app:state" type="set"><sync><collection name version return_snapshot/></sync></iq>`;
  the answer holds a snapshot (an external blob, "md-app-state") and/or patches, `has_more_patches` asking
  for another round. Each is checked in full by whatsapp/syncd.py before anything is kept; a collection's new
  state and what a bot keeps of it (contact names, pin/mute/archive) are one transaction.
- A tampered or out-of-step answer is refused with one warning and the collection stays as it was.
- `<notification type="server_sync"><collection name/></notification>`: another device changed something;
  the named collections are fetched again. At login, the collections synced before are brought up to date.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError
from loguru import logger

from whatsapp.auth import KeyType, Transaction
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.cstoken import store_nct_salt
from whatsapp.errors import AppStateKeyMissing, AppStateMismatch, ConnectionGone, IqError, SocketClosed, WhatsAppError
from whatsapp.event_base import Event
from whatsapp.events import MessageReceived
from whatsapp.events_appstate import AppStateSynced, ChatSettingChanged, ContactUpdated
from whatsapp.jid import JID, SERVER_JID
from whatsapp.media_message import Downloadable
from whatsapp.proto import app_state_pb2, e2e_pb2
from whatsapp.router import Route, StanzaRouter
from whatsapp.syncd import (
    COLLECTIONS,
    SET,
    CollectionState,
    Mutation,
    MutationKeys,
    apply_patch,
    apply_snapshot,
    expand_keys,
)

XMLNS = "w:sync:app:state"
MEDIA_TYPE = "md-app-state"
MAX_ROUNDS = 64  # has_more_patches rounds per collection and sync: a server that never stops is cut off
_KEY_SHARE = e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE

Download = Callable[[Downloadable], Awaitable[bytes]]
LearnPushName = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ChatSettings:
    pinned: bool = False
    muted_until: int | None = None  # ms; -1: always
    archived: bool = False


def key_share(message: e2e_pb2.Message) -> e2e_pb2.AppStateSyncKeyShare | None:
    if not message.HasField("protocolMessage"):
        return None
    proto = message.protocolMessage
    return proto.appStateSyncKeyShare if proto.type == _KEY_SHARE and proto.HasField("appStateSyncKeyShare") else None


def _key_id(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def sync_request(collections: list[tuple[str, CollectionState]]) -> Node:
    children = [Node("collection", {"name": name, "version": str(state.version),
                                    "return_snapshot": "true" if state.version == 0 else "false"})
                for name, state in collections]
    return Node("iq", {"to": SERVER_JID, "type": "set", "xmlns": XMLNS}, [Node("sync", {}, children)])


def _blob_item(ref: app_state_pb2.ExternalBlobReference) -> Downloadable:
    return Downloadable(media_type=MEDIA_TYPE, direct_path=ref.directPath, url=None, media_key=ref.mediaKey,
                        file_enc_sha256=ref.fileEncSHA256 or None, file_sha256=ref.fileSHA256 or None,
                        file_length=ref.fileSizeBytes or None)


class AppStateSync:
    """The concern: key shares (a MessageReceived subscriber), the server_sync route, the sync rounds."""

    def __init__(self, ctx: Context, download: Download, learn_push_name: LearnPushName) -> None:
        self.ctx = ctx
        self._download = download
        self._learn_push_name = learn_push_name
        self._serial = asyncio.Lock()  # one sync at a time: each reads and replaces the collections' states
        self.refused = 0  # patches or snapshots refused (diagnostics, tests)

    def install(self, router: StanzaRouter) -> None:
        router.add(Route("notification", self.on_server_sync, type="server_sync"))

    # ---- inputs ---------------------------------------------------------------------------------------

    async def on_message(self, event: MessageReceived) -> None:
        share = key_share(event.message)
        if share is None:
            return
        if not event.from_me:
            logger.warning("app-state key share {} from {}, not our own account: ignored", event.id, event.sender)
            return
        async with self.ctx.auth.transaction() as tx:
            for key in share.keys:
                if key.keyID.keyID and key.keyData.keyData:
                    tx.set(KeyType.APP_STATE_SYNC_KEY, _key_id(key.keyID.keyID), key.keyData.SerializeToString())
        logger.info("app-state keys stored: {} from our phone", len(share.keys))
        self.ctx.spawn(self.sync(COLLECTIONS), "app-state sync")

    async def on_server_sync(self, node: Node) -> None:
        names = [c.attr_str("name") or "" for c in node.children_by_tag("collection")]
        wanted = [name for name in names if name in COLLECTIONS]
        if wanted:
            self.ctx.spawn(self.sync(wanted), "app-state sync")

    async def at_login(self) -> None:
        """Bring the collections synced before up to date (none before the phone shared a key: no traffic)."""
        stored = await self.ctx.auth.get(KeyType.APP_STATE_SYNC_VERSION, COLLECTIONS)
        if stored:
            await self.sync(list(stored))

    # ---- queries --------------------------------------------------------------------------------------

    async def chat_settings(self, chat: JID) -> ChatSettings:
        key = str(chat.to_non_ad())
        raw = (await self.ctx.auth.get(KeyType.CHAT_SETTING, [key])).get(key)
        return ChatSettings(**json.loads(raw)) if raw else ChatSettings()

    async def contact_name(self, user: JID) -> str | None:
        key = str(user.to_non_ad())
        raw = (await self.ctx.auth.get(KeyType.CONTACT_NAME, [key])).get(key)
        return json.loads(raw).get("full_name") if raw else None

    # ---- the sync -------------------------------------------------------------------------------------

    async def sync(self, names: Iterable[str]) -> None:
        async with self._serial:
            for name in names:
                try:
                    await self._sync_one(name)
                except (ConnectionGone, SocketClosed):
                    return  # the next login syncs again
                except AppStateKeyMissing as exc:
                    logger.info("app state {}: waiting for our phone to share key {}", name, exc.key_id.hex())
                except AppStateMismatch as exc:
                    self.refused += 1
                    logger.warning("app state {} refused, nothing applied: {}", name, exc)
                except (IqError, WhatsAppError) as exc:
                    logger.warning("app state {} not synced ({}: {})", name, type(exc).__name__, exc)

    async def _state(self, name: str) -> CollectionState:
        raw = (await self.ctx.auth.get(KeyType.APP_STATE_SYNC_VERSION, [name])).get(name)
        if raw is None:
            return CollectionState()
        try:
            return CollectionState.from_json(raw)
        except WhatsAppError:
            return CollectionState()  # a record of another library's shape: synced again from scratch

    async def _keys(self, key_ids: set[bytes]) -> dict[bytes, MutationKeys]:
        stored = await self.ctx.auth.get(KeyType.APP_STATE_SYNC_KEY, [_key_id(k) for k in key_ids])
        found: dict[bytes, MutationKeys] = {}
        for raw_id in key_ids:
            raw = stored.get(_key_id(raw_id))
            if raw is not None:
                found[raw_id] = expand_keys(e2e_pb2.AppStateSyncKeyData.FromString(raw).keyData)
        return found

    async def _sync_one(self, name: str) -> None:
        state = await self._state(name)
        for _ in range(MAX_ROUNDS):
            answer = await self.ctx.query(sync_request([(name, state)]))
            collection = next((c for c in (answer.child("sync") or Node("sync")).children_by_tag("collection")
                               if c.attr_str("name") == name), None)
            if collection is None or collection.attr_str("type") == "error":
                raise WhatsAppError(f"the server did not answer collection {name}")
            snapshot, patches = await self._read(collection)
            key_ids = {p.keyID.ID for p in patches} | {m.record.keyID.ID for p in patches for m in p.mutations}
            if snapshot is not None:
                key_ids |= {snapshot.keyID.ID} | {r.keyID.ID for r in snapshot.records}
            keys = await self._keys(key_ids)
            mutations: list[Mutation] = []
            new = state
            if snapshot is not None:
                new, mutations = apply_snapshot(name, snapshot, keys)
            for patch in patches:
                new, applied = apply_patch(name, new, patch, keys)
                mutations += applied
            await self._commit(name, new, mutations)
            state = new
            if collection.attr_str("has_more_patches") != "true":
                return

    async def _read(self, collection: Node) -> tuple[app_state_pb2.SyncdSnapshot | None,
                                                     list[app_state_pb2.SyncdPatch]]:
        try:
            snapshot = None
            snap = collection.child("snapshot")
            if snap is not None and isinstance(snap.content, bytes) and snap.content:
                ref = app_state_pb2.ExternalBlobReference.FromString(snap.content)
                snapshot = app_state_pb2.SyncdSnapshot.FromString(await self._download(_blob_item(ref)))
            holder = collection.child("patches") or collection
            patches = []
            for node in holder.children_by_tag("patch"):
                if not isinstance(node.content, bytes):
                    continue
                patch = app_state_pb2.SyncdPatch.FromString(node.content)
                if patch.HasField("externalMutations"):
                    blob = await self._download(_blob_item(patch.externalMutations))
                    del patch.mutations[:]
                    patch.mutations.extend(app_state_pb2.SyncdMutations.FromString(blob).mutations)
                patches.append(patch)
        except ProtobufDecodeError as exc:
            raise AppStateMismatch(collection.attr_str("name") or "?", f"a patch does not parse: {exc}") from None
        return snapshot, patches

    async def _commit(self, name: str, state: CollectionState, mutations: list[Mutation]) -> None:
        """The collection's state and what is kept of its mutations, as one unit; then the events."""
        emitted: list[Event] = []
        push_name: str | None = None
        salt: bytes | None = None
        async with self.ctx.auth.transaction() as tx:
            tx.set(KeyType.APP_STATE_SYNC_VERSION, name, state.to_json())
            for mutation in mutations:
                event = await self._keep(tx, mutation)
                if event is not None:
                    emitted.append(event)
                value = mutation.value
                if mutation.operation == SET and value.HasField("pushNameSetting") and value.pushNameSetting.name:
                    push_name = value.pushNameSetting.name
                if mutation.operation == SET and value.HasField("nctSaltSyncAction") and value.nctSaltSyncAction.salt:
                    salt = value.nctSaltSyncAction.salt
        logger.info("app state {} at v{}: {} mutations applied", name, state.version, len(mutations))
        if salt is not None:
            async with self.ctx.locks.creds:
                await store_nct_salt(self.ctx.auth, salt)
        if push_name is not None:
            await self._learn_push_name(push_name)
        for event in emitted:
            await self.ctx.emit(event)
        await self.ctx.emit(AppStateSynced(name, state.version, len(mutations)))

    async def _keep(self, tx: Transaction, mutation: Mutation) -> Event | None:
        index, value = mutation.index, mutation.value
        if len(index) < 2 or (jid := JID.try_parse(index[1])) is None:
            return None
        key = str(jid.to_non_ad())
        removed = mutation.operation != SET
        if index[0] == "contact":
            contact = value.contactAction
            full, first = contact.fullName or None, contact.firstName or None
            tx.set(KeyType.CONTACT_NAME, key, None if removed else json.dumps(
                {"full_name": full, "first_name": first}).encode())
            return ContactUpdated(jid, full, first, removed, value.timestamp)
        setting = {"pin_v1": "pin", "mute": "mute", "archive": "archive"}.get(index[0])
        if setting is None:
            return None
        raw = (await tx.get(KeyType.CHAT_SETTING, [key])).get(key)
        current = json.loads(raw) if raw else {}
        mute_end: int | None = None
        if setting == "pin":
            on = value.pinAction.pinned and not removed
            current["pinned"] = on
        elif setting == "mute":
            on = value.muteAction.muted and not removed
            mute_end = value.muteAction.muteEndTimestamp if on else None
            current["muted_until"] = mute_end
        else:
            on = value.archiveChatAction.archived and not removed
            current["archived"] = on
        tx.set(KeyType.CHAT_SETTING, key, json.dumps(current).encode())
        return ChatSettingChanged(jid, setting, on, mute_end, value.timestamp)
