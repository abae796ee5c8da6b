"""Sending end-to-end encrypted messages to a user (PN or LID) or a group (docs/architecture.md).

One send:
1. Device lists (whatsapp/devices.py) of the recipient and of our own account (our other devices get
   a DeviceSentMessage copy); for a group, the `w:g2` metadata (whatsapp/groups.py, cached) and the
   devices of every participant.
2. Prekey bundles for devices without a session (one batched IQ, whatsapp/fanout.py).
3. In ONE auth transaction under the Signal lock: build those sessions, pad and encrypt per device
   (a group: our sender key, one skmsg, and the SKDM pairwise to devices that lack it), and commit
   BEFORE the stanza leaves, so a crash can never send two messages with the same chain key.
4. Send `<message>` and wait for the server's `<ack>`; `error=..` raises SendError with its code.
The message is remembered (whatsapp/sent.py) so a retry receipt can be answered (whatsapp/resend.py).
Every message gets a message secret first (whatsapp/msgsecret.py), and with it a `<reporting>` token
(whatsapp/reporting.py), on 1:1 and group sends alike, where whatsmeow and Baileys send one. A 1:1 stanza
carries the contact's trust token (whatsapp/trust.py); after it was accepted we issue ours when due; an
`<ack error="463">` (no valid token) gets one retry when a fresh token could be had, then SendError(463)
with one clear log line.

Sessions are always keyed by the device's canonical (LID) address, see `whatsapp.addressing`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from loguru import logger

from whatsapp.addressing import own_addresses, own_users, sender_key_id
from whatsapp.auth import KeyType
from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.compose import (
    device_sent_copy,
    enc_node,
    generate_message_id,
    skdm_message,
    stanza_extras,
    stanza_type,
)
from whatsapp.context import Context
from whatsapp.errors import SendError
from whatsapp.fanout import Fanout
from whatsapp.groups import GroupDirectory
from whatsapp.jid import JID, LID, STATUS_BROADCAST_JID
from whatsapp.messages import SendResult
from whatsapp.msgsecret import with_message_secret
from whatsapp.padding import pad_message
from whatsapp.phash import ParticipantHash
from whatsapp.proto import e2e_pb2
from whatsapp.reporting import reporting_node
from whatsapp.sent import SentMessage, SentMessages
from whatsapp.signal import SenderKeyRecord, create_sender_key, distribution_message, group_encrypt
from whatsapp.trust import TOKEN_REFUSED, TrustTokens

# A status audience: the users it goes to, and the addressing they are named in.
Audience = tuple[tuple[JID, ...], str]


class Sender:
    def __init__(self, ctx: Context, fanout: Fanout, groups: GroupDirectory, sent: SentMessages,
                 trust: TrustTokens | None = None) -> None:
        self.ctx = ctx
        self.fanout = fanout
        self.groups = groups
        self.recent = sent
        self.trust = trust
        self.sent = 0
        self.phash = ParticipantHash(fanout.devices, groups)

    async def send(self, chat: JID, message: e2e_pb2.Message, message_id: str | None = None,
                   recipients: Sequence[JID] = ()) -> SendResult:
        """`recipients`: the users a `status@broadcast` send goes to (it has no member list of its own)."""
        me_pn, me_lid = own_addresses(self.ctx.auth.creds)
        chat = chat.to_non_ad()
        message = with_message_secret(message)
        message_id = message_id or generate_message_id(me_pn.user)
        kind = stanza_type(message)
        distributed: list[str] = []
        if chat == STATUS_BROADCAST_JID:
            if not recipients:
                raise SendError(message_id, None, "a status needs recipients")
            audience = [r.to_non_ad() for r in recipients if r.is_user] + [me_pn.to_non_ad()]
            node, devices, _ = await self._prepare_group(chat, message, message_id, kind, me_pn, None,
                                                         (tuple(dict.fromkeys(audience)), "pn"))
        elif chat.is_group:
            node, devices, distributed = await self._prepare_group(chat, message, message_id, kind, me_pn, me_lid)
        elif chat.is_user:
            node, devices = await self._prepare_direct(chat, message, message_id, kind, me_pn, me_lid)
        else:
            raise SendError(message_id, None, f"sending to {chat} is not supported")
        extra_attrs, extra_children = stanza_extras(message)  # edit="…", <meta polltype>
        node.attrs.update(extra_attrs)
        if extra_children and isinstance(node.content, list):
            node.content.extend(extra_children)
        hash_users = await self._hash_users(chat, me_pn, me_lid)
        ours = await self.phash.of_users(hash_users)
        if chat.is_group:
            node.attrs["phash"] = ours  # the server compares it with the real lists (whatsapp/phash.py)
        await self.recent.remember(message_id, SentMessage(chat, message, kind))
        ack = await self.ctx.query(node)
        await self.phash.check_ack(chat, hash_users, ours, ack)
        if self.trust is not None and chat.is_user and ack.attr_str("error") == str(TOKEN_REFUSED):
            ack = await self.trust.retry_refused(chat, node) or ack
        error = ack.attr_str("error")
        if error:
            code = int(error) if error.isdigit() else None
            if code == TOKEN_REFUSED:
                logger.warning("message {} to {} not delivered (463): no valid trust token from this contact (it "
                               "has to write first), or this account may not start new chats", message_id, chat)
            else:
                logger.warning("message {} to {} refused by the server (error {})", message_id, chat, error)
            raise SendError(message_id, code, "refused by the server")
        if self.trust is not None and chat.is_user:
            self.trust.after_send(chat)
        if distributed:
            await self._remember_distribution(chat, distributed)
        self.sent += 1
        logger.info("message {} sent to {} ({} devices)", message_id, chat, devices)
        return SendResult(message_id, ack.attr_int("t"), devices)

    async def _hash_users(self, chat: JID, me_pn: JID, me_lid: JID | None) -> list[JID]:
        """The users whose devices a send to `chat` covers (whatsmeow `send.go`: the group's participants, or the
        recipient and our own account in the chat's addressing)."""
        if chat.is_group:
            return list((await self.groups.info(chat)).participants)
        if chat == STATUS_BROADCAST_JID:
            return []  # the server checks no participant hash for a status
        own_user = me_lid.to_non_ad() if chat.server == LID and me_lid else me_pn.to_non_ad()
        return [chat] if chat.user in own_users(me_pn, me_lid) else [chat, own_user]

    async def _prepare_direct(self, chat: JID, message: e2e_pb2.Message, message_id: str, kind: str,
                              me_pn: JID, me_lid: JID | None) -> tuple[Node, int]:
        lid_chat = chat.server == LID
        own_user = (me_lid.to_non_ad() if lid_chat and me_lid else me_pn.to_non_ad())
        own_device = me_lid if lid_chat and me_lid else me_pn
        plaintext = message.SerializeToString()
        padded_message = pad_message(plaintext)
        padded_dsm = pad_message(device_sent_copy(message, chat).SerializeToString())
        own = own_users(me_pn, me_lid)

        def payload(wire: JID) -> bytes:
            return padded_dsm if wire.user in own else padded_message

        users = [chat] if chat.user in own else [chat, own_user]
        targets = await self.fanout.targets(users, own_device, payload)
        if not any(t.wire.user == chat.user for t in targets) and chat.user not in own:
            raise SendError(message_id, None, f"{chat} has no devices")
        bundles = await self.fanout.bundles_for(targets)
        tokens = await self.trust.stanza_nodes(chat) if self.trust is not None and chat.user not in own else []
        async with self.ctx.locks.signal:
            async with self.ctx.auth.transaction() as tx:
                participants, any_prekey = await self.fanout.encrypt_all(tx, targets, bundles)
            if not participants:
                raise SendError(message_id, None, "could not encrypt for any device")
            children = [Node("participants", {}, participants)]
            if any_prekey:
                children.append(self.fanout.device_identity())
            reporting = reporting_node(message, plaintext, message_id, own_device, chat)
            if reporting is not None:
                children.append(reporting)  # before the trust token, in whatsmeow's and Baileys' order
            children.extend(tokens)
            node = Node("message", {"id": message_id, "to": chat, "type": kind}, children)
        return node, len(participants)

    async def _prepare_group(self, group: JID, message: e2e_pb2.Message, message_id: str, kind: str,
                             me_pn: JID, me_lid: JID | None, audience: Audience | None = None
                             ) -> tuple[Node, int, list[str]]:
        """A sender-key send: to a group's members, or (`audience`: users, addressing) to a status audience.
        A status has no membership the server tracks for us: every recipient device gets the SKDM each time,
        so the stanza names all of them (whatsmeow `send.go` sendGroup with a broadcast list)."""
        auth = self.ctx.auth
        if audience is None:
            info = await self.groups.info(group)
            members, mode = info.participants, info.addressing_mode
        else:
            members, mode = audience
        lid_mode = mode == "lid" and me_lid is not None
        own_device = me_lid if lid_mode and me_lid else me_pn
        own_key = sender_key_id(group, own_device)
        memory_raw = (await auth.get(KeyType.SENDER_KEY_MEMORY, [str(group)])).get(str(group))
        have_key: set[str] = set(json.loads(memory_raw)) if memory_raw else set()
        stored_key = (await auth.get(KeyType.SENDER_KEY, [own_key])).get(own_key)
        record = create_sender_key(SenderKeyRecord.from_bytes(stored_key) if stored_key else None)
        if stored_key is None or audience is not None:
            have_key = set()  # a new sender key (or a status): everybody needs the SKDM
        skdm = pad_message(skdm_message(group, distribution_message(record)).SerializeToString())

        def payload(wire: JID) -> bytes | None:
            return None if str(wire) in have_key else skdm

        targets = await self.fanout.targets(list(members), own_device, payload)
        bundles = await self.fanout.bundles_for(targets)
        async with self.ctx.locks.signal:
            async with auth.transaction() as tx:
                # Re-read under the lock: a concurrent send to this group may have advanced the chain.
                current = (await tx.get(KeyType.SENDER_KEY, [own_key])).get(own_key)
                if current is not None and current != stored_key:
                    record = SenderKeyRecord.from_bytes(current)
                participants, any_prekey = await self.fanout.encrypt_all(tx, targets, bundles)
                plaintext = message.SerializeToString()
                record, skmsg = group_encrypt(record, pad_message(plaintext))
                tx.set(KeyType.SENDER_KEY, own_key, record.to_bytes())
            children: list[Node] = []
            if participants:
                children.append(Node("participants", {}, participants))
            if any_prekey:
                children.append(self.fanout.device_identity())
            children.append(enc_node("skmsg", skmsg))
            reporting = reporting_node(message, plaintext, message_id, own_device, group)
            if reporting is not None:
                children.append(reporting)
            attrs: dict[str, AttrValue] = {"id": message_id, "to": group, "type": kind}
            if mode == "lid":
                attrs["addressing_mode"] = "lid"
            node = Node("message", attrs, children)
        distributed = [str(p.attrs["jid"]) for p in participants]
        return node, len(targets), distributed

    async def _remember_distribution(self, group: JID, devices: list[str]) -> None:
        async with self.ctx.auth.transaction() as tx:
            raw = (await tx.get(KeyType.SENDER_KEY_MEMORY, [str(group)])).get(str(group))
            have = set(json.loads(raw)) if raw else set()
            have.update(devices)
            tx.set(KeyType.SENDER_KEY_MEMORY, str(group), json.dumps(sorted(have)).encode())
