"""Sender keys (group messages): our own sender key, distribution messages, group encrypt and decrypt.

Sans-I/O like `whatsapp.signal.session`: each function takes a `SenderKeyRecord` (the one stored under
`KeyType.SENDER_KEY` for `(group, sender address)`), never mutates it, and returns the record to persist.

Wire formats: SKDM = 0x33 || SenderKeyDistributionMessage; skmsg = 0x33 || SenderKeyMessage || XEdDSA
signature (64 bytes) over everything before it, by the sender's signing key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from whatsapp import xeddsa
from whatsapp.cipher import aes_cbc_decrypt, aes_cbc_encrypt, hkdf_sha256, hmac_sha256
from whatsapp.errors import (
    CryptoError,
    DuplicateMessageError,
    InvalidMessageError,
    InvalidSignatureError,
    MalformedMessageError,
    NoSessionError,
)
from whatsapp.keys import KeyPair, prefixed
from whatsapp.proto import signal_pb2
from whatsapp.signal.records import (
    MAX_FORWARD_JUMP,
    MAX_SENDER_KEY_STATES,
    MAX_SENDER_MESSAGE_KEYS,
    SenderKeyRecord,
    SenderKeyState,
)
from whatsapp.signal.wire import VERSION_BYTE, parse_versioned

SIGNATURE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class SenderKeyDistribution:
    """A parsed SenderKeyDistributionMessage."""

    key_id: int
    iteration: int
    chain_key: bytes = field(repr=False)  # secret: whoever holds it reads the sender's group messages
    signing_key: bytes  # 33 bytes

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyDistribution:
        proto = parse_versioned(signal_pb2.SenderKeyDistributionMessage, data, "SenderKeyDistributionMessage")
        for name in ("id", "iteration", "chainKey", "signingKey"):
            if not proto.HasField(name):
                raise MalformedMessageError(f"SenderKeyDistributionMessage lacks {name}")
        if len(proto.chainKey) != 32:
            raise MalformedMessageError(f"SenderKeyDistributionMessage chainKey is {len(proto.chainKey)} bytes")
        try:
            signing_key = prefixed(proto.signingKey)
        except CryptoError as exc:
            raise MalformedMessageError(f"SenderKeyDistributionMessage signingKey: {exc}") from None
        return cls(proto.id, proto.iteration, proto.chainKey, signing_key)

    def to_bytes(self) -> bytes:
        proto = signal_pb2.SenderKeyDistributionMessage(
            id=self.key_id, iteration=self.iteration, chainKey=self.chain_key, signingKey=self.signing_key
        )
        return bytes([VERSION_BYTE]) + proto.SerializeToString()


def create_sender_key(record: SenderKeyRecord | None = None) -> SenderKeyRecord:
    """Our own sender key for a group: reuse the existing one, or start a fresh one (new key id)."""
    if record is not None:
        state = record.state()
        if state is not None and state.signing_private is not None:
            return record.clone()
    signing = KeyPair.generate()
    state = SenderKeyState(
        key_id=secrets.randbelow(2**31 - 1),
        iteration=0,
        chain_key=os.urandom(32),
        signing_public=prefixed(signing.public),
        signing_private=signing.private,
    )
    return SenderKeyRecord([state])


def distribution_message(record: SenderKeyRecord) -> bytes:
    """The SKDM bytes for our current sender key, at the iteration the next message will use."""
    state = record.state()
    if state is None or state.signing_private is None:
        raise NoSessionError("no own sender key: call create_sender_key first")
    return SenderKeyDistribution(state.key_id, state.iteration, state.chain_key, state.signing_public).to_bytes()


def process_distribution_message(
    record: SenderKeyRecord | None, skdm: bytes | SenderKeyDistribution
) -> SenderKeyRecord:
    """Install a sender's key from its SKDM. Re-delivery of a known key keeps the state (and its cached keys)."""
    dist = skdm if isinstance(skdm, SenderKeyDistribution) else SenderKeyDistribution.parse(skdm)
    new = record.clone() if record else SenderKeyRecord()
    existing = new.state(dist.key_id)
    if existing is not None and existing.signing_public == dist.signing_key and existing.iteration <= dist.iteration:
        return new
    new.states = [s for s in new.states if s.key_id != dist.key_id]
    new.states.append(SenderKeyState(dist.key_id, dist.iteration, dist.chain_key, dist.signing_key))
    del new.states[:-MAX_SENDER_KEY_STATES]
    return new


