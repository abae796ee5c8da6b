"""Receiving end-to-end encrypted messages (protocol-notes 5.7, 5.8, 5.14; field-notes 2.3 (a), (l)).

Order for every `<message>` (decrypt, then persist, then acknowledge):
1. `parse_envelope` (sans-I/O): chat, sender, own-device and group rules, PN↔LID pairs.
2. In ONE auth transaction: store the LID mappings; decrypt each `<enc>` in order (pkmsg/msg with the
   pairwise session of the sender's canonical (LID) address, skmsg with the sender key of (group, author),
   an embedded SKDM installed before the skmsg that needs it); write sessions, identities, sender keys and
   delete a consumed one-time prekey. The commit is atomic, so a crash leaves either all or nothing, and a
   redelivery of a committed pkmsg finds its session by base key (DuplicateMessageError), never a missing prekey.
3. After the commit: the `MessageReceived` event, then the delivery receipt (which is the server's ack).
Duplicates get the receipt and no event. Failures get a retry receipt (`<keys>` with a fresh prekey when
count > 1 or there is no session), at most MAX_RETRIES per message, then a NACK; each failing message is
logged at WARNING once, further attempts at DEBUG.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
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
from whatsapp.creds import Credentials, SignedPreKey
from whatsapp.errors import (
    DecodeError,
    DuplicateMessageError,
    InvalidPreKeyError,
    NoSessionError,
    SignalError,
)
from whatsapp.jid import JID, LID, S_WHATSAPP_NET
from whatsapp.key_nodes import key_node, key_type_node, registration_node, signed_key_node
from whatsapp.keys import KeyPair
from whatsapp.messages import DecryptFailed, MessageReceived, unwrap_message
from whatsapp.padding import unpad_message
from whatsapp.prekeys import prekey_id_after
from whatsapp.proto import e2e_pb2
from whatsapp.signal import (
    LocalIdentity,
    PreKeyMessage,
    SenderKeyRecord,
    SessionRecord,
    decrypt_message,
    decrypt_prekey_message,
    group_decrypt,
    process_distribution_message,
)

MAX_RETRIES = 5  # Baileys' maxMsgRetryCount; the sender gives up too
FAILURE_WARNINGS = 10  # per minute; a flood of failures is summed up, never logged line by line
RETRY_MEMORY = 1024  # messages whose retry count we remember (bounded: field-notes 2.3 (j))
NACK_UNHANDLED = 500
NACK_UNRECOGNIZED = 488
NACK_PARSE_ERROR = 487

# Envelope attribute pairs that each carry one PN↔LID mapping of the same user.
_ALT_ATTRS = (
    ("sender", "sender_pn", "sender_lid"),
    ("participant", "participant_pn", "participant_lid"),
    ("recipient", "recipient_pn", "recipient_lid"),
    ("peer_recipient", "peer_recipient_pn", "peer_recipient_lid"),
)


@dataclass(frozen=True, slots=True)
class Envelope:
    node: Node
    id: str
    source: JID  # the `from` attribute
    chat: JID
    sender: JID  # the author's device
    sender_alt: JID | None  # the author's other address (user JID), from the envelope
    from_me: bool
    is_group: bool
    timestamp: int
    push_name: str | None
    offline: bool
    stanza_type: str | None
    category: str | None


def parse_envelope(node: Node, me_pn: JID, me_lid: JID | None) -> Envelope:
    """Who sent the message and in which chat (protocol-notes 5.7). Raises DecodeError."""
    message_id = node.attr_str("id")
    source = node.try_attr_jid("from")
    if not message_id or source is None:
        raise DecodeError("message stanza without id or from")
    participant = node.try_attr_jid("participant")
    recipient = node.try_attr_jid("recipient")
    own = own_users(me_pn, me_lid)
    if source.is_group or source.is_broadcast:
        if participant is None:
            raise DecodeError(f"group message {message_id} without participant")
        chat, sender = source.to_non_ad(), participant
        is_group = source.is_group
        alt = node.try_attr_jid("participant_lid" if participant.server == S_WHATSAPP_NET else "participant_pn")
    else:
        sender = source
        is_group = False
        from_me = source.user in own
        chat = recipient.to_non_ad() if from_me and recipient is not None else source.to_non_ad()
        alt = node.try_attr_jid("sender_lid" if source.server == S_WHATSAPP_NET else "sender_pn")
    if not sender.user:
        raise DecodeError(f"message {message_id} from {sender} names no user")
    try:
        timestamp = int(node.attr_str("t") or 0)
    except ValueError:
        timestamp = 0
    return Envelope(
        node=node,
        id=message_id,
        source=source,
        chat=chat,
        sender=sender,
        sender_alt=alt.to_non_ad() if alt is not None else None,
        from_me=sender.user in own,
        is_group=is_group,
        timestamp=timestamp,
        push_name=node.attr_str("notify"),
        offline=node.attrs.get("offline") is not None,
        stanza_type=node.attr_str("type"),
        category=node.attr_str("category"),
    )


def mapping_pairs(node: Node) -> list[tuple[str, str]]:
    """(pn_user, lid_user) pairs the envelope reveals (`sender_lid`, `participant_pn`, ...)."""
    pairs: list[tuple[str, str]] = []
    for base, pn_name, lid_name in _ALT_ATTRS:
        main = node.try_attr_jid(base) if base != "sender" else node.try_attr_jid("from")
        pn, lid = node.try_attr_jid(pn_name), node.try_attr_jid(lid_name)
        if main is not None and main.server == LID and pn is None and lid is None:
            continue
        if pn is None and main is not None and main.server == S_WHATSAPP_NET:
            pn = main
        if lid is None and main is not None and main.server == LID:
            lid = main
        if pn is not None and lid is not None and pn.user and lid.user and pn.server == S_WHATSAPP_NET \
                and lid.server == LID:
            pairs.append((pn.user, lid.user))
    return pairs


# -- receipts ----------------------------------------------------------------------------------------------


def delivery_receipt(env: Envelope, me_pn: JID) -> Node:
    """`<receipt id to [participant] [recipient] [type]>`: delivered (the ack of a decrypted message)."""
    attrs: dict[str, Any] = {"id": env.id, "to": env.source}
    if env.is_group or env.source.is_broadcast:
        attrs["participant"] = env.sender
    if env.category == "peer":
        attrs["type"] = "peer_msg"
    elif env.from_me:
        attrs["type"] = "sender"
        if not env.is_group and env.chat.user != me_pn.user:
            attrs["recipient"] = env.chat
    return Node("receipt", attrs)


def plain_ack(env_node: Node, me_id: str | None = None) -> Node:
    """`<ack class="message" id to [participant] [recipient]>` for a message stanza."""
    attrs: dict[str, Any] = {"id": env_node.attr_str("id", ""), "to": env_node.attrs.get("from", ""),
                             "class": "message"}
    for name in ("participant", "recipient"):
        if env_node.attrs.get(name) is not None:
            attrs[name] = env_node.attrs[name]
    if me_id:
        attrs["from"] = me_id
    return Node("ack", attrs)


def nack(env_node: Node, code: int, me_id: str | None = None) -> Node:
    """The ack with `error=code`: we will never process this message, so the server stops re-sending it."""
    ack = plain_ack(env_node, me_id)
    ack.attrs["error"] = str(code)
    return ack


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
    attrs: dict[str, Any] = {"id": env.id, "type": "retry", "to": env.source}
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


# -- decryption --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class DecryptOutcome:
    messages: list[e2e_pb2.Message] = dataclasses.field(default_factory=list)
    duplicates: int = 0
    error: Exception | None = None  # the first failure that calls for a retry receipt
    fatal: Exception | None = None  # a failure no retry can fix (NACK)
    no_session: bool = False


def parse_plaintext(padded: bytes, version: str | None) -> e2e_pb2.Message:
    """Unpad (enc v="2") and parse the Message protobuf; DecodeError when either fails."""
    plaintext = unpad_message(padded) if version != "3" else padded
    message = e2e_pb2.Message()
    try:
        message.ParseFromString(plaintext)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"invalid Message protobuf: {exc}") from None
    return message


async def _decrypt_pairwise(tx: Transaction, creds: Credentials, address_jid: JID, enc_type: str, body: bytes) -> bytes:
    me = LocalIdentity.from_creds(creds)
    address = address_jid.signal_address
    stored = await load_session_bytes(tx, address_jid)
    record = SessionRecord.from_bytes(stored) if stored is not None else None
    known = (await tx.get(KeyType.IDENTITY, [address])).get(address)
    if enc_type == "pkmsg":
        message = PreKeyMessage.parse(body)
        spk = creds.signed_prekey
        pre_key = None
        if message.pre_key_id is not None:
            found = await tx.get(KeyType.PRE_KEY, [str(message.pre_key_id)])
            raw = found.get(str(message.pre_key_id))
            pre_key = KeyPair.from_bytes(raw) if raw is not None else None
        result = decrypt_prekey_message(
            record, me, message,
            signed_pre_key=spk.key_pair if spk.key_id == message.signed_pre_key_id else None,
            pre_key=pre_key,
            known_identity=known,
        )
        if result.used_pre_key_id is not None:
            # Same transaction as the session it built: both land or neither (see module docstring).
            tx.set(KeyType.PRE_KEY, str(result.used_pre_key_id), None)
    else:
        result = decrypt_message(record, me, body, known_identity=known)
    if result.identity_changed:
        logger.info("identity key of {} changed; trusting the new one", address)
    tx.set(KeyType.SESSION, address, result.record.to_bytes())
    tx.set(KeyType.IDENTITY, address, result.remote_identity)
    return result.plaintext


async def _install_skdm(tx: Transaction, group: JID, author: JID, message: e2e_pb2.Message) -> None:
    skdm = message.senderKeyDistributionMessage
    raw = skdm.axolotlSenderKeyDistributionMessage
    if not raw:
        return
    target = group
    if skdm.groupID:
        parsed = JID.try_parse(skdm.groupID)
        if parsed is not None:
            target = parsed
    key = sender_key_id(target, author)
    stored = (await tx.get(KeyType.SENDER_KEY, [key])).get(key)
    record = SenderKeyRecord.from_bytes(stored) if stored is not None else None
    tx.set(KeyType.SENDER_KEY, key, process_distribution_message(record, raw).to_bytes())


async def decrypt_envelope(tx: Transaction, creds: Credentials, env: Envelope, author: JID) -> DecryptOutcome:
    """Decrypt every `<enc>` of the stanza inside `tx`; errors are collected, never raised."""
    outcome = DecryptOutcome()
    encs = env.node.children_by_tag("enc")
    # Pairwise first: an SKDM they carry must be installed before the skmsg that needs it.
    encs.sort(key=lambda enc: enc.attr_str("type") == "skmsg")
    for enc in encs:
        enc_type = enc.attr_str("type")
        body = enc.content_bytes or b""
        try:
            if enc_type in ("pkmsg", "msg"):
                padded = await _decrypt_pairwise(tx, creds, author, enc_type, body)
            elif enc_type == "skmsg":
                key = sender_key_id(env.chat, author)
                stored = (await tx.get(KeyType.SENDER_KEY, [key])).get(key)
                record = SenderKeyRecord.from_bytes(stored) if stored is not None else None
                new_record, padded = group_decrypt(record, body)
                tx.set(KeyType.SENDER_KEY, key, new_record.to_bytes())
            else:
                outcome.fatal = outcome.fatal or DecodeError(f"unsupported enc type {enc_type!r}")
                continue
            message = parse_plaintext(padded, enc.attr_str("v"))
            if message.HasField("senderKeyDistributionMessage"):
                await _install_skdm(tx, env.chat, author, message)
            outcome.messages.append(message)
        except DuplicateMessageError:
            outcome.duplicates += 1
        except (NoSessionError, InvalidPreKeyError) as exc:
            outcome.no_session = True
            outcome.error = outcome.error or exc
        except (SignalError, DecodeError) as exc:
            outcome.error = outcome.error or exc
    return outcome


def has_content(message: e2e_pb2.Message) -> bool:
    """Anything besides the sender-key distribution and context info (an SKDM-only message is plumbing)."""
    return any(field.name not in ("senderKeyDistributionMessage", "messageContextInfo")
               for field, _ in message.ListFields())


# -- the receiver (asyncio edge) ---------------------------------------------------------------------------


class Receiver:
    """Processes `<message>` stanzas for a client: decrypt, persist, emit, acknowledge."""

    def __init__(self, auth: AuthState, send_node: Callable[[Node], Awaitable[None]],
                 emit: Callable[[Any], Awaitable[None]], lock: asyncio.Lock, creds_lock: asyncio.Lock) -> None:
        self.auth = auth
        self._send = send_node
        self._emit = emit
        self._lock = lock  # the client's Signal lock: receive and send never interleave their records
        self._creds_lock = creds_lock  # prekey id allocation (shared with the prekey upload)
        self._retries: OrderedDict[str, int] = OrderedDict()
        self.received = 0
        self.failed = 0
        self._window_start = time.monotonic()
        self._warned = 0
        self._suppressed = 0

    async def handle(self, node: Node) -> MessageReceived | None:
        me_pn, me_lid = own_addresses(self.auth.creds)
        try:
            env = parse_envelope(node, me_pn, me_lid)
        except DecodeError as exc:
            logger.warning("unreadable message envelope ({}); NACK", exc)
            await self._send(nack(node, NACK_PARSE_ERROR, self.auth.creds.me_id))
            return None
        if node.child("enc") is None:
            # <unavailable/> placeholders, plaintext newsletters, ...: acknowledged, not decrypted.
            await self._send(plain_ack(node, self.auth.creds.me_id))
            return None
        async with self._lock, self.auth.transaction() as tx:
            for pn_user, lid_user in mapping_pairs(node):
                store_mapping(tx, pn_user, lid_user)
            author = await canonical_device(tx, env.sender, env.sender_alt)
            outcome = await decrypt_envelope(tx, self.auth.creds, env, author)
        if outcome.error is not None or (outcome.fatal is not None and not outcome.messages):
            await self._failed(env, outcome)
            return None
        self._retries.pop(env.id, None)
        event = self._event(env, outcome)
        if event is not None:
            self.received += 1
            logger.info("message {} received in {} from {}{}", env.id, env.chat, env.sender,
                        " (offline)" if env.offline else "")
            logger.debug("message {} text: {!r}", env.id, event.text)
            await self._emit(event)
        elif outcome.duplicates:
            logger.debug("message {} was already processed (redelivery); receipt only", env.id)
        await self._send(delivery_receipt(env, me_pn))
        return event

    def _event(self, env: Envelope, outcome: DecryptOutcome) -> MessageReceived | None:
        content = [m for m in outcome.messages if has_content(m)]
        if not content:
            return None
        message = content[-1]
        chat = env.chat
        if message.HasField("deviceSentMessage"):
            dsm = message.deviceSentMessage
            if dsm.destinationJID:
                chat = JID.try_parse(dsm.destinationJID) or chat
            message = dsm.message
        message = unwrap_message(message)
        return MessageReceived(
            chat=chat, sender=env.sender, id=env.id, timestamp=env.timestamp, push_name=env.push_name,
            from_me=env.from_me, is_group=env.is_group, offline=env.offline, message=message,
            sender_alt=env.sender_alt, stanza_type=env.stanza_type,
        )

    async def _failed(self, env: Envelope, outcome: DecryptOutcome) -> None:
        error = outcome.error or outcome.fatal
        count = self._retries.get(env.id, 0) + 1
        self._retries[env.id] = count
        self._retries.move_to_end(env.id)
        while len(self._retries) > RETRY_MEMORY:
            self._retries.popitem(last=False)
        self.failed += 1
        gave_up = outcome.error is None or count > MAX_RETRIES
        if count == 1:
            self._warn_failure(env, error)
        else:
            logger.debug("message {} still undecryptable (attempt {}): {}", env.id, count, error)
        if gave_up:
            code = NACK_UNHANDLED if outcome.error is not None else NACK_UNRECOGNIZED
            if count == MAX_RETRIES + 1:
                logger.warning("message {} from {}: giving up after {} retry receipts", env.id, env.sender,
                               MAX_RETRIES)
            await self._send(nack(env.node, code, self.auth.creds.me_id))
        else:
            keys = await self._retry_keys() if (count > 1 or outcome.no_session) else None
            await self._send(retry_receipt(env, count, self.auth.creds.registration_id, keys))
        await self._emit(DecryptFailed(env.chat, env.sender, env.id, f"{type(error).__name__}: {error}",
                                       min(count, MAX_RETRIES), gave_up))

    def _warn_failure(self, env: Envelope, error: Exception) -> None:
        """One WARNING per failing message, at most FAILURE_WARNINGS per minute; the rest is summed up."""
        now = time.monotonic()
        if now - self._window_start >= 60.0:
            if self._suppressed:
                logger.warning("{} more messages could not be decrypted in the last minute", self._suppressed)
            self._window_start, self._warned, self._suppressed = now, 0, 0
        if self._warned < FAILURE_WARNINGS:
            self._warned += 1
            logger.warning("message {} from {} could not be decrypted: {}: {}", env.id, env.sender,
                           type(error).__name__, error)
        else:
            self._suppressed += 1
            logger.debug("message {} from {} could not be decrypted: {}", env.id, env.sender, error)

    async def _retry_keys(self) -> Node:
        """A fresh one-time prekey, durably stored (with the id bump) before it leaves in the receipt."""
        async with self._creds_lock:
            creds = self.auth.creds
            key_id = creds.next_prekey_id
            pair = KeyPair.generate()
            next_id = prekey_id_after(key_id)
            # If every earlier key is uploaded, this one counts as uploaded too (it is handed out directly);
            # otherwise it joins the pending range and is uploaded with the next batch (harmless).
            uploaded = creds.first_unuploaded_prekey_id
            async with self.auth.transaction() as tx:
                tx.set(KeyType.PRE_KEY, str(key_id), pair.to_bytes())
                tx.set_creds(dataclasses.replace(
                    creds, next_prekey_id=next_id,
                    first_unuploaded_prekey_id=next_id if uploaded == key_id else uploaded))
        return retry_keys_node(creds.identity_key.public, (key_id, pair), creds.signed_prekey, creds.account)

