"""1:1 Signal sessions: X3DH session building and the Double Ratchet, in libsignal's v3 "Whisper" format.

Sans-I/O. The caller loads the session record (and, for a pkmsg, the prekeys it names), calls one
function, and persists what comes back in the same auth-state transaction:

    result = decrypt_prekey_message(record, me, msg, signed_pre_key=..., pre_key=..., known_identity=...)
    tx.set(KeyType.SESSION, address, result.record.to_bytes())
    tx.set(KeyType.IDENTITY, address, result.remote_identity)

No function mutates the record it is given: each works on a clone and returns it, so when one raises,
the stored record is still the one to keep (the ratchet never half-advances).

Consumed prekeys (docs/protocol.md §Prekeys): `DecryptResult.used_pre_key_id` names the one-time prekey a new
session consumed. WhatsApp redelivers a pkmsg whose ack was lost, so the prekey may only go when the session
it built is durable: the client (whatsapp/receive.py) deletes it in the SAME transaction that stores the
session. Both land or neither; a redelivered pkmsg then either finds its session by base key and fails with
`DuplicateMessageError`, or finds its prekey still there.

The wire format lives in `whatsapp.signal.wire`, the ratchet steps in `whatsapp.signal.ratchet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from whatsapp import xeddsa
from whatsapp.cipher import aes_cbc_encrypt
from whatsapp.errors import (
    BadMacError,
    CryptoError,
    InvalidPreKeyError,
    InvalidSignatureError,
    NoSessionError,
    UntrustedIdentityError,
)
from whatsapp.keys import KeyPair, prefixed
from whatsapp.proto import signal_pb2
from whatsapp.signal.ratchet import (
    decrypt_with_states,
    kdf_root,
    message_keys,
    message_mac,
    next_message_key_seed,
    x3dh_root_key,
)
from whatsapp.signal.records import Chain, PendingPreKey, SessionRecord, SessionState
from whatsapp.signal.wire import VERSION_BYTE, PreKeyMessage, WhisperMessage, as_public_key

# Re-exported: callers parse a pkmsg here to learn which prekeys to load before decrypting.
__all__ = [
    "DecryptResult",
    "EncryptedMessage",
    "LocalIdentity",
    "PreKeyBundle",
    "PreKeyMessage",
    "SessionBuildResult",
    "WhisperMessage",
    "build_session_from_bundle",
    "decrypt_message",
    "decrypt_prekey_message",
    "encrypt_message",
]

if TYPE_CHECKING:
    from whatsapp.creds import Credentials


# -- public data types -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """Our side of every session: the identity key pair and the registration id (from the credentials)."""

    identity_key: KeyPair
    registration_id: int

    @property
    def public_key(self) -> bytes:
        return prefixed(self.identity_key.public)

    @classmethod
    def from_creds(cls, creds: Credentials) -> LocalIdentity:
        return cls(creds.identity_key, creds.registration_id)


@dataclass(frozen=True, slots=True)
class PreKeyBundle:
    """A device's public keys, from an `<iq xmlns="encrypt">` result or a retry receipt. Keys 32 or 33 bytes."""

    registration_id: int
    device_id: int
    identity_key: bytes
    signed_pre_key_id: int
    signed_pre_key_public: bytes
    signed_pre_key_signature: bytes
    pre_key_id: int | None = None
    pre_key_public: bytes | None = None


@dataclass(frozen=True, slots=True)
class SessionBuildResult:
    record: SessionRecord
    remote_identity: bytes  # 33 bytes: store it as the address's identity
    identity_changed: bool  # a known identity existed and differed


@dataclass(frozen=True, slots=True)
class EncryptedMessage:
    type: str  # "pkmsg" or "msg", the `<enc type>` attribute
    body: bytes


@dataclass(frozen=True, slots=True)
class DecryptResult:
    plaintext: bytes
    record: SessionRecord  # persist it in the same transaction as the effects of the plaintext
    remote_identity: bytes  # 33 bytes
    identity_changed: bool
    used_pre_key_id: int | None = None  # one-time prekey consumed by a new session (mark it consumed)
    new_session: bool = False


# -- session building ------------------------------------------------------------------------------------


