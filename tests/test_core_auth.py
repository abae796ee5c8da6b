"""The lead's shared pieces: key pairs, credentials records and the auth-state transaction contract."""

from __future__ import annotations

import pytest

from whatsapp import xeddsa
from whatsapp.auth import KeyType, MemoryAuthState
from whatsapp.cipher import aes_cbc_decrypt, aes_cbc_encrypt, aes_gcm_decrypt, aes_gcm_encrypt
from whatsapp.creds import Credentials
from whatsapp.errors import CryptoError, DecodeError
from whatsapp.keys import KeyPair, prefixed, strip_prefix


def test_key_pair_round_trip_and_dh_agreement() -> None:
    alice, bob = KeyPair.generate(), KeyPair.generate()
    assert alice.shared_secret(bob.public) == bob.shared_secret(prefixed(alice.public))
    assert KeyPair.from_bytes(alice.to_bytes()) == alice
    tampered = bytearray(alice.to_bytes())
    tampered[40] ^= 1
    with pytest.raises(CryptoError):
        KeyPair.from_bytes(bytes(tampered))
    assert "private" not in repr(alice)


def test_prefix_helpers_reject_wrong_shapes() -> None:
    key = KeyPair.generate().public
    assert strip_prefix(prefixed(key)) == key
    with pytest.raises(CryptoError):
        strip_prefix(b"\x06" + key)
    with pytest.raises(CryptoError):
        prefixed(key[:31])


def test_cipher_failures_raise_crypto_error() -> None:
    key, nonce = bytes(32), bytes(12)
    sealed = aes_gcm_encrypt(key, nonce, b"hello", b"ad")
    assert aes_gcm_decrypt(key, nonce, sealed, b"ad") == b"hello"
    with pytest.raises(CryptoError):
        aes_gcm_decrypt(key, nonce, sealed, b"other ad")
    with pytest.raises(CryptoError):
        aes_gcm_decrypt(key, nonce, sealed[:10])
    with pytest.raises(CryptoError):
        aes_cbc_decrypt(key, bytes(16), aes_cbc_encrypt(key, bytes(16), b"x")[:-1])


def test_fresh_credentials_have_a_valid_signed_prekey_and_round_trip() -> None:
    creds = Credentials.generate()
    spk = creds.signed_prekey
    assert xeddsa.verify(creds.identity_key.public, prefixed(spk.key_pair.public), spk.signature)
    assert 0 < creds.registration_id < 0x4000
    assert not creds.paired
    again = Credentials.from_dict(creds.to_dict())
    assert again.to_dict() == creds.to_dict()


@pytest.mark.parametrize(
    ("field", "value"),
    [("schema", 99), ("noise_key", b"short"), ("registration_id", "12"), ("me_id", 5), ("next_prekey_id", None)],
)
def test_malformed_credentials_name_the_bad_field(field: str, value: object) -> None:
    record = Credentials.generate().to_dict()
    record[field] = value
    with pytest.raises(DecodeError):
        Credentials.from_dict(record)


async def test_transaction_commits_whole_or_not_at_all() -> None:
    state = MemoryAuthState()
    async with state.transaction() as tx:
        tx.set(KeyType.PRE_KEY, "1", b"one")
        tx.set(KeyType.SESSION, "123.0", b"s")
        # reads inside a transaction see its own pending writes
        assert await tx.get(KeyType.PRE_KEY, ["1", "2"]) == {"1": b"one"}
        assert await state.get(KeyType.PRE_KEY, ["1"]) == {}
    assert await state.get(KeyType.PRE_KEY, ["1"]) == {"1": b"one"}
    assert state.commits == 1

    with pytest.raises(RuntimeError):
        async with state.transaction() as tx:
            tx.set(KeyType.PRE_KEY, "1", None)
            raise RuntimeError("handler failed mid-way")
    assert await state.get(KeyType.PRE_KEY, ["1"]) == {"1": b"one"}
    assert state.commits == 1


async def test_nested_transactions_join_the_outer_unit_of_work() -> None:
    state = MemoryAuthState()
    creds = state.creds
    async with state.transaction() as outer:
        async with state.transaction() as inner:
            assert inner is outer
            inner.set(KeyType.IDENTITY, "1.0", b"id")
        creds.next_prekey_id = 42
        outer.set_creds(creds)
    assert state.commits == 1
    assert state.creds.next_prekey_id == 42

