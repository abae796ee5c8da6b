"""XEdDSA: Ed25519-style signatures made with a Curve25519 (X25519) key pair, as libsignal does them.

See docs/protocol.md §Keys and signatures.

Signal and WhatsApp sign with the same Curve25519 keys they use for Diffie-Hellman (signed prekeys,
ADV device identities, the server's Noise certificates). The signer turns its clamped X25519 scalar `a`
into the Edwards point A = a·B and signs like Ed25519 with two differences (libsignal's
`curve25519_sign`, also curve25519-js):

* the nonce is r = SHA512(0xFE || 0xFF*31 || a || message || Z) mod L, with 64 fresh random bytes Z;
* the verifier only knows the Montgomery u of A, which loses the sign of x, so the signer stores
  A's sign bit in the (otherwise always clear) top bit of the signature's last byte.

Verification converts u to the Edwards y = (u - 1) / (u + 1), takes the sign bit from sig[63],
clears it in the signature and runs a standard Ed25519 verification (via `cryptography`).

Error policy: `verify` never raises on bad input; a malformed key, signature of the wrong length
or any forgery returns False. `sign` raises CryptoError on a private key that is not 32 bytes or
a `random64` that is not 64 bytes (programming errors, not attacker input).

The signing side is pure Python: the only Ed25519 library available derives the scalar from a
seed by hashing it, so it cannot sign with a raw X25519 scalar. Base-point multiplication uses a
precomputed table (radix 16, one table row per nibble), so a signature costs two table walks of
64 mixed additions each, about half a millisecond in CPython. Python integers are not constant-time;
that is accepted here (a local timing attacker on the bot's host has easier targets than this).
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from whatsapp.errors import CryptoError
from whatsapp.keys import DJB_TYPE, clamp

SIGNATURE_LENGTH = 64

# Curve25519 / Ed25519 domain parameters (RFC 7748, RFC 8032).
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
D2 = (2 * D) % P
_BASE_Y = (4 * pow(5, P - 2, P)) % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)

_HASH_PREFIX = b"\xfe" + b"\xff" * 31  # domain separation of XEdDSA nonces from Ed25519's

# Montgomery u of the low-order points (besides u = p - 1, refused separately). A "public key" of small
# order lets anyone forge signatures that verify under it, so such keys never verify anything.
_SMALL_ORDER_U = frozenset(
    {
        0,
        1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
    }
)


def _recover_x(y: int, sign: int) -> int:
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * _SQRT_M1 % P
    if x & 1 != sign:
        x = P - x
    return x


# A point in extended twisted-Edwards coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z.
_Point = tuple[int, int, int, int]
# A precomputed affine point as (y + x, y - x, 2·d·x·y): the operands of a mixed addition.
_Cached = tuple[int, int, int]

_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _add_cached(p: _Point, q: _Cached) -> _Point:
    """p + q where q is a precomputed affine point (Z = 1), one multiplication cheaper than `_add`."""
    x1, y1, z1, t1 = p
    ypx, ymx, t2d = q
    a = (y1 - x1) * ymx % P
    b = (y1 + x1) * ypx % P
    c = t1 * t2d % P
    d = 2 * z1 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _to_cached_batch(points: list[_Point]) -> list[_Cached]:
    """Affine (y + x, y - x, 2dxy) forms, with one shared inversion for all Z (Montgomery's trick)."""
    prefix = [1]
    for _, _, z, _ in points:
        prefix.append(prefix[-1] * z % P)
    inverse = pow(prefix[-1], P - 2, P)
    cached: list[_Cached] = [(0, 0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        x, y, z, _ = points[i]
        zi = inverse * prefix[i] % P
        inverse = inverse * z % P
        x, y = x * zi % P, y * zi % P
        cached[i] = ((y + x) % P, (y - x) % P, D2 * x * y % P)
    return cached


def _build_base_table() -> list[list[_Cached]]:
    """table[i][j] = j · 16^i · B for i in 0..63, j in 0..15 (j = 0 is the identity)."""
    base_x = _recover_x(_BASE_Y, 0)
    row_base: _Point = (base_x, _BASE_Y, 1, base_x * _BASE_Y % P)
    multiples: list[_Point] = []
    for _ in range(64):
        acc = row_base
        for _j in range(1, 16):
            multiples.append(acc)
            acc = _add(acc, row_base)
        row_base = acc  # 16 · row_base
    cached = _to_cached_batch(multiples)
    return [[(1, 1, 0), *cached[i * 15 : (i + 1) * 15]] for i in range(64)]


_BASE_TABLE = _build_base_table()


def _scalar_mult_base(k: int) -> _Point:
    k %= L
    point = _IDENTITY
    for row in _BASE_TABLE:
        nibble = k & 15
        if nibble:
            point = _add_cached(point, row[nibble])
        k >>= 4
    return point


def _encode_point(p: _Point) -> bytes:
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def sign(private_key: bytes, message: bytes, random64: bytes | None = None) -> bytes:
    """XEdDSA-sign `message` with a 32-byte Curve25519 private key; returns 64 bytes R || s.

    `random64` exists for reproducible tests (curve25519-js's `sign(key, msg, random)` gives the
    same bytes); in production leave it None so every signature uses a fresh nonce.
    """
    if len(private_key) != 32:
        raise CryptoError(f"XEdDSA private key must be 32 bytes, got {len(private_key)}")
    if random64 is None:
        random64 = os.urandom(64)
    elif len(random64) != 64:
        raise CryptoError(f"XEdDSA nonce randomness must be 64 bytes, got {len(random64)}")
    secret = clamp(private_key)
    a = int.from_bytes(secret, "little")
    public_edwards = _encode_point(_scalar_mult_base(a))
    r = int.from_bytes(hashlib.sha512(_HASH_PREFIX + secret + message + random64).digest(), "little") % L
    r_encoded = _encode_point(_scalar_mult_base(r))
    h = int.from_bytes(hashlib.sha512(r_encoded + public_edwards + message).digest(), "little") % L
    s = (r + h * a) % L
    signature = bytearray(r_encoded + s.to_bytes(32, "little"))
    signature[63] |= public_edwards[31] & 0x80  # s < 2^253, so the top bit is free to carry A's sign
    return bytes(signature)


def _montgomery_to_edwards_y(public_key: bytes) -> int | None:
    if len(public_key) == 33 and public_key[0] == DJB_TYPE:
        public_key = public_key[1:]
    if len(public_key) != 32:
        return None
    # Like X25519 we ignore bit 255 of u; a non-canonical u (>= p) is rejected outright.
    u = int.from_bytes(public_key, "little") & ((1 << 255) - 1)
    if u >= P or u == P - 1 or u in _SMALL_ORDER_U:  # u = -1 has no Edwards image (division by zero)
        return None
    return (u - 1) * pow(u + 1, P - 2, P) % P


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid XEdDSA signature of `message` by the Curve25519 `public_key`.

    `public_key` may be raw (32 bytes) or 0x05-prefixed (33 bytes). Never raises on bad input.
    """
    if len(signature) != SIGNATURE_LENGTH:
        return False
    y = _montgomery_to_edwards_y(bytes(public_key))
    if y is None:
        return False
    sign_bit = signature[63] & 0x80
    edwards = bytearray(y.to_bytes(32, "little"))
    edwards[31] |= sign_bit
    plain_signature = bytearray(signature)
    plain_signature[63] &= 0x7F
    try:
        Ed25519PublicKey.from_public_bytes(bytes(edwards)).verify(bytes(plain_signature), bytes(message))
    except (InvalidSignature, ValueError):
        return False
    return True
