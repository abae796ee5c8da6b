"""1:1 Signal sessions: X3DH session building and the Double Ratchet, in libsignal's v3 "Whisper" format.

Sans-I/O. The caller loads the session record (and, for a pkmsg, the prekeys it names), calls one
function, and persists what comes back in the same auth-state transaction:

    result = decrypt_prekey_message(record, me, msg, signed_pre_key=..., pre_key=..., known_identity=...)
    tx.set(KeyType.SESSION, address, result.record.to_bytes())
    tx.set(KeyType.IDENTITY, address, result.remote_identity)

No function mutates the record it is given: each works on a clone and returns it, so when one raises,
the stored record is still the one to keep (the ratchet never half-advances).

Consumed prekeys (field-notes 2.3 (a)): `DecryptResult.used_pre_key_id` names the one-time prekey a new
session consumed. WhatsApp redelivers a pkmsg whose ack was lost, so the prekey may only go when the session
it built is durable: the client (whatsapp/receive.py) deletes it in the SAME transaction that stores the
session. Both land or neither; a redelivered pkmsg then either finds its session by base key and fails with
`DuplicateMessageError`, or finds its prekey still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError as ProtobufDecodeError

from whatsapp import xeddsa
from whatsapp.cipher import aes_cbc_decrypt, aes_cbc_encrypt, constant_time_equal, hkdf_sha256, hmac_sha256
from whatsapp.errors import (
    BadMacError,
    CryptoError,
    DuplicateMessageError,
    InvalidMessageError,
    InvalidPreKeyError,
    InvalidSignatureError,
    MalformedMessageError,
    NoSessionError,
    SignalError,
    UntrustedIdentityError,
)
from whatsapp.keys import KeyPair, prefixed
from whatsapp.proto import signal_pb2
from whatsapp.signal.records import (
    MAX_FORWARD_JUMP,
    MAX_SKIPPED_PER_CHAIN,
    Chain,
    PendingPreKey,
    SessionRecord,
    SessionState,
)

VERSION_BYTE = 0x33  # (3 << 4) | 3: current version 3, minimum version 3
MAC_LENGTH = 8
_ZERO_SALT = bytes(32)

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


@dataclass(frozen=True, slots=True)
class WhisperMessage:
    """A parsed `msg`: the fields plus what the MAC covers."""

    ratchet_key: bytes  # 33 bytes
    counter: int
    previous_counter: int
    ciphertext: bytes
    serialized: bytes  # version byte || protobuf, the MAC input after the identities
    mac: bytes

    @classmethod
    def parse(cls, data: bytes) -> WhisperMessage:
        _check_version(data, "WhisperMessage")
        if len(data) < 1 + MAC_LENGTH + 1:
            raise MalformedMessageError(f"WhisperMessage too short ({len(data)} bytes)")
        serialized, mac = bytes(data[:-MAC_LENGTH]), bytes(data[-MAC_LENGTH:])
        proto = _parse_proto(signal_pb2.WhisperMessage, serialized[1:], "WhisperMessage")
        if not (proto.HasField("ephemeralKey") and proto.HasField("counter") and proto.HasField("ciphertext")):
            raise MalformedMessageError("WhisperMessage lacks ephemeralKey, counter or ciphertext")
        return cls(
            ratchet_key=_public_key(proto.ephemeralKey, "ephemeralKey"),
            counter=proto.counter,
            previous_counter=proto.previousCounter,
            ciphertext=proto.ciphertext,
            serialized=serialized,
            mac=mac,
        )


@dataclass(frozen=True, slots=True)
class PreKeyMessage:
    """A parsed `pkmsg`; read `pre_key_id` / `signed_pre_key_id` to load the keys before decrypting."""

    registration_id: int
    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes  # 33 bytes
    identity_key: bytes  # 33 bytes
    message: WhisperMessage

    @classmethod
    def parse(cls, data: bytes) -> PreKeyMessage:
        _check_version(data, "PreKeyWhisperMessage")
        proto = _parse_proto(signal_pb2.PreKeyWhisperMessage, bytes(data[1:]), "PreKeyWhisperMessage")
        for name in ("baseKey", "identityKey", "message", "signedPreKeyId"):
            if not proto.HasField(name):
                raise MalformedMessageError(f"PreKeyWhisperMessage lacks {name}")
        return cls(
            registration_id=proto.registrationId,
            pre_key_id=proto.preKeyId if proto.HasField("preKeyId") else None,
            signed_pre_key_id=proto.signedPreKeyId,
            base_key=_public_key(proto.baseKey, "baseKey"),
            identity_key=_public_key(proto.identityKey, "identityKey"),
            message=WhisperMessage.parse(proto.message),
        )


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

    Unlike libsignal-node (interop P5) the signed-prekey signature is verified: InvalidSignatureError.
    `base_key`/`ratchet_key` exist for deterministic tests; leave them None.
    """
    remote_identity = _as_public_key(bundle.identity_key, "bundle identity key")
    signed_pre_key = _as_public_key(bundle.signed_pre_key_public, "bundle signed prekey")
    if not xeddsa.verify(remote_identity, signed_pre_key, bundle.signed_pre_key_signature):
        raise InvalidSignatureError("prekey bundle: the signed prekey signature does not verify")
    one_time = None
    if bundle.pre_key_public is not None:
        one_time = _as_public_key(bundle.pre_key_public, "bundle one-time prekey")
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
    root_key = _x3dh_root_key(dh)
    root_key, sending_chain_key = _kdf_root(root_key, ratchet_key.shared_secret(signed_pre_key))
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
    seed = _next_message_key_seed(chain)
    cipher_key, mac_key, iv = _message_keys(seed)
    proto = signal_pb2.WhisperMessage(
        ephemeralKey=prefixed(state.ratchet_key_pair.public),
        counter=counter,
        previousCounter=state.previous_counter,
        ciphertext=aes_cbc_encrypt(cipher_key, iv, plaintext),
    ).SerializeToString()
    serialized = bytes([VERSION_BYTE]) + proto
    mac = _mac(mac_key, state.local_identity, state.remote_identity, serialized)
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
    old, state, plaintext = _decrypt_with_states(new.states(), message)
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
        _, state, plaintext = _decrypt_with_states([existing], message.message)
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
        root_key=_x3dh_root_key(dh),
        ratchet_key_pair=signed_pre_key,
        last_remote_ratchet_key=message.base_key,
    )
    _, state, plaintext = _decrypt_with_states([state], message.message)
    new.archive_current()
    new.current = state
    new.enforce_limits()
    return DecryptResult(
        plaintext, new, message.identity_key, identity_changed, used_pre_key_id=message.pre_key_id, new_session=True
    )


