"""Sending end-to-end encrypted messages: 1:1 and groups, and answering retry receipts (protocol-notes 5.8–5.12).

One send:
1. Device lists (usync, cached per user under KeyType.DEVICE_LIST) of the recipient and of our own
   account (our other devices get a DeviceSentMessage copy); for a group, the `w:g2` metadata (cached)
   and the devices of every participant.
2. Prekey bundles for devices without a session (one batched IQ).
3. In ONE auth transaction: build those sessions, pad and encrypt per device (a group: our sender key,
   one skmsg, and the SKDM pairwise to devices that lack it), and commit BEFORE the stanza leaves, so a
   crash can never send two messages with the same chain key.
4. Send `<message>` and wait for the server's `<ack>`; `error=..` raises SendError.
A bounded recent-sent cache lets `<receipt type="retry">` be answered by re-encrypting for that device.

Sessions are always keyed by the device's canonical (LID) address, see `whatsapp.addressing`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Protocol

from loguru import logger

from whatsapp.addressing import (
    canonical_device,
    load_session_bytes,
    own_addresses,
    own_users,
    sender_key_id,
    store_mapping,
)
from whatsapp.auth import AuthState, KeyType, Transaction
from whatsapp.binary import Node
from whatsapp.errors import DecodeError, NoSessionError, SignalError
from whatsapp.jid import JID, LID, S_WHATSAPP_NET
from whatsapp.messages import MessageReceived, SendError, SendResult
from whatsapp.padding import pad_message
from whatsapp.proto import e2e_pb2
from whatsapp.signal import (
    LocalIdentity,
    PreKeyBundle,
    SenderKeyRecord,
    SessionRecord,
    build_session_from_bundle,
    create_sender_key,
    distribution_message,
    encrypt_message,
    group_encrypt,
)
from whatsapp.usync import DeviceList, bundle_from_node, devices_query, parse_bundles, parse_devices, prekey_query

RECENT_SENT = 256  # messages kept for retry receipts (whatsmeow keeps 256 in memory)
MAX_RESENDS = 5  # per (message, device)
GROUP_CACHE_TTL = 300.0
GROUP_CACHE_SIZE = 128


class Link(Protocol):
    """What the sender needs from the client (the asyncio edge)."""

    auth: AuthState

    async def query(self, node: Node, timeout: float | None = None) -> Node: ...
    async def send_node(self, node: Node) -> None: ...
    def new_id(self) -> str: ...


# -- sans-I/O helpers ---------------------------------------------------------------------------------------


def generate_message_id(me_user: str, now: int | None = None) -> str:
    """`3EB0` + 18 upper hex digits of SHA256(BE64(unix s) || user || "@c.us" || 16 random bytes)."""
    stamp = (now if now is not None else int(time.time())).to_bytes(8, "big")
    digest = sha256(stamp + me_user.encode() + b"@c.us" + secrets.token_bytes(16)).digest()
    return "3EB0" + digest[:9].hex().upper()


_MEDIA_FIELDS = ("imageMessage", "videoMessage", "audioMessage", "documentMessage", "stickerMessage",
                 "contactMessage", "locationMessage")


def stanza_type(message: e2e_pb2.Message) -> str:
    """The `<message type>`: reaction, poll, media or text (W:send.go getTypeFromMessage)."""
    present = {field.name for field, _ in message.ListFields()}  # the schema subset may lack some fields
    if present & {"reactionMessage", "encReactionMessage"}:
        return "reaction"
    if present & {"pollCreationMessage", "pollUpdateMessage", "pollCreationMessageV2", "pollCreationMessageV3"}:
        return "poll"
    if present & set(_MEDIA_FIELDS):
        return "media"
    return "text"


def device_sent_copy(message: e2e_pb2.Message, chat: JID) -> e2e_pb2.Message:
    """What our other devices get: the message wrapped in deviceSentMessage(destinationJID=chat)."""
    wrapped = e2e_pb2.Message()
    wrapped.deviceSentMessage.destinationJID = str(chat)
    wrapped.deviceSentMessage.message.CopyFrom(message)
    if message.HasField("messageContextInfo"):
        wrapped.messageContextInfo.CopyFrom(message.messageContextInfo)
    return wrapped


def skdm_message(group: JID, skdm: bytes) -> e2e_pb2.Message:
    message = e2e_pb2.Message()
    message.senderKeyDistributionMessage.groupID = str(group)
    message.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage = skdm
    return message


def enc_node(enc_type: str, body: bytes, count: int | None = None) -> Node:
    attrs = {"v": "2", "type": enc_type}
    if count:
        attrs["count"] = str(count)
    return Node("enc", attrs, body)


def text_message(text: str, quoted: MessageReceived | None = None) -> e2e_pb2.Message:
    """`conversation`, or `extendedTextMessage` with contextInfo when replying to `quoted` (MessageReceived)."""
    message = e2e_pb2.Message()
    if quoted is None:
        message.conversation = text
        return message
    extended = message.extendedTextMessage
    extended.text = text
    context = extended.contextInfo
    context.stanzaID = quoted.id
    context.participant = str(quoted.sender.to_non_ad())
    context.quotedMessage.CopyFrom(quoted.message)
    if quoted.is_group:
        context.remoteJID = str(quoted.chat)
    return message


@dataclass(frozen=True, slots=True)
class GroupInfo:
    jid: JID
    subject: str
    addressing_mode: str  # "lid" or "pn"
    participants: tuple[JID, ...]  # user JIDs in the group's addressing
    fetched_at: float


def parse_group(result: Node, now: float | None = None) -> tuple[GroupInfo, list[tuple[str, str]]]:
    """The `<group>` of a w:g2 answer, and the (pn_user, lid_user) pairs its participants reveal."""
    group = result.child("group")
    if group is None:
        raise DecodeError("w:g2 answer without <group>")
    gid = group.attr_str("id") or ""
    jid = JID.parse(gid if "@" in gid else f"{gid}@g.us")
    mode = group.attr_str("addressing_mode") or "pn"
    participants: list[JID] = []
    pairs: list[tuple[str, str]] = []
    for item in group.children_by_tag("participant"):
        member = item.attr_jid("jid")
        if member is None:
            continue
        participants.append(member.to_non_ad())
        other = item.attr_jid("phone_number") if member.server == LID else item.attr_jid("lid")
        if other is not None:
            pn, lid = (other, member) if member.server == LID else (member, other)
            if pn.server == S_WHATSAPP_NET and lid.server == LID:
                pairs.append((pn.user, lid.user))
    info = GroupInfo(jid, group.attr_str("subject") or "", mode, tuple(participants),
                     now if now is not None else time.time())
    return info, pairs


@dataclass(slots=True)
class _Sent:
    chat: JID
    message: e2e_pb2.Message
    type: str
    resends: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclass(slots=True)
class _Target:
    wire: JID  # the JID in `<to jid>` (the conversation's addressing)
    address: JID  # the canonical (LID when known) device for the session
    plaintext: bytes  # padded Message


# -- the sender (asyncio edge) ---------------------------------------------------------------------------


class Sender:
    def __init__(self, link: Link, lock: asyncio.Lock) -> None:
        self.link = link
        self._lock = lock
        self._recent: OrderedDict[str, _Sent] = OrderedDict()
        self._groups: OrderedDict[JID, GroupInfo] = OrderedDict()
        self.sent = 0

    @property
    def auth(self) -> AuthState:
        return self.link.auth

    # ---- device lists, bundles, groups -------------------------------------------------------------------

    async def devices(self, users: list[JID]) -> dict[JID, DeviceList]:
        users = list(dict.fromkeys(u.to_non_ad() for u in users))
        keys = [str(u) for u in users]
        stored = await self.auth.get(KeyType.DEVICE_LIST, keys)
        lists: dict[JID, DeviceList] = {}
        missing: list[JID] = []
        for user, key in zip(users, keys, strict=True):
            cached = DeviceList.from_bytes(user, stored[key]) if key in stored else None
            if cached is not None and cached.fresh():
                lists[user] = cached
            else:
                missing.append(user)
        if missing:
            answer = await self.link.query(devices_query(self.link.new_id(), missing))
            fetched = parse_devices(answer)
            async with self.auth.transaction() as tx:
                for user, found in fetched.items():
                    tx.set(KeyType.DEVICE_LIST, str(user), found.to_bytes())
                    if found.lid is not None and user.server == S_WHATSAPP_NET:
                        store_mapping(tx, user.user, found.lid.user)
            lists.update(fetched)
        return lists

    async def invalidate_devices(self, user: JID) -> None:
        async with self.auth.transaction() as tx:
            tx.set(KeyType.DEVICE_LIST, str(user.to_non_ad()), None)

    async def group_info(self, group: JID, *, refresh: bool = False) -> GroupInfo:
        cached = self._groups.get(group)
        if cached is not None and not refresh and time.time() - cached.fetched_at < GROUP_CACHE_TTL:
            return cached
        answer = await self.link.query(Node("iq", {"xmlns": "w:g2", "type": "get", "to": group},
                                            [Node("query", {"request": "interactive"})]))
        info, pairs = parse_group(answer)
        if pairs:
            async with self.auth.transaction() as tx:
                for pn_user, lid_user in pairs:
                    store_mapping(tx, pn_user, lid_user)
        self._groups[group] = info
        self._groups.move_to_end(group)
        while len(self._groups) > GROUP_CACHE_SIZE:
            self._groups.popitem(last=False)
        return info

    def forget_group(self, group: JID) -> None:
        self._groups.pop(group.to_non_ad(), None)

    async def _bundles_for(self, targets: list[_Target], force: set[JID] | None = None) -> dict[JID, PreKeyBundle]:
        """Bundles for the targets that have no session (or are in `force`), fetched in one IQ."""
        need: list[_Target] = []
        # Read-only unless a PN session migrates to LID; under the Signal lock so such a copy never
        # lands on top of a LID session a concurrent decrypt just advanced.
        async with self._lock, self.auth.transaction() as tx:
            for target in targets:
                if force and target.address in force:
                    need.append(target)
                    continue
                stored = await load_session_bytes(tx, target.address)
                if stored is None or not SessionRecord.from_bytes(stored).has_open_session:
                    need.append(target)
        if not need:
            return {}
        answer = await self.link.query(prekey_query([t.wire for t in need]))
        fetched = parse_bundles(answer)
        bundles: dict[JID, PreKeyBundle] = {}
        for target in need:
            found = fetched.get(target.wire)
            if isinstance(found, PreKeyBundle):
                bundles[target.address] = found
            else:
                logger.warning("no prekey bundle for {}: {}", target.wire, found or "not in the answer")
        return bundles

    # ---- encryption (inside the caller's transaction) ----------------------------------------------------

    async def _encrypt_all(self, tx: Transaction, targets: list[_Target], bundles: dict[JID, PreKeyBundle],
                           count: int | None = None) -> tuple[list[Node], bool]:
        """`<to jid><enc/></to>` per target; devices we cannot encrypt for are skipped (logged)."""
        me = LocalIdentity.from_creds(self.auth.creds)
        nodes: list[Node] = []
        any_prekey = False
        for target in targets:
            address = target.address.signal_address
            try:
                stored = await load_session_bytes(tx, target.address)
                record = SessionRecord.from_bytes(stored) if stored is not None else None
                bundle = bundles.get(target.address)
                if bundle is not None:
                    known = (await tx.get(KeyType.IDENTITY, [address])).get(address)
                    built = build_session_from_bundle(record, me, bundle, known_identity=known)
                    record = built.record
                    tx.set(KeyType.IDENTITY, address, built.remote_identity)
                record, encrypted = encrypt_message(record, me, target.plaintext)
            except (SignalError, DecodeError) as exc:
                logger.warning("cannot encrypt for {}: {}", target.wire, exc)
                continue
            tx.set(KeyType.SESSION, address, record.to_bytes())
            any_prekey = any_prekey or encrypted.type == "pkmsg"
            nodes.append(Node("to", {"jid": target.wire}, [enc_node(encrypted.type, encrypted.body, count)]))
        return nodes, any_prekey

    def _device_identity(self) -> Node:
        return Node("device-identity", {}, self.auth.creds.account or b"")

    # ---- sending ---------------------------------------------------------------------------------------

    async def send(self, chat: JID, message: e2e_pb2.Message, message_id: str | None = None) -> SendResult:
        me_pn, me_lid = own_addresses(self.auth.creds)
        chat = chat.to_non_ad()
        message_id = message_id or generate_message_id(me_pn.user)
        kind = stanza_type(message)
        if chat.is_group:
            node, devices, distributed = await self._prepare_group(chat, message, message_id, kind, me_pn, me_lid)
        elif chat.is_user:
            node, devices = await self._prepare_direct(chat, message, message_id, kind, me_pn, me_lid)
            distributed = []
        else:
            raise SendError(message_id, None, f"sending to {chat} is not supported")
        self._remember(message_id, _Sent(chat, message, kind))
        ack = await self.link.query(node)
        error = ack.attr_str("error")
        if error:
            code = int(error) if error.isdigit() else None
            logger.warning("message {} to {} refused by the server (error {})", message_id, chat, error)
            raise SendError(message_id, code, "refused by the server")
        if distributed:
            await self._remember_distribution(chat, distributed)
        self.sent += 1
        logger.info("message {} sent to {} ({} devices)", message_id, chat, devices)
        return SendResult(message_id, ack.attr_int("t"), devices)

    def _remember(self, message_id: str, sent: _Sent) -> None:
        self._recent[message_id] = sent
        self._recent.move_to_end(message_id)
        while len(self._recent) > RECENT_SENT:
            self._recent.popitem(last=False)

    async def _targets(self, users: list[JID], exclude: JID,
                       payload_for: Callable[[JID], bytes | None]) -> list[_Target]:
        """One target per device of `users` (our own sending device excluded)."""
        lists = await self.devices(users)
        targets: list[_Target] = []
        for user in users:
            found = lists.get(user.to_non_ad())
            if found is None:
                continue
            for wire in found.device_jids():
                if wire.user == exclude.user and wire.device == exclude.device:
                    continue
                plaintext = payload_for(wire)
                if plaintext is None:
                    continue
                address = await canonical_device(self.auth, wire, found.lid)
                targets.append(_Target(wire, address, plaintext))
        return targets

    async def _prepare_direct(self, chat: JID, message: e2e_pb2.Message, message_id: str, kind: str,
                              me_pn: JID, me_lid: JID | None) -> tuple[Node, int]:
        lid_chat = chat.server == LID
        own_user = (me_lid.to_non_ad() if lid_chat and me_lid else me_pn.to_non_ad())
        own_device = me_lid if lid_chat and me_lid else me_pn
        padded_message = pad_message(message.SerializeToString())
        padded_dsm = pad_message(device_sent_copy(message, chat).SerializeToString())
        own = own_users(me_pn, me_lid)

        def payload(wire: JID) -> bytes:
            return padded_dsm if wire.user in own else padded_message

        users = [chat] if chat.user in own else [chat, own_user]
        targets = await self._targets(users, own_device, payload)
        if not any(t.wire.user == chat.user for t in targets) and chat.user not in own:
            raise SendError(message_id, None, f"{chat} has no devices")
        bundles = await self._bundles_for(targets)
        async with self._lock:
            async with self.auth.transaction() as tx:
                participants, any_prekey = await self._encrypt_all(tx, targets, bundles)
            if not participants:
                raise SendError(message_id, None, "could not encrypt for any device")
            children = [Node("participants", {}, participants)]
            if any_prekey:
                children.append(self._device_identity())
            node = Node("message", {"id": message_id, "to": chat, "type": kind}, children)
        return node, len(participants)

    async def _prepare_group(self, group: JID, message: e2e_pb2.Message, message_id: str, kind: str,
                             me_pn: JID, me_lid: JID | None) -> tuple[Node, int, list[str]]:
        info = await self.group_info(group)
        lid_mode = info.addressing_mode == "lid" and me_lid is not None
        own_device = me_lid if lid_mode and me_lid else me_pn
        own_key = sender_key_id(group, own_device)
        memory_raw = (await self.auth.get(KeyType.SENDER_KEY_MEMORY, [str(group)])).get(str(group))
        have_key: set[str] = set(json.loads(memory_raw)) if memory_raw else set()
        stored_key = (await self.auth.get(KeyType.SENDER_KEY, [own_key])).get(own_key)
        record = create_sender_key(SenderKeyRecord.from_bytes(stored_key) if stored_key else None)
        if stored_key is None:
            have_key = set()  # a new sender key: everybody needs the new SKDM
        skdm = pad_message(skdm_message(group, distribution_message(record)).SerializeToString())

        def payload(wire: JID) -> bytes | None:
            return None if str(wire) in have_key else skdm

        targets = await self._targets(list(info.participants), own_device, payload)
        bundles = await self._bundles_for(targets)
        async with self._lock:
            async with self.auth.transaction() as tx:
                # Re-read under the lock: a concurrent send to this group may have advanced the chain.
                current = (await tx.get(KeyType.SENDER_KEY, [own_key])).get(own_key)
                if current is not None and current != stored_key:
                    record = SenderKeyRecord.from_bytes(current)
                participants, any_prekey = await self._encrypt_all(tx, targets, bundles)
                record, skmsg = group_encrypt(record, pad_message(message.SerializeToString()))
                tx.set(KeyType.SENDER_KEY, own_key, record.to_bytes())
            children: list[Node] = []
            if participants:
                children.append(Node("participants", {}, participants))
            if any_prekey:
                children.append(self._device_identity())
            children.append(enc_node("skmsg", skmsg))
            attrs: dict[str, Any] = {"id": message_id, "to": group, "type": kind}
            if info.addressing_mode == "lid":
                attrs["addressing_mode"] = "lid"
            node = Node("message", attrs, children)
        distributed = [str(p.attrs["jid"]) for p in participants]
        return node, len(targets), distributed

    async def _remember_distribution(self, group: JID, devices: list[str]) -> None:
        async with self.auth.transaction() as tx:
            raw = (await tx.get(KeyType.SENDER_KEY_MEMORY, [str(group)])).get(str(group))
            have = set(json.loads(raw)) if raw else set()
            have.update(devices)
            tx.set(KeyType.SENDER_KEY_MEMORY, str(group), json.dumps(sorted(have)).encode())

    # ---- incoming retry receipts -----------------------------------------------------------------------------

    async def handle_retry(self, node: Node) -> bool:
        """Re-encrypt a recently sent message for the device that could not decrypt it; False if we can't."""
        message_id = node.attr_str("id") or ""
        retry = node.child("retry")
        sent = self._recent.get(message_id)
        source = node.attr_jid("from")
        if retry is None or source is None:
            return False
        if sent is None:
            logger.info("retry receipt for message {} we no longer have; ignored", message_id)
            return False
        device = node.attr_jid("participant") if source.is_group else source
        if device is None:
            return False
        count = retry.attr_int("count", 1) or 1
        done = sent.resends.get(str(device), 0)
        if done >= MAX_RESENDS:
            logger.debug("message {}: resend limit for {} reached", message_id, device)
            return False
        sent.resends[str(device)] = done + 1
        me_pn, me_lid = own_addresses(self.auth.creds)
        own = own_users(me_pn, me_lid)
        message = sent.message
        if device.user in own:
            message = device_sent_copy(message, sent.chat)
        elif sent.chat.is_group:
            merged = e2e_pb2.Message()
            merged.CopyFrom(message)
            own_device = me_lid if (device.server == LID and me_lid) else me_pn
            key = sender_key_id(sent.chat, own_device)
            stored = (await self.auth.get(KeyType.SENDER_KEY, [key])).get(key)
            if stored is not None:
                skdm = distribution_message(SenderKeyRecord.from_bytes(stored))
                merged.senderKeyDistributionMessage.CopyFrom(skdm_message(sent.chat, skdm).senderKeyDistributionMessage)
            message = merged
        address = await canonical_device(self.auth, device)
        target = _Target(device, address, pad_message(message.SerializeToString()))
        bundles: dict[JID, PreKeyBundle] = {}
        keys = node.child("keys")
        registration = node.child("registration")
        if keys is not None and registration is not None:
            try:
                bundles[address] = bundle_from_node(Node("user", {}, [registration, *keys.children]), device.device)
            except DecodeError as exc:
                logger.warning("retry receipt for {} carries unusable keys: {}", message_id, exc)
        if not bundles:
            bundles = await self._bundles_for([target], force={address} if count >= 2 else None)
        async with self._lock:
            async with self.auth.transaction() as tx:
                nodes, any_prekey = await self._encrypt_all(tx, [target], bundles, count=count)
            if not nodes:
                raise NoSessionError(f"no session to resend {message_id} to {device}")
            children = nodes[0].children
            if any_prekey:
                children.append(self._device_identity())
            attrs: dict[str, Any] = {"id": message_id, "type": sent.type}
            if sent.chat.is_group:
                attrs.update({"to": sent.chat, "participant": device})
            else:
                attrs["to"] = device
                if device.user in own:
                    attrs["recipient"] = sent.chat
            await self.link.send_node(Node("message", attrs, children))
        logger.info("message {} re-sent to {} (retry {})", message_id, device, count)
        return True
