"""Decrypting the `<enc>` parts of one message inside the caller's auth transaction (sans-I/O over records).

pkmsg/msg use the pairwise session of the sender's canonical (LID) address (whatsapp/addressing.py),
skmsg the sender key of (group, author); an SKDM carried pairwise is installed before the skmsg that
needs it. Every record change (session, identity, sender key, the consumed one-time prekey) goes into
the transaction, so the caller's commit lands all of them or none (docs/architecture.md §The path
of one message). Errors are collected in the outcome, never raised: the caller decides between a
receipt, a retry receipt and a NACK.

A sender key that arrives by SKDM is listed in a bounded ring (whatsapp/ring.py, SENDER_KEYS): one
still unchanged since it arrived (its group never sent a message with it) is deleted after
SKDM_MAX_AGE or beyond SKDM_MAX such keys, so a flood of SKDMs for groups that never speak cannot
grow the session; a key that decrypted a message is kept. The receiver holds the Signal lock over it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from hashlib import sha256

from google.protobuf.message import DecodeError as ProtobufDecodeError
from loguru import logger

from whatsapp.addressing import load_session_bytes, sender_key_id
from whatsapp.auth import KeyType, Transaction
from whatsapp.creds import Credentials
from whatsapp.envelope import Envelope
from whatsapp.errors import (
    DecodeError,
    DuplicateMessageError,
    InvalidPreKeyError,
    NoSessionError,
    SignalError,
)
from whatsapp.jid import JID
from whatsapp.keys import KeyPair
from whatsapp.padding import unpad_message
from whatsapp.proto import e2e_pb2
from whatsapp.ring import Ring
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

SKDM_MAX = 1_000  # sender keys received by SKDM and never used since, at most
SKDM_MAX_AGE = 7 * 24 * 3600.0


def _fingerprint(record: bytes) -> str:
    return sha256(record).hexdigest()[:16]


async def _used_since(tx: Transaction, key: str, tag: str) -> bool:
    """A sender key is kept when it changed since its SKDM arrived (it decrypted something)."""
    current = (await tx.get(KeyType.SENDER_KEY, [key])).get(key)
    return current is not None and _fingerprint(current) != tag


SENDER_KEYS = Ring("sender-keys", KeyType.SENDER_KEY, max_count=SKDM_MAX, max_age=SKDM_MAX_AGE, keep=_used_since)


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


async def decrypt_pairwise(tx: Transaction, creds: Credentials, address_jid: JID, enc_type: str, body: bytes) -> bytes:
    me = LocalIdentity.from_creds(creds)
    address = address_jid.signal_address
    stored = await load_session_bytes(tx, address_jid)
    record = SessionRecord.from_bytes(stored) if stored is not None else None
    known = (await tx.get(KeyType.IDENTITY, [address])).get(address)
    if enc_type == "pkmsg":
        message = PreKeyMessage.parse(body)
        pre_key = None
        if message.pre_key_id is not None:
            found = await tx.get(KeyType.PRE_KEY, [str(message.pre_key_id)])
            raw = found.get(str(message.pre_key_id))
            pre_key = KeyPair.from_bytes(raw) if raw is not None else None
        result = decrypt_prekey_message(
            record, me, message,
            signed_pre_key=creds.signed_prekey_pair(message.signed_pre_key_id),
            pre_key=pre_key,
            known_identity=known,
        )
        if result.used_pre_key_id is not None:
            # Same transaction as the session it built: both land or neither (see the module docstring).
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
    installed = process_distribution_message(record, raw).to_bytes()
    tx.set(KeyType.SENDER_KEY, key, installed)
    if stored is None:
        await SENDER_KEYS.add(tx, key, time.time(), _fingerprint(installed))


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
                padded = await decrypt_pairwise(tx, creds, author, enc_type, body)
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