# -- internals -------------------------------------------------------------------------------------------


def _decrypt_with_states(
    states: list[SessionState], message: WhisperMessage
) -> tuple[SessionState, SessionState, bytes]:
    """Try each state on a clone; return (the state, its advanced clone, plaintext). Raises the most telling error."""
    errors: list[SignalError] = []
    for state in states:
        attempt = state.clone()
        try:
            return state, attempt, _decrypt_in_state(attempt, message)
        except SignalError as exc:
            errors.append(exc)
    for kind in (DuplicateMessageError, InvalidMessageError):
        for exc in errors:
            if isinstance(exc, kind):
                raise exc
    raise BadMacError(f"message MAC matches none of {len(states)} session state(s)")


def _decrypt_in_state(state: SessionState, message: WhisperMessage) -> bytes:
    chain = state.receiving_chain(message.ratchet_key)
    if chain is None:
        chain = _dh_ratchet_step(state, message.ratchet_key, message.previous_counter)
    seed = _message_key_seed_for(chain, message.counter)
    cipher_key, mac_key, iv = _message_keys(seed)
    expected = _mac(mac_key, state.remote_identity, state.local_identity, message.serialized)
    if not constant_time_equal(expected, message.mac):
        raise BadMacError("WhisperMessage MAC mismatch")
    try:
        plaintext = aes_cbc_decrypt(cipher_key, iv, message.ciphertext)
    except CryptoError as exc:  # authenticated yet undecryptable: the sender is broken, not a forgery
        raise InvalidMessageError(f"WhisperMessage body: {exc}") from None
    state.pending_pre_key = None  # the peer has our session: stop sending pkmsg
    return plaintext


def _dh_ratchet_step(state: SessionState, their_ratchet_key: bytes, previous_counter: int) -> Chain:
    """The peer sent from a new ratchet key: close its previous chain, derive a receiving then a sending chain."""
    previous = state.receiving_chain(state.last_remote_ratchet_key)
    if previous is not None and previous.chain_key is not None:
        if previous_counter >= previous.index:
            _skip_to(previous, previous_counter + 1)
        previous.chain_key = None
    try:
        root_key, receiving_key = _kdf_root(state.root_key, state.ratchet_key_pair.shared_secret(their_ratchet_key))
        chain = Chain(receiving_key)
        new_ratchet = KeyPair.generate()
        root_key, sending_key = _kdf_root(root_key, new_ratchet.shared_secret(their_ratchet_key))
    except CryptoError as exc:  # a small-order ratchet key
        raise BadMacError(f"unusable ratchet key: {exc}") from None
    state.add_receiving_chain(their_ratchet_key, chain)
    if state.sending_chain is not None and state.sending_chain.index > 0:
        state.previous_counter = state.sending_chain.index - 1  # libsignal sends the last counter used
    state.root_key = root_key
    state.ratchet_key_pair = new_ratchet
    state.sending_chain = Chain(sending_key)
    state.last_remote_ratchet_key = their_ratchet_key
    return chain


