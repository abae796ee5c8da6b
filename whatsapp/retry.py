"""Asking a sender to send a message again: retry receipts for what we could not decrypt.

A failed decrypt gets `<receipt type="retry">` with the attempt count; from the second attempt on
(or when we have no session at all) it carries `<keys>` with a fresh one-time prekey, so the sender
can build a new session (whatsmeow `retry.go` sendRetryReceipt, Baileys `sendRetryRequest` in
src/Socket/messages-recv.ts; docs/protocol.md §Retry receipts). After MAX_RETRIES the message is
NACKed: the sender gives up too.
`RetryCounter` is the bounded memory of attempts per message id. Answering OTHER devices' retry
receipts for our sends is whatsapp/resend.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict

from whatsapp.auth import AuthState, KeyType
from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.creds import SignedPreKey
from whatsapp.envelope import Envelope
from whatsapp.key_nodes import key_node, key_type_node, registration_node, signed_key_node
from whatsapp.keys import KeyPair
from whatsapp.prekeys import prekey_id_after

MAX_RETRIES = 5  # Baileys' maxMsgRetryCount; the sender gives up too
RETRY_MEMORY = 1024  # messages whose retry count we remember (bounded: a flood cannot grow it)


class RetryCounter:
    """How many retry receipts each recent message id got (the oldest ids are forgotten first)."""

    def __init__(self, capacity: int = RETRY_MEMORY) -> None:
        self.capacity = capacity
        self._counts: OrderedDict[str, int] = OrderedDict()

    def bump(self, message_id: str) -> int:
        """Count one more failed attempt; returns the attempt number (1 for the first failure)."""
        count = self._counts.get(message_id, 0) + 1
        self._counts[message_id] = count
        self._counts.move_to_end(message_id)
        while len(self._counts) > self.capacity:
            self._counts.popitem(last=False)
        return count

    def forget(self, message_id: str) -> None:
        """The message decrypted after all."""
        self._counts.pop(message_id, None)

    def __len__(self) -> int:
        return len(self._counts)


def retry_keys_node(identity_public: bytes, pre_key: tuple[int, KeyPair], signed_pre_key: SignedPreKey,
                    device_identity: bytes | None) -> Node:
    """`<keys>` of a retry receipt: a fresh one-time prekey, the signed prekey and our device identity."""
    key_id, pair = pre_key
    children = [
        key_type_node(),
        Node("identity", {}, identity_public),
        key_node(key_id, pair.public),
        signed_key_node(signed_pre_key.key_id, signed_pre_key.key_pair.public, signed_pre_key.signature),
    ]
    if device_identity:
        children.append(Node("device-identity", {}, device_identity))
    return Node("keys", {}, children)


def retry_receipt(env: Envelope, count: int, registration_id: int, keys: Node | None) -> Node:
    attrs: dict[str, AttrValue] = {"id": env.id, "type": "retry", "to": env.source}
    if env.is_group or env.source.is_broadcast:
        attrs["participant"] = env.sender
    recipient = env.node.attrs.get("recipient")
    if recipient is not None:
        attrs["recipient"] = recipient
    if env.category == "peer":
        attrs["category"] = "peer"
    children = [
        Node("retry", {"count": str(count), "id": env.id, "t": str(env.timestamp), "v": "1"}),
        registration_node(registration_id),
    ]
    if keys is not None:
        children.append(keys)
    return Node("receipt", attrs, children)


async def fresh_retry_keys(auth: AuthState, creds_lock: asyncio.Lock) -> Node:
    """A fresh one-time prekey, durably stored (with the id bump) before it leaves in the receipt."""
    async with creds_lock:
        creds = auth.creds
        key_id = creds.next_prekey_id
        pair = KeyPair.generate()
        next_id = prekey_id_after(key_id)
        # If every earlier key is uploaded, this one counts as uploaded too (it is handed out directly);
        # otherwise it joins the pending range and is uploaded with the next batch (harmless).
        uploaded = creds.first_unuploaded_prekey_id
        async with auth.transaction() as tx:
            tx.set(KeyType.PRE_KEY, str(key_id), pair.to_bytes())
            tx.set_creds(dataclasses.replace(
                creds, next_prekey_id=next_id,
                first_unuploaded_prekey_id=next_id if uploaded == key_id else uploaded))
    return retry_keys_node(creds.identity_key.public, (key_id, pair), creds.signed_prekey, creds.account)
