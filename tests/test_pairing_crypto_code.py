"""Pairing-code crypto: our companion against the emulator's phone side (whatsapp/testing/phone_link_code.py,
written independently), and each step against Baileys 7's functions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatsapp import pair_code
from whatsapp.errors import PairingError
from whatsapp.keys import KeyPair
from whatsapp.testing import phone_link_code
from whatsapp.testing.harness.nodejs import run_node_json


def _key(label: str) -> KeyPair:
    return KeyPair.from_private(hashlib.sha256(label.encode()).digest())


def _bytes(label: str, n: int) -> bytes:
    return hashlib.sha512(label.encode()).digest()[:n]


def _pairing(node_ops: list[dict]) -> list[dict]:
    results = run_node_json("pairing_oracle.mjs", input_obj={"ops": node_ops})["results"]
    for r in results:
        assert "error" not in r, r
    return results


# --- pure Python ------------------------------------------------------------------------------------------


def test_code_is_eight_chars_of_the_alphabet() -> None:
    for _ in range(50):
        code = pair_code.generate_pairing_code()
        assert len(code) == 8
        assert set(code) <= set(pair_code.PAIRING_CODE_ALPHABET)
    assert pair_code.generate_pairing_code(b"\x00" * 5) == "11111111"
    assert pair_code.generate_pairing_code(b"\xff" * 5) == "ZZZZZZZZ"


def test_format_and_normalize() -> None:
    assert pair_code.format_pairing_code("abcdefgh") == "ABCD-EFGH"
    assert pair_code.normalize_pairing_code("ABCD-EFGH") == "ABCDEFGH"
    assert pair_code.normalize_pairing_code(" abcd efgh ") == "ABCDEFGH"
    for bad in ("ABCDEFG", "ABCDEFGHJ", "ABCDEFG0", "ABCDEFGI", "ABCDEFGO", "ABCDEFGU", ""):
        with pytest.raises(PairingError):
            pair_code.normalize_pairing_code(bad)


def test_wrap_unwrap_round_trip_and_layout() -> None:
    pub = _key("eph").public
    wrapped = pair_code.wrap_ephemeral("ABCDEFGH", pub, salt=b"s" * 32, iv=b"i" * 16)
    assert len(wrapped) == 80 and wrapped[:32] == b"s" * 32 and wrapped[32:48] == b"i" * 16
    assert pair_code.unwrap_ephemeral("ABCDEFGH", wrapped) == pub
    assert pair_code.unwrap_ephemeral("ABCDEFGJ", wrapped) != pub
    with pytest.raises(PairingError):
        pair_code.unwrap_ephemeral("ABCDEFGH", wrapped[:-1])
    with pytest.raises(PairingError):
        pair_code.wrap_ephemeral("ABCDEFGH", pub[:31])


def test_full_exchange_in_python_derives_the_same_adv_secret() -> None:
    companion_identity, phone_identity = _key("companion-id"), _key("phone-id")
    hello = pair_code.start_companion()
    phone = phone_link_code.primary_hello(pair_code.format_pairing_code(hello.code), hello.wrapped_ephemeral)
    assert phone.companion_ephemeral_public == hello.ephemeral.public
    finish = pair_code.companion_finish(hello, companion_identity, phone.wrapped_ephemeral, phone_identity.public)
    assert len(finish.wrapped_key_bundle) == 156
    assert finish.companion_identity_public == companion_identity.public
    adv = phone_link_code.primary_finish(phone, phone_identity, finish.wrapped_key_bundle, companion_identity.public)
    assert adv == finish.adv_secret and len(adv) == 32


def test_wrong_code_on_the_phone_fails_at_the_bundle() -> None:
    companion_identity, phone_identity = _key("c"), _key("p")
    hello = pair_code.start_companion("ABCDEFGH")
    phone = phone_link_code.primary_hello("ABCDEFGJ", hello.wrapped_ephemeral)  # user mistyped one character
    finish = pair_code.companion_finish(hello, companion_identity, phone.wrapped_ephemeral, phone_identity.public)
    with pytest.raises(PairingError, match="does not decrypt"):
        phone_link_code.primary_finish(phone, phone_identity, finish.wrapped_key_bundle, companion_identity.public)


def test_primary_finish_rejects_tampering_and_substituted_keys() -> None:
    companion_identity, phone_identity = _key("c2"), _key("p2")
    hello = pair_code.start_companion()
    phone = phone_link_code.primary_hello(hello.code, hello.wrapped_ephemeral)
    finish = pair_code.companion_finish(hello, companion_identity, phone.wrapped_ephemeral, phone_identity.public)
    bundle = bytearray(finish.wrapped_key_bundle)
    bundle[60] ^= 1
    with pytest.raises(PairingError, match="does not decrypt"):
        phone_link_code.primary_finish(phone, phone_identity, bytes(bundle), companion_identity.public)
    with pytest.raises(PairingError, match="different companion identity"):
        phone_link_code.primary_finish(phone, phone_identity, finish.wrapped_key_bundle, _key("mallory").public)
    with pytest.raises(PairingError, match="different primary identity"):
        phone_link_code.primary_finish(phone, _key("other-phone"), finish.wrapped_key_bundle, companion_identity.public)
    with pytest.raises(PairingError, match="156"):
        phone_link_code.primary_finish(phone, phone_identity, finish.wrapped_key_bundle[:-1], companion_identity.public)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=12))
def test_encode_matches_reference_bit_layout(data: bytes) -> None:
    # Independent restatement: read the bits MSB first in groups of 5, zero-padding the last group on the right.
    bits = "".join(f"{b:08b}" for b in data)
    bits += "0" * (-len(bits) % 5)
    expected = "".join(pair_code.PAIRING_CODE_ALPHABET[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))
    assert pair_code.encode_pairing_code(data) == expected


# --- against Baileys 7 ------------------------------------------------------------------------------------


@pytest.mark.node
def test_crockford_and_pbkdf2_match_baileys() -> None:
    samples = [_bytes(f"code{i}", 5) for i in range(8)] + [b"\x00" * 5, b"\xff" * 5, _bytes("odd", 7)]
    salts = [_bytes(f"salt{i}", 32) for i in range(2)]
    ops = [{"op": "crockford", "data": s.hex()} for s in samples]
    ops += [{"op": "derive_key", "code": "ABCD1234", "salt": s.hex()} for s in salts]
    results = _pairing(ops)
    for sample, result in zip(samples, results, strict=False):
        assert pair_code.encode_pairing_code(sample) == result["code"]
    for salt, result in zip(salts, results[len(samples) :], strict=True):
        assert pair_code.derive_pairing_code_key("ABCD1234", salt).hex() == result["key"]


@pytest.mark.node
def test_wrapping_matches_baileys_both_ways() -> None:
    code = pair_code.generate_pairing_code(_bytes("wrap-code", 5))
    pub, salt, iv = _key("wrap").public, _bytes("wrap-salt", 32), _bytes("wrap-iv", 16)
    ours = pair_code.wrap_ephemeral(code, pub, salt=salt, iv=iv)
    theirs, unwrapped = _pairing(
        [
            {"op": "wrap", "code": code, "pub": pub.hex(), "salt": salt.hex(), "iv": iv.hex()},
            {"op": "unwrap", "code": code, "wrapped": ours.hex()},
        ]
    )
    assert theirs["wrapped"] == ours.hex()
    assert unwrapped["pub"] == pub.hex()


@pytest.mark.node
def test_companion_finish_matches_baileys_and_the_phone_side_accepts_it() -> None:
    code = "8W2K4RQA"
    companion_eph, companion_identity = _key("b-eph"), _key("b-ident")
    phone_identity = _key("b-phone")
    hello = pair_code.start_companion(code, ephemeral=companion_eph, salt=_bytes("s1", 32), iv=_bytes("i1", 16))
    phone = phone_link_code.primary_hello(
        code, hello.wrapped_ephemeral, ephemeral=_key("phone-eph"), salt=_bytes("s2", 32), iv=_bytes("i2", 16)
    )
    adv_random, bundle_salt, bundle_nonce = _bytes("r", 32), _bytes("bs", 32), _bytes("bn", 12)
    ours = pair_code.companion_finish(
        hello,
        companion_identity,
        phone.wrapped_ephemeral,
        phone_identity.public,
        adv_random=adv_random,
        bundle_salt=bundle_salt,
        bundle_nonce=bundle_nonce,
    )
    (baileys,) = _pairing(
        [
            {
                "op": "companion_finish",
                "code": code,
                "eph_priv": companion_eph.private.hex(),
                "ident_priv": companion_identity.private.hex(),
                "ident_pub": companion_identity.public.hex(),
                "wrapped_primary": phone.wrapped_ephemeral.hex(),
                "primary_ident_pub": phone_identity.public.hex(),
                "random": adv_random.hex(),
                "salt": bundle_salt.hex(),
                "iv": bundle_nonce.hex(),
            }
        ]
    )
    assert baileys["bundle"] == ours.wrapped_key_bundle.hex()
    assert baileys["adv_secret"] == ours.adv_secret.hex()
    # The phone side (emulator) decrypts Baileys' bundle and reaches Baileys' adv secret.
    adv = phone_link_code.primary_finish(phone, phone_identity, bytes.fromhex(baileys["bundle"]),
                                         companion_identity.public)
    assert adv.hex() == baileys["adv_secret"]


@pytest.mark.node
def test_baileys_decrypts_a_python_bundle() -> None:
    companion_identity, phone_identity = _key("x-ident"), _key("x-phone")
    hello = pair_code.start_companion()
    phone = phone_link_code.primary_hello(hello.code, hello.wrapped_ephemeral)
    finish = pair_code.companion_finish(hello, companion_identity, phone.wrapped_ephemeral, phone_identity.public)
    shared = phone.ephemeral.shared_secret(hello.ephemeral.public)
    (result,) = _pairing([{"op": "decrypt_bundle", "shared": shared.hex(), "bundle": finish.wrapped_key_bundle.hex()}])
    plain = bytes.fromhex(result["plain"])
    assert plain[:32] == companion_identity.public and plain[32:64] == phone_identity.public and len(plain) == 96