def _message_key_seed_for(chain: Chain, counter: int) -> bytes:
    if counter < chain.index:
        seed = chain.skipped.pop(counter, None)
        if seed is None:
            raise DuplicateMessageError(f"message key {counter} already used or expired (chain at {chain.index})")
        return seed
    if chain.chain_key is None:
        raise InvalidMessageError(f"message {counter} on a closed chain")
    _skip_to(chain, counter)
    return _next_message_key_seed(chain)


def _skip_to(chain: Chain, counter: int) -> None:
    """Derive and keep the keys of messages index..counter-1 (they may still arrive)."""
    if counter - chain.index >= MAX_FORWARD_JUMP:
        raise InvalidMessageError(f"message {counter} is over {MAX_FORWARD_JUMP} messages into the future")
    if chain.chain_key is None:
        raise InvalidMessageError("cannot skip ahead on a closed chain")
    while chain.index < counter:
        index = chain.index  # read before the step advances it
        chain.skipped[index] = _next_message_key_seed(chain)
    while len(chain.skipped) > MAX_SKIPPED_PER_CHAIN:
        chain.skipped.popitem(last=False)


def _next_message_key_seed(chain: Chain) -> bytes:
    assert chain.chain_key is not None
    seed = hmac_sha256(chain.chain_key, b"\x01")
    chain.chain_key = hmac_sha256(chain.chain_key, b"\x02")
    chain.index += 1
    return seed


def _message_keys(seed: bytes) -> tuple[bytes, bytes, bytes]:
    okm = hkdf_sha256(seed, 80, salt=_ZERO_SALT, info=b"WhisperMessageKeys")
    return okm[:32], okm[32:64], okm[64:80]


def _kdf_root(root_key: bytes, shared: bytes) -> tuple[bytes, bytes]:
    okm = hkdf_sha256(shared, 64, salt=root_key, info=b"WhisperRatchet")
    return okm[:32], okm[32:]


def _x3dh_root_key(dh: list[bytes]) -> bytes:
    return hkdf_sha256(b"\xff" * 32 + b"".join(dh), 32, salt=_ZERO_SALT, info=b"WhisperText")


def _mac(mac_key: bytes, sender_identity: bytes, receiver_identity: bytes, serialized: bytes) -> bytes:
    return hmac_sha256(mac_key, sender_identity + receiver_identity + serialized)[:MAC_LENGTH]


def _check_identity(known: bytes | None, actual: bytes, trust_change: bool) -> bool:
    if known is None:
        return False
    if _as_public_key(known, "stored identity key") == actual:
        return False
    if not trust_change:
        raise UntrustedIdentityError("the peer's identity key changed")
    return True


def _drop_other_identities(record: SessionRecord, identity: bytes) -> None:
    """An accepted identity change replaces the sessions: states of the old identity can never verify again."""
    if record.current is not None and record.current.remote_identity != identity:
        record.current = None
    record.archived = [s for s in record.archived if s.remote_identity == identity]


def _check_version(data: bytes, what: str) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        raise MalformedMessageError(f"{what}: empty or not bytes")
    if data[0] != VERSION_BYTE:
        raise MalformedMessageError(f"{what}: unsupported version byte 0x{data[0]:02x} (want 0x33)", 0)


def _parse_proto(cls: type, data: bytes, what: str) -> Any:  # a generated protobuf message
    try:
        return cls.FromString(data)
    except ProtobufDecodeError as exc:
        raise MalformedMessageError(f"{what}: protobuf does not parse ({exc})", 1) from None


def _public_key(key: bytes, field: str) -> bytes:
    if len(key) != 33 or key[0] != 0x05:
        raise MalformedMessageError(f"{field} must be a 33-byte 0x05-prefixed key, got {len(key)} bytes")
    return bytes(key)


def _as_public_key(key: bytes, what: str) -> bytes:
    try:
        return prefixed(bytes(key))
    except CryptoError as exc:
        raise MalformedMessageError(f"{what}: {exc}") from None