def group_encrypt(record: SenderKeyRecord, plaintext: bytes) -> tuple[SenderKeyRecord, bytes]:
    """Encrypt with our sender key; returns the advanced record and the skmsg bytes."""
    new = record.clone()
    state = new.state()
    if state is None or state.signing_private is None:
        raise NoSessionError("no own sender key to encrypt with")
    iteration = state.iteration
    iv, cipher_key = _message_keys(_next_seed(state))
    proto = signal_pb2.SenderKeyMessage(
        id=state.key_id, iteration=iteration, ciphertext=aes_cbc_encrypt(cipher_key, iv, plaintext)
    )
    signed = bytes([VERSION_BYTE]) + proto.SerializeToString()
    return new, signed + xeddsa.sign(state.signing_private, signed)


def group_decrypt(record: SenderKeyRecord | None, skmsg: bytes) -> tuple[SenderKeyRecord, bytes]:
    """Verify and decrypt an skmsg. Errors: NoSessionError (unknown key id: ask for the SKDM),
    InvalidSignatureError, DuplicateMessageError, InvalidMessageError, MalformedMessageError."""
    if len(skmsg) < 1 + SIGNATURE_LENGTH:
        raise MalformedMessageError(f"SenderKeyMessage too short ({len(skmsg)} bytes)")
    signed, signature = bytes(skmsg[:-SIGNATURE_LENGTH]), bytes(skmsg[-SIGNATURE_LENGTH:])
    proto = parse_versioned(signal_pb2.SenderKeyMessage, signed, "SenderKeyMessage")
    if not (proto.HasField("id") and proto.HasField("iteration") and proto.HasField("ciphertext")):
        raise MalformedMessageError("SenderKeyMessage lacks id, iteration or ciphertext")
    new = record.clone() if record else SenderKeyRecord()
    state = new.state(proto.id)
    if state is None:
        raise NoSessionError(f"no sender key with id {proto.id}")
    if not xeddsa.verify(state.signing_public, signed, signature):
        raise InvalidSignatureError("SenderKeyMessage signature does not verify")
    seed = _seed_for_iteration(state, proto.iteration)
    iv, cipher_key = _message_keys(seed)
    try:
        plaintext = aes_cbc_decrypt(cipher_key, iv, proto.ciphertext)
    except CryptoError as exc:
        raise InvalidMessageError(f"SenderKeyMessage body: {exc}") from None
    return new, plaintext


def _seed_for_iteration(state: SenderKeyState, iteration: int) -> bytes:
    if iteration < state.iteration:
        seed = state.message_keys.pop(iteration, None)
        if seed is None:
            raise DuplicateMessageError(f"sender key iteration {iteration} already used or expired")
        return seed
    if iteration - state.iteration > MAX_FORWARD_JUMP:
        raise InvalidMessageError(f"sender key iteration {iteration} is over {MAX_FORWARD_JUMP} into the future")
    # Gaps are normal (Baileys' group sends skip iterations: docs/protocol.md §Sender keys); keep the skipped keys.
    while state.iteration < iteration:
        skipped = state.iteration  # read before the step advances it
        state.message_keys[skipped] = _next_seed(state)
    while len(state.message_keys) > MAX_SENDER_MESSAGE_KEYS:
        state.message_keys.popitem(last=False)
    return _next_seed(state)


def _next_seed(state: SenderKeyState) -> bytes:
    seed = hmac_sha256(state.chain_key, b"\x01")
    state.chain_key = hmac_sha256(state.chain_key, b"\x02")
    state.iteration += 1
    return seed


def _message_keys(seed: bytes) -> tuple[bytes, bytes]:
    okm = hkdf_sha256(seed, 48, info=b"WhisperGroup")
    return okm[:16], okm[16:48]  # iv, cipher key