def build_session_from_bundle(
    record: SessionRecord | None,
    me: LocalIdentity,
    bundle: PreKeyBundle,
    *,
    known_identity: bytes | None = None,
    trust_identity_change: bool = True,
    base_key: KeyPair | None = None,
    ratchet_key: KeyPair | None = None,
) -> SessionBuildResult:
    """Start an outgoing session (we are Alice). The old open session, if any, is archived.

    Unlike libsignal-node (`src/session_builder.js` never checks it) the signed-prekey signature is verified:
    InvalidSignatureError.
    `base_key`/`ratchet_key` exist for deterministic tests; leave them None.
    """
    remote_identity = as_public_key(bundle.identity_key, "bundle identity key")
    signed_pre_key = as_public_key(bundle.signed_pre_key_public, "bundle signed prekey")
    if not xeddsa.verify(remote_identity, signed_pre_key, bundle.signed_pre_key_signature):
        raise InvalidSignatureError("prekey bundle: the signed prekey signature does not verify")
    one_time = None
    if bundle.pre_key_public is not None:
        one_time = as_public_key(bundle.pre_key_public, "bundle one-time prekey")
    identity_changed = _check_identity(known_identity, remote_identity, trust_identity_change)

    base_key = base_key or KeyPair.generate()
    ratchet_key = ratchet_key or KeyPair.generate()
    dh = [
        me.identity_key.shared_secret(signed_pre_key),
        base_key.shared_secret(remote_identity),
        base_key.shared_secret(signed_pre_key),
    ]
    if one_time is not None:
        dh.append(base_key.shared_secret(one_time))
    root_key = x3dh_root_key(dh)
    root_key, sending_chain_key = kdf_root(root_key, ratchet_key.shared_secret(signed_pre_key))
    state = SessionState(
        local_identity=me.public_key,
        remote_identity=remote_identity,
        remote_registration_id=bundle.registration_id,
        base_key=prefixed(base_key.public),
        base_key_is_ours=True,
        root_key=root_key,
        ratchet_key_pair=ratchet_key,
        last_remote_ratchet_key=signed_pre_key,
        sending_chain=Chain(sending_chain_key),
        pending_pre_key=PendingPreKey(
            signed_pre_key_id=bundle.signed_pre_key_id,
            base_key=prefixed(base_key.public),
            pre_key_id=bundle.pre_key_id if one_time is not None else None,
        ),
    )
    new = record.clone() if record else SessionRecord()
    if identity_changed:
        _drop_other_identities(new, remote_identity)
    new.archive_current()
    new.current = state
    new.enforce_limits()
    return SessionBuildResult(new, remote_identity, identity_changed)


# -- encrypt ---------------------------------------------------------------------------------------------


def encrypt_message(
    record: SessionRecord | None, me: LocalIdentity, plaintext: bytes
) -> tuple[SessionRecord, EncryptedMessage]:
    """Encrypt with the current session: a `pkmsg` until the peer's first reply decrypts, then `msg`."""
    if record is None or not record.has_open_session:
        raise NoSessionError("no open session to encrypt with")
    new = record.clone()
    state = new.current
    assert state is not None and state.sending_chain is not None
    chain = state.sending_chain
    counter = chain.index
    seed = next_message_key_seed(chain)
    cipher_key, mac_key, iv = message_keys(seed)
    proto = signal_pb2.WhisperMessage(
        ephemeralKey=prefixed(state.ratchet_key_pair.public),
        counter=counter,
        previousCounter=state.previous_counter,
        ciphertext=aes_cbc_encrypt(cipher_key, iv, plaintext),
    ).SerializeToString()
    serialized = bytes([VERSION_BYTE]) + proto
    mac = message_mac(mac_key, state.local_identity, state.remote_identity, serialized)
    whisper = serialized + mac
    pending = state.pending_pre_key
    if pending is None:
        return new, EncryptedMessage("msg", whisper)
    envelope = signal_pb2.PreKeyWhisperMessage(
        registrationId=me.registration_id,
        signedPreKeyId=pending.signed_pre_key_id,
        baseKey=pending.base_key,
        identityKey=me.public_key,
        message=whisper,
    )
    if pending.pre_key_id is not None:
        envelope.preKeyId = pending.pre_key_id
    return new, EncryptedMessage("pkmsg", bytes([VERSION_BYTE]) + envelope.SerializeToString())


# -- decrypt ---------------------------------------------------------------------------------------------


