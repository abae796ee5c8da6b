"""The Signal protocol as WhatsApp uses it (libsignal v3 "Whisper" wire format), sans-I/O.

Design: docs/protocol.md §Signal sessions and §Sender keys.

1:1 sessions live in `whatsapp.signal.session`, sender keys in `whatsapp.signal.group`, the stored
records in `whatsapp.signal.records`. Every function takes records and bytes and returns new records
(the inputs are never mutated): load, call, persist the result in the same auth-state transaction.

Receiving a pairwise `<enc>` (address = sender JID's `.signal_address`; the client's real version,
which also resolves the sender's canonical LID address, is `whatsapp.decrypt.decrypt_pairwise`):

    me = LocalIdentity.from_creds(state.creds)
    async with state.transaction() as tx:
        found = await tx.get(KeyType.SESSION, [address])
        record = SessionRecord.from_bytes(found[address]) if address in found else None
        known = (await tx.get(KeyType.IDENTITY, [address])).get(address)
        if enc_type == "pkmsg":
            msg = PreKeyMessage.parse(body)
            spk = state.creds.signed_prekey
            pre = (await tx.get(KeyType.PRE_KEY, [str(msg.pre_key_id)])) if msg.pre_key_id is not None else {}
            result = decrypt_prekey_message(
                record, me, msg,
                signed_pre_key=spk.key_pair if spk.key_id == msg.signed_pre_key_id else None,
                pre_key=KeyPair.from_bytes(pre[str(msg.pre_key_id)]) if pre else None,
                known_identity=known)
            if result.used_pre_key_id is not None:  # consumed: goes with this same commit (see session.py)
                tx.set(KeyType.PRE_KEY, str(result.used_pre_key_id), None)
        else:
            result = decrypt_message(record, me, body, known_identity=known)
        tx.set(KeyType.SESSION, address, result.record.to_bytes())
        tx.set(KeyType.IDENTITY, address, result.remote_identity)
        ... handle result.plaintext (unpad, parse, buffer the event) inside the same transaction ...

Any exception leaves the transaction uncommitted and the stored record untouched. DuplicateMessageError
means "already processed: ack and drop"; BadMacError / NoSessionError / InvalidPreKeyError mean "send a
retry receipt"; UntrustedIdentityError is only raised when the caller passes trust_identity_change=False.
"""

from whatsapp.signal.group import (
    SenderKeyDistribution,
    create_sender_key,
    distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from whatsapp.signal.records import SenderKeyRecord, SenderKeyState, SessionRecord, SessionState
from whatsapp.signal.session import (
    DecryptResult,
    EncryptedMessage,
    LocalIdentity,
    PreKeyBundle,
    PreKeyMessage,
    SessionBuildResult,
    WhisperMessage,
    build_session_from_bundle,
    decrypt_message,
    decrypt_prekey_message,
    encrypt_message,
)

__all__ = [
    "DecryptResult",
    "EncryptedMessage",
    "LocalIdentity",
    "PreKeyBundle",
    "PreKeyMessage",
    "SenderKeyDistribution",
    "SenderKeyRecord",
    "SenderKeyState",
    "SessionBuildResult",
    "SessionRecord",
    "SessionState",
    "WhisperMessage",
    "build_session_from_bundle",
    "create_sender_key",
    "decrypt_message",
    "decrypt_prekey_message",
    "distribution_message",
    "encrypt_message",
    "group_decrypt",
    "group_encrypt",
    "process_distribution_message",
]
