"""App-state collections ("syncd") as the server keeps them, and the phone's key share to new companions.

The server never holds an app-state key: it keeps, per account and collection, the patches its devices
uploaded, in order, and gives each the next version (`SyncdPatch.version`) as it stores it. What a client
sends and reads (whatsmeow `appstate.go` fetchAppStatePatches/sendAppState, Baileys `src/Socket/chats.ts`
resyncAppState/appPatch, `src/Utils/chat-utils.ts` extractSyncdPatches):

- `<iq xmlns="w:sync:app:state" type="set"><sync><collection name version return_snapshot/>…</sync></iq>`
  (whatsmeow leaves `version` out when it asks for a snapshot): answered per collection with
  `<collection name version=<latest> [has_more_patches="true"]><patches><patch>SyncdPatch</patch>…</patches>`
  holding the patches past `version`, at most MAX_PATCHES a round. A collection made only of patches has
  no snapshot: a client at version 0 gets every patch from the first, as the real server serves it.
- The same IQ with `<patch>` children in a `<collection name version>` uploads them (Baileys `appPatch`):
  `version` is the version the device built on. When it is the latest, each patch is stored under the next
  version, the answer is `<collection name version=<new>/>`, and every other companion of the account gets
  `<notification type="server_sync"><collection name version/></notification>`. When another device wrote
  first, the upload is refused as the server does, `<collection name type="error"><error code="409"
  text="conflict"/><patches>…</patches></collection>` carrying the patches the device lacks (whatsmeow
  applies them and sends again).
- The phone shares the account's app-state key with each new companion after its first login
  (`ServerSettings.app_state_keys`): `protocolMessage{type=APP_STATE_SYNC_KEY_SHARE(6)}` as a peer message
  (phone_history.py `send_peer`), which is how a companion may write app state at all.

`tamper_next` is the fault hook: the next uploaded patch has a byte of its first value blob flipped as it is
stored, so the readers' MAC checks, not the server, must notice.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from loguru import logger

from whatsapp.binary.node import AttrValue, Node
from whatsapp.proto import app_state_pb2, e2e_pb2
from whatsapp.testing.delivery import Delivery, deliver
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.errors import IQError
from whatsapp.testing.phone_history import PhoneHistory
from whatsapp.testing.settings import ServerSettings
from whatsapp.testing.state import Account, Device, ServerState

XMLNS = "w:sync:app:state"
COLLECTIONS = ("critical_block", "critical_unblock_low", "regular_high", "regular_low", "regular")
MAX_PATCHES = 50  # per answer; more sets has_more_patches, as the real server pages long histories


@dataclass(slots=True)
class Collection:
    patches: list[bytes] = field(default_factory=list)  # patches[i] is version i+1, serialized with it

    @property
    def version(self) -> int:
        return len(self.patches)


@dataclass(frozen=True, slots=True)
class SyncKey:
    key_id: bytes
    key_data: bytes
    timestamp: int


class AppStateServer:
    """The collections of every account, the sync IQ, the uploads, and the phone's key shares."""

    def __init__(self, state: ServerState, settings: ServerSettings, phone: PhoneHistory) -> None:
        self.state = state
        self.settings = settings
        self.phone = phone
        self.collections: dict[str, dict[str, Collection]] = {}  # by account phone number, then name
        self.keys: dict[str, SyncKey] = {}  # the account's app-state key, made by its phone when first needed
        self.shared: set[str] = set()  # companions (JID strings) the phone shared the key with
        self._tamper: set[str] = set()  # accounts whose next uploaded patch is damaged (tamper_next)

    def install(self, handlers: Handlers) -> None:
        handlers.iq(XMLNS, "set", "sync")(self._sync)

        async def first_login(context: HandlerContext) -> int:
            device = context.device
            if self.settings.app_state_keys and device is not None and str(device.jid) not in self.shared:
                self.shared.add(str(device.jid))
                context.connection.spawn(self._share(device))
            return 0

        handlers.on_login(first_login)

    # ---- the account's data -------------------------------------------------------------------------

    def collection(self, account: Account, name: str) -> Collection:
        return self.collections.setdefault(account.phone_number, {}).setdefault(name, Collection())

    def key(self, account: Account) -> SyncKey:
        if account.phone_number not in self.keys:
            # A real phone's key id is 6 bytes: 2 of device index and 4 of key index (whatsmeow keys.go).
            self.keys[account.phone_number] = SyncKey(b"\x00\x00" + secrets.token_bytes(4),
                                                      secrets.token_bytes(32), int(time.time() * 1000))
        return self.keys[account.phone_number]

    def tamper_next(self, account: Account) -> None:
        """Fault hook: flip a byte in the next patch the account's devices upload, as it is stored."""
        self._tamper.add(account.phone_number)

    async def _share(self, device: Device) -> None:
        await self.share_key(device)

    async def share_key(self, device: Device) -> str:
        key = self.key(device.account)
        share = e2e_pb2.AppStateSyncKeyShare(keys=[e2e_pb2.AppStateSyncKey(
            keyID=e2e_pb2.AppStateSyncKeyId(keyID=key.key_id),
            keyData=e2e_pb2.AppStateSyncKeyData(keyData=key.key_data, timestamp=key.timestamp))])
        message = e2e_pb2.Message(protocolMessage=e2e_pb2.ProtocolMessage(
            type=e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE, appStateSyncKeyShare=share))
        message_id = await self.phone.send_peer(device, message)
        logger.info("emulator: phone {} shares app-state key {} with {}", device.account.phone_number,
                    key.key_id.hex(), device.jid)
        self.state.emit("app_state_key_shared", account=device.account, device=device, data={"id": message_id})
        return message_id

    # ---- the IQ -------------------------------------------------------------------------------------

    async def _sync(self, context: HandlerContext, iq: Node) -> Node:
        device = context.logged_in()
        sync = iq.child("sync")
        assert sync is not None  # the handler is registered for child "sync"
        answers: list[Node] = []
        notify: list[tuple[str, int]] = []
        for node in sync.children:
            name = node.attr_str("name") or ""
            if node.tag != "collection" or name not in COLLECTIONS:
                raise IQError(400, "bad-request")
            version = _version(node)
            patches = [p for p in node.children if p.tag == "patch"]
            if patches:
                answer = self._upload(device, name, version, patches)
                if answer.attr_str("type") != "error":
                    notify.append((name, self.collection(device.account, name).version))
                answers.append(answer)
            else:
                answers.append(self._answer(device.account, name, version))
        for name, version in notify:
            await self._notify(device, name, version)
        return Node("sync", {}, answers)

    def _answer(self, account: Account, name: str, version: int) -> Node:
        collection = self.collection(account, name)
        if version > collection.version:
            # Ahead of the server: the device's state is not one the server ever had.
            return Node("collection", {"name": name, "type": "error"},
                        [Node("error", {"code": "400", "text": "bad-request"})])
        past = collection.patches[version:version + MAX_PATCHES]
        attrs: dict[str, AttrValue] = {"name": name, "version": str(version + len(past))}
        if version + len(past) < collection.version:
            attrs["has_more_patches"] = "true"
        return Node("collection", attrs, [Node("patches", {}, [Node("patch", {}, p) for p in past])] if past else None)

    def _upload(self, device: Device, name: str, version: int, nodes: list[Node]) -> Node:
        collection = self.collection(device.account, name)
        if version != collection.version:
            logger.info("emulator: {} uploaded {} on v{}, the server is at v{}: 409", device.jid, name, version,
                        collection.version)
            past = collection.patches[version:] if version < collection.version else []
            children = [Node("error", {"code": "409", "text": "conflict"})]
            if past:
                children.append(Node("patches", {}, [Node("patch", {}, p) for p in past]))
            return Node("collection", {"name": name, "type": "error", "version": str(collection.version)}, children)
        for node in nodes:
            patch = _parse(node)
            patch.version.version = collection.version + 1  # the server numbers what it stores
            if device.account.phone_number in self._tamper:
                self._tamper.discard(device.account.phone_number)
                _flip(patch)
            collection.patches.append(patch.SerializeToString())
        logger.info("emulator: {} wrote {} up to v{}", device.jid, name, collection.version)
        self.state.emit("app_state_patch", account=device.account, device=device,
                        data={"name": name, "version": collection.version})
        return Node("collection", {"name": name, "version": str(collection.version)})

    async def _notify(self, writer: Device, name: str, version: int) -> None:
        deliveries = []
        for device in writer.account.companions():
            if device is writer:
                continue
            attrs: dict[str, AttrValue] = {"from": "s.whatsapp.net", "type": "server_sync",
                                           "id": self.state.next_notification_id(), "t": str(int(time.time()))}
            deliveries.append(Delivery(device, Node("notification", attrs, [
                Node("collection", {"name": name, "version": str(version)})])))
        await deliver(deliveries)


def _version(node: Node) -> int:
    raw = node.attr_str("version")
    if raw is None:
        return 0  # whatsmeow asks for a snapshot without a version
    if not raw.isdigit():
        raise IQError(400, "bad-request")
    return int(raw)


def _parse(node: Node) -> app_state_pb2.SyncdPatch:
    """Only the envelope is read (the server has no key): a patch must parse and name its key and MACs."""
    if not isinstance(node.content, bytes):
        raise IQError(400, "bad-request")
    try:
        patch = app_state_pb2.SyncdPatch.FromString(node.content)
    except DecodeError:
        raise IQError(400, "bad-request") from None
    if not patch.keyID.ID or not patch.patchMAC or not patch.snapshotMAC or not patch.mutations:
        raise IQError(400, "bad-request")
    return patch


def _flip(patch: app_state_pb2.SyncdPatch) -> None:
    blob = bytearray(patch.mutations[0].record.value.blob)
    blob[len(blob) // 2] ^= 0x01
    patch.mutations[0].record.value.blob = bytes(blob)
