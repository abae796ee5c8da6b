"""The Double Ratchet of a 1:1 session: key derivation, chain steps and trying a message against states.

Everything here works on a `SessionState` the caller has already cloned (see `whatsapp.signal.session`):
on an exception the clone is dropped, so a failed decryption never half-advances the stored ratchet.
The KDF labels ("WhisperText", "WhisperRatchet", "WhisperMessageKeys") are libsignal's; see
docs/protocol.md §Signal sessions.
"""

from __future__ import annotations

from whatsapp.cipher import aes_cbc_decrypt, constant_time_equal, hkdf_sha256, hmac_sha256
from whatsapp.errors import BadMacError, CryptoError, DuplicateMessageError, InvalidMessageError, SignalError
from whatsapp.keys import KeyPair
from whatsapp.signal.records import MAX_FORWARD_JUMP, MAX_SKIPPED_PER_CHAIN, Chain, SessionState
from whatsapp.signal.wire import MAC_LENGTH, WhisperMessage

_ZERO_SALT = bytes(32)


def decrypt_with_states(
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
        for error in errors:
            if isinstance(error, kind):
                raise error
    raise BadMacError(f"message MAC matches none of {len(states)} session state(s)")


def _decrypt_in_state(state: SessionState, message: WhisperMessage) -> bytes:
    chain = state.receiving_chain(message.ratchet_key)
    if chain is None:
        chain = _dh_ratchet_step(state, message.ratchet_key, message.previous_counter)
    seed = _message_key_seed_for(chain, message.counter)
    cipher_key, mac_key, iv = message_keys(seed)
    expected = message_mac(mac_key, state.remote_identity, state.local_identity, message.serialized)
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
        root_key, receiving_key = kdf_root(state.root_key, state.ratchet_key_pair.shared_secret(their_ratchet_key))
        chain = Chain(receiving_key)
        new_ratchet = KeyPair.generate()
        root_key, sending_key = kdf_root(root_key, new_ratchet.shared_secret(their_ratchet_key))
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
    return next_message_key_seed(chain)


def _skip_to(chain: Chain, counter: int) -> None:
    """Derive and keep the keys of messages index..counter-1 (they may still arrive)."""
    if counter - chain.index >= MAX_FORWARD_JUMP:
        raise InvalidMessageError(f"message {counter} is over {MAX_FORWARD_JUMP} messages into the future")
    if chain.chain_key is None:
        raise InvalidMessageError("cannot skip ahead on a closed chain")
    while chain.index < counter:
        index = chain.index  # read before the step advances it
        chain.skipped[index] = next_message_key_seed(chain)
    while len(chain.skipped) > MAX_SKIPPED_PER_CHAIN:
        chain.skipped.popitem(last=False)


def next_message_key_seed(chain: Chain) -> bytes:
    """Step an open chain: the seed of the message at `chain.index`, then the chain key moves on."""
    assert chain.chain_key is not None
    seed = hmac_sha256(chain.chain_key, b"\x01")
    chain.chain_key = hmac_sha256(chain.chain_key, b"\x02")
    chain.index += 1
    return seed


def message_keys(seed: bytes) -> tuple[bytes, bytes, bytes]:
    """(cipher key, MAC key, IV) of one message."""
    okm = hkdf_sha256(seed, 80, salt=_ZERO_SALT, info=b"WhisperMessageKeys")
    return okm[:32], okm[32:64], okm[64:80]


def kdf_root(root_key: bytes, shared: bytes) -> tuple[bytes, bytes]:
    """(new root key, chain key) from one Diffie-Hellman ratchet step."""
    okm = hkdf_sha256(shared, 64, salt=root_key, info=b"WhisperRatchet")
    return okm[:32], okm[32:]


def x3dh_root_key(dh: list[bytes]) -> bytes:
    """The first root key from the X3DH shared secrets (0xFF * 32 is libsignal's discontinuity prefix)."""
    return hkdf_sha256(b"\xff" * 32 + b"".join(dh), 32, salt=_ZERO_SALT, info=b"WhisperText")


def message_mac(mac_key: bytes, sender_identity: bytes, receiver_identity: bytes, serialized: bytes) -> bytes:
    return hmac_sha256(mac_key, sender_identity + receiver_identity + serialized)[:MAC_LENGTH]
