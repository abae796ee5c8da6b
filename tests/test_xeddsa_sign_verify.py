"""XEdDSA: Python signatures against curve25519-js's strict verify, Baileys' signatures in Python."""

from __future__ import annotations

import os
import random

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from whatsapp import xeddsa
from whatsapp.errors import CryptoError
from whatsapp.keys import KeyPair, prefixed
from whatsapp.testing.harness.nodejs import run_node_json


def _flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    buf = bytearray(data)
    buf[index] ^= mask
    return bytes(buf)


def test_sign_verify_roundtrip_and_tampering() -> None:
    kp = KeyPair.generate()
    message = b"the 33-byte prefixed signed prekey"
    sig = xeddsa.sign(kp.private, message)
    assert len(sig) == 64
    assert xeddsa.verify(kp.public, message, sig)
    assert xeddsa.verify(prefixed(kp.public), message, sig)
    assert not xeddsa.verify(kp.public, message + b"x", sig)
    assert not xeddsa.verify(KeyPair.generate().public, message, sig)
    for index in (0, 17, 31, 32, 50, 62):
        assert not xeddsa.verify(kp.public, message, _flip(sig, index))
    # The sign bit of A lives in sig[63]; flipping it must break verification too.
    assert not xeddsa.verify(kp.public, message, _flip(sig, 63, 0x80))
    assert not xeddsa.verify(_flip(kp.public, 0), message, sig)


def test_fresh_nonce_each_time_and_deterministic_with_random() -> None:
    kp = KeyPair.generate()
    assert xeddsa.sign(kp.private, b"m") != xeddsa.sign(kp.private, b"m")
    z = os.urandom(64)
    assert xeddsa.sign(kp.private, b"m", z) == xeddsa.sign(kp.private, b"m", z)


@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (b"", b"\x00" * 64),
        (b"\x01" * 31, b"\x00" * 64),
        (b"\x07" + b"\x01" * 32, b"\x00" * 64),  # 33 bytes with an unknown type byte
        (b"\x01" * 34, b"\x00" * 64),
        (b"\x09" * 32, b""),
        (b"\x09" * 32, b"\x00" * 63),
        (b"\x09" * 32, b"\x00" * 65),
        (b"\xff" * 32, b"\x00" * 64),  # u >= p (non-canonical)
        ((2**255 - 20).to_bytes(32, "little"), b"\x00" * 64),  # u = -1: no Edwards image
        (b"\x00" * 32, b"\x00" * 64),
    ],
    ids=lambda value: f"{len(value)}B",
)
def test_malformed_inputs_return_false(public: bytes, signature: bytes) -> None:
    assert xeddsa.verify(public, b"msg", signature) is False


def test_low_order_public_key_accepts_no_forgery() -> None:
    # u = 0 maps to the Edwards point (0, -1) of order 2, so h·A is the identity whenever h is even and
    # R = s·B with any s forms a "valid" Ed25519 signature. Plain Ed25519 accepts it; xeddsa.verify must not.
    low_order_edwards = Ed25519PublicKey.from_public_bytes((xeddsa.P - 1).to_bytes(32, "little"))
    rng = random.Random(99)
    forged = 0
    for _ in range(16):
        s_value = rng.randrange(xeddsa.L)
        sig = xeddsa._encode_point(xeddsa._scalar_mult_base(s_value)) + s_value.to_bytes(32, "little")
        try:
            low_order_edwards.verify(sig, b"forged")
        except InvalidSignature:
            continue
        forged += 1
        assert not xeddsa.verify(bytes(32), b"forged", sig)
    assert forged > 0  # the attack is real against an unchecked verifier


def test_random_garbage_never_raises() -> None:
    rng = random.Random(1234)
    for _ in range(2000):
        public = rng.randbytes(rng.choice([0, 31, 32, 33, 40]))
        sig = rng.randbytes(rng.choice([0, 63, 64, 64, 65]))
        assert xeddsa.verify(public, rng.randbytes(rng.randrange(50)), sig) is False


def test_sign_rejects_bad_argument_lengths() -> None:
    with pytest.raises(CryptoError):
        xeddsa.sign(b"\x01" * 31, b"m")
    with pytest.raises(CryptoError):
        xeddsa.sign(b"\x01" * 32, b"m", b"\x00" * 63)


@pytest.mark.node
def test_python_signatures_verify_in_curve25519_js_and_match_bytes() -> None:
    rng = random.Random(42)
    cases = []
    for i in range(40):
        kp = KeyPair.from_private(rng.randbytes(32))
        msg = rng.randbytes(rng.choice([0, 1, 33, 100, 1000]))
        z = rng.randbytes(64)
        sig = xeddsa.sign(kp.private, msg, z)
        cases.append((kp, msg, z, sig, i))
    verify = []
    for kp, msg, _z, sig, i in cases:
        verify.append({"pub": kp.public.hex(), "msg": msg.hex(), "sig": sig.hex()})
        # And a tampered variant of each: signature, message or key.
        kind = i % 3
        if kind == 0:
            verify.append({"pub": kp.public.hex(), "msg": msg.hex(), "sig": _flip(sig, i % 64).hex()})
        elif kind == 1:
            verify.append({"pub": kp.public.hex(), "msg": (msg + b"!").hex(), "sig": sig.hex()})
        else:
            verify.append({"pub": KeyPair.generate().public.hex(), "msg": msg.hex(), "sig": sig.hex()})
    sign = [{"priv": kp.private.hex(), "msg": msg.hex(), "random": z.hex()} for kp, msg, z, _s, _i in cases]
    result = run_node_json("crypto_xeddsa.mjs", input_obj={"verify": verify, "sign": sign})
    assert result["verify"] == [True, False] * len(cases)
    # With the same 64 random bytes, curve25519-js produces byte-identical signatures.
    assert result["sign"] == [sig.hex() for _kp, _m, _z, sig, _i in cases]


@pytest.mark.node
def test_baileys_signatures_verify_in_python() -> None:
    rng = random.Random(7)
    requests = [{"priv": rng.randbytes(32).hex(), "msg": rng.randbytes(rng.randrange(1, 200)).hex()} for _ in range(30)]
    result = run_node_json("crypto_xeddsa.mjs", input_obj={"baileys_sign": requests})
    for req, got in zip(requests, result["baileys_sign"], strict=True):
        public = bytes.fromhex(got["pub"])
        assert public == KeyPair.from_private(bytes.fromhex(req["priv"])).public
        msg, sig = bytes.fromhex(req["msg"]), bytes.fromhex(got["sig"])
        assert xeddsa.verify(public, msg, sig)
        assert not xeddsa.verify(public, msg + b"\x00", sig)
        assert not xeddsa.verify(public, msg, _flip(sig, 5))
        assert not xeddsa.verify(KeyPair.generate().public, msg, sig)
