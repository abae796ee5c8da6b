"""Answering a retry receipt: a device could not decrypt a message we sent, so we encrypt it again.

`<receipt type="retry">` names the message and the device; when we still have the message
(whatsapp/sent.py) and have not resent it MAX_RESENDS times to that device, it is encrypted again
for that device alone: with the `<keys>` the receipt carries (a fresh session), or a fetched
bundle from the second attempt on; a group message carries our sender key's SKDM along, our own
device gets the DeviceSentMessage copy (whatsmeow `retry.go` handleRetryReceipt). A status is a sender-key
send too: its retry comes `from="status@broadcast" participant=DEVICE` and is answered as a group's is,
with the status sender key's SKDM (always our PN device's: statuses go out in PN addressing).
"""

from __future__ import annotations

from loguru import logger

from whatsapp.addressing import canonical_device, own_addresses, own_users, sender_key_id
from whatsapp.auth import KeyType
from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.compose import device_sent_copy, skdm_message
from whatsapp.context import Context
from whatsapp.errors import DecodeError, NoSessionError
from whatsapp.fanout import Fanout, Target
from whatsapp.jid import JID, LID, STATUS_BROADCAST_JID
from whatsapp.padding import pad_message
from whatsapp.proto import e2e_pb2
from whatsapp.sent import SentMessages
from whatsapp.signal import PreKeyBundle, SenderKeyRecord, distribution_message
from whatsapp.usync import bundle_from_node

MAX_RESENDS = 5  # per (message, device)


class Resender:
    def __init__(self, ctx: Context, fanout: Fanout, sent: SentMessages) -> None:
        self.ctx = ctx
        self.fanout = fanout
        self.sent = sent

    async def handle_retry(self, node: Node) -> bool:
        """Re-encrypt a recently sent message for the device that could not decrypt it; False if we can't."""
        auth = self.ctx.auth
        message_id = node.attr_str("id") or ""
        retry = node.child("retry")
        sent = await self.sent.get(message_id)
        source = node.try_attr_jid("from")
        if retry is None or source is None:
            return False
        if sent is None:
            logger.info("retry receipt for message {} we no longer have; ignored", message_id)
            return False
        fanned = source.is_group or source == STATUS_BROADCAST_JID  # sender-key chats name the device apart
        device = node.try_attr_jid("participant") if fanned else source
        if device is None:
            return False
        count = retry.attr_int("count", 1) or 1
        done = sent.resends.get(str(device), 0)
        if done >= MAX_RESENDS:
            logger.debug("message {}: resend limit for {} reached", message_id, device)
            return False
        sent.resends[str(device)] = done + 1
        me_pn, me_lid = own_addresses(auth.creds)
        own = own_users(me_pn, me_lid)
        message = sent.message
        if device.user in own:
            message = device_sent_copy(message, sent.chat)
        elif sent.chat == STATUS_BROADCAST_JID:
            message = await self._with_sender_key(message, sent.chat, me_pn)
        elif sent.chat.is_group:
            message = await self._with_sender_key(message, sent.chat, me_lid if (device.server == LID and me_lid)
                                                  else me_pn)
        address = await canonical_device(auth, device)
        target = Target(device, address, pad_message(message.SerializeToString()))
        bundles: dict[JID, PreKeyBundle] = {}
        keys = node.child("keys")
        registration = node.child("registration")
        if keys is not None and registration is not None:
            try:
                bundles[address] = bundle_from_node(Node("user", {}, [registration, *keys.children]), device.device)
            except DecodeError as exc:
                logger.warning("retry receipt for {} carries unusable keys: {}", message_id, exc)
        if not bundles:
            bundles = await self.fanout.bundles_for([target], force={address} if count >= 2 else None)
        async with self.ctx.locks.signal:
            async with auth.transaction() as tx:
                nodes, any_prekey = await self.fanout.encrypt_all(tx, [target], bundles, count=count)
            if not nodes:
                raise NoSessionError(f"no session to resend {message_id} to {device}")
            children = nodes[0].children
            if any_prekey:
                children.append(self.fanout.device_identity())
            attrs: dict[str, AttrValue] = {"id": message_id, "type": sent.type}
            if sent.chat.is_group or sent.chat == STATUS_BROADCAST_JID:
                attrs.update({"to": sent.chat, "participant": device})
            else:
                attrs["to"] = device
                if device.user in own:
                    attrs["recipient"] = sent.chat
            await self.ctx.send(Node("message", attrs, children))
        logger.info("message {} re-sent to {} (retry {})", message_id, device, count)
        return True

    async def _with_sender_key(self, message: e2e_pb2.Message, group: JID, own_device: JID) -> e2e_pb2.Message:
        """The message plus our current sender key's SKDM, so the device can read the group again."""
        merged = e2e_pb2.Message()
        merged.CopyFrom(message)
        key = sender_key_id(group, own_device)
        stored = (await self.ctx.auth.get(KeyType.SENDER_KEY, [key])).get(key)
        if stored is not None:
            skdm = distribution_message(SenderKeyRecord.from_bytes(stored))
            merged.senderKeyDistributionMessage.CopyFrom(skdm_message(group, skdm).senderKeyDistributionMessage)
        return merged