def decrypt_message(
    record: SessionRecord | None,
    me: LocalIdentity,
    body: bytes | WhisperMessage,
    *,
    known_identity: bytes | None = None,
    trust_identity_change: bool = True,
) -> DecryptResult:
    """Decrypt a `msg`, trying the current state then the archived ones (a state that works is promoted)."""
    message = body if isinstance(body, WhisperMessage) else WhisperMessage.parse(body)
    if record is None or not record.states():
        raise NoSessionError("no session record for this address")
    new = record.clone()
    old, state, plaintext = decrypt_with_states(new.states(), message)
    identity_changed = _check_identity(known_identity, state.remote_identity, trust_identity_change)
    new.promote(old, state)
    new.enforce_limits()
    return DecryptResult(plaintext, new, state.remote_identity, identity_changed)


def decrypt_prekey_message(
    record: SessionRecord | None,
    me: LocalIdentity,
    body: bytes | PreKeyMessage,
    *,
    signed_pre_key: KeyPair | None,
    pre_key: KeyPair | None,
    known_identity: bytes | None = None,
    trust_identity_change: bool = True,
) -> DecryptResult:
    """Decrypt a `pkmsg`, building the session it starts unless one with its base key exists.

    Parse first (`PreKeyMessage.parse`) to learn which prekeys to load; pass None for one we lack.
    Errors: InvalidPreKeyError (a named prekey is missing), UntrustedIdentityError (identity changed and
    `trust_identity_change` is False), BadMacError, DuplicateMessageError (redelivered pkmsg).
    """
    message = body if isinstance(body, PreKeyMessage) else PreKeyMessage.parse(body)
    identity_changed = _check_identity(known_identity, message.identity_key, trust_identity_change)
    new = record.clone() if record else SessionRecord()
    if identity_changed:
        _drop_other_identities(new, message.identity_key)

    existing = next(
        (s for s in new.states() if s.base_key == message.base_key and s.remote_identity == message.identity_key),
        None,
    )
    if existing is not None:
        # A pkmsg of a session we already have: the peer has not seen our reply yet, or this is a redelivery.
        _, state, plaintext = decrypt_with_states([existing], message.message)
        new.promote(existing, state)
        new.enforce_limits()
        return DecryptResult(plaintext, new, message.identity_key, identity_changed)

    if message.pre_key_id is not None and pre_key is None:
        raise InvalidPreKeyError(f"pkmsg names unknown one-time prekey {message.pre_key_id}", message.pre_key_id)
    if signed_pre_key is None:
        raise InvalidPreKeyError(
            f"pkmsg names unknown signed prekey {message.signed_pre_key_id}", message.signed_pre_key_id
        )
    try:
        dh = [
            signed_pre_key.shared_secret(message.identity_key),
            me.identity_key.shared_secret(message.base_key),
            signed_pre_key.shared_secret(message.base_key),
        ]
        if message.pre_key_id is not None and pre_key is not None:
            dh.append(pre_key.shared_secret(message.base_key))
    except CryptoError as exc:  # a small-order base or identity key: nothing can verify
        raise BadMacError(f"pkmsg carries an unusable key: {exc}") from None
    state = SessionState(
        local_identity=me.public_key,
        remote_identity=message.identity_key,
        remote_registration_id=message.registration_id,
        base_key=message.base_key,
        base_key_is_ours=False,
        root_key=x3dh_root_key(dh),
        ratchet_key_pair=signed_pre_key,
        last_remote_ratchet_key=message.base_key,
    )
    _, state, plaintext = decrypt_with_states([state], message.message)
    new.archive_current()
    new.current = state
    new.enforce_limits()
    return DecryptResult(
        plaintext, new, message.identity_key, identity_changed, used_pre_key_id=message.pre_key_id, new_session=True
    )


# -- identities ----------------------------------------------------------------------------------------


def _check_identity(known: bytes | None, actual: bytes, trust_change: bool) -> bool:
    if known is None:
        return False
    if as_public_key(known, "stored identity key") == actual:
        return False
    if not trust_change:
        raise UntrustedIdentityError("the peer's identity key changed")
    return True


def _drop_other_identities(record: SessionRecord, identity: bytes) -> None:
    """An accepted identity change replaces the sessions: states of the old identity can never verify again."""
    if record.current is not None and record.current.remote_identity != identity:
        record.current = None
    record.archived = [s for s in record.archived if s.remote_identity == identity]
