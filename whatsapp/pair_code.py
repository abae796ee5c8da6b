"""Pairing-code ("link with phone number") cryptography, the companion's side (docs/protocol.md §Pairing code).

Companion (this client): `start_companion` makes the 8-character code and wraps its ephemeral public key for
`companion_hello`; `companion_finish` unwraps the phone's ephemeral from the `link_code_companion_reg`
notification, builds the 156-byte wrapped key bundle for `companion_finish` and derives the adv secret that
replaces the one generated at install time.

The primary phone's side is the emulator's, written independently in whatsapp/testing/phone_link_code.py.

Randomness can be injected through keyword parameters so tests can reproduce exact bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from whatsapp.cipher import aes_ctr, aes_gcm_encrypt, hkdf_sha256, pbkdf2_sha256
from whatsapp.errors import CryptoError, PairingError
from whatsapp.keys import KEY_LENGTH, KeyPair

PAIRING_CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # Crockford-like: no 0, O, I, U
PAIRING_CODE_LENGTH = 8
PBKDF2_ITERATIONS = 2 << 16  # 131072
WRAPPED_EPHEMERAL_LENGTH = 32 + 16 + 32  # salt || iv || AES-CTR(pub)
WRAPPED_KEY_BUNDLE_LENGTH = 32 + 12 + 96 + 16  # salt || nonce || AES-GCM(3 x 32 bytes) || tag
KEY_BUNDLE_INFO = b"link_code_pairing_key_bundle_encryption_key"
ADV_SECRET_INFO = b"adv_secret"


def _random(value: bytes | None, length: int, name: str) -> bytes:
    if value is None:
        return os.urandom(length)
    if len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")
    return value


# --- the code itself ----------------------------------------------------------------------------------------


def encode_pairing_code(data: bytes) -> str:
    """Base32 over the pairing alphabet, MSB first, 5 bits per character (5 bytes give exactly 8 characters)."""
    bits = int.from_bytes(data, "big")
    nbits = len(data) * 8
    chars = []
    while nbits >= 5:
        nbits -= 5
        chars.append(PAIRING_CODE_ALPHABET[(bits >> nbits) & 31])
    if nbits:  # a trailing partial group is left-aligned, as Baileys' bytesToCrockford does
        chars.append(PAIRING_CODE_ALPHABET[(bits << (5 - nbits)) & 31])
    return "".join(chars)


def generate_pairing_code(random5: bytes | None = None) -> str:
    return encode_pairing_code(_random(random5, 5, "random5"))


def format_pairing_code(code: str) -> str:
    """Display form "XXXX-XXXX"; the dash is not part of the secret."""
    code = normalize_pairing_code(code)
    return f"{code[:4]}-{code[4:]}"


def normalize_pairing_code(code: str) -> str:
    """Accept "abcd-efgh", "ABCD EFGH", ...; return the 8 uppercase characters or raise PairingError."""
    cleaned = "".join(ch for ch in code if ch not in "- ").upper()
    if len(cleaned) != PAIRING_CODE_LENGTH:
        raise PairingError(f"pairing code must have {PAIRING_CODE_LENGTH} characters, got {len(cleaned)}")
    bad = sorted({ch for ch in cleaned if ch not in PAIRING_CODE_ALPHABET})
    if bad:
        raise PairingError(f"pairing code has characters outside the pairing alphabet: {''.join(bad)!r}")
    return cleaned


# --- wrapping an ephemeral public key with the code ---------------------------------------------------------


def derive_pairing_code_key(code: str, salt: bytes) -> bytes:
    """PBKDF2-HMAC-SHA256(code, salt, 131072 iterations) -> 32-byte AES key (Baileys' derivePairingCodeKey)."""
    return pbkdf2_sha256(code.encode("ascii"), salt, PBKDF2_ITERATIONS, 32)


def wrap_ephemeral(code: str, public_key: bytes, *, salt: bytes | None = None, iv: bytes | None = None) -> bytes:
    """salt(32) || iv(16) || AES-256-CTR(PBKDF2(code, salt), iv, public_key): 80 bytes."""
    if len(public_key) != KEY_LENGTH:
        raise PairingError(f"ephemeral public key must be {KEY_LENGTH} bytes, got {len(public_key)}")
    salt = _random(salt, 32, "salt")
    iv = _random(iv, 16, "iv")
    return salt + iv + aes_ctr(derive_pairing_code_key(code, salt), iv, public_key)


def unwrap_ephemeral(code: str, wrapped: bytes) -> bytes:
    """Inverse of `wrap_ephemeral`. A wrong code yields a wrong key, not an error: CTR has no integrity; the
    mismatch surfaces when the key bundle fails to decrypt."""
    if len(wrapped) != WRAPPED_EPHEMERAL_LENGTH:
        raise PairingError(f"wrapped ephemeral key must be {WRAPPED_EPHEMERAL_LENGTH} bytes, got {len(wrapped)}")
    salt, iv, ciphertext = wrapped[:32], wrapped[32:48], wrapped[48:]
    return aes_ctr(derive_pairing_code_key(code, salt), iv, ciphertext)


def derive_adv_secret(ephemeral_shared: bytes, identity_shared: bytes, adv_random: bytes) -> bytes:
    return hkdf_sha256(ephemeral_shared + identity_shared + adv_random, 32, info=ADV_SECRET_INFO)


def _bundle_key(ephemeral_shared: bytes, salt: bytes) -> bytes:
    return hkdf_sha256(ephemeral_shared, 32, salt=salt, info=KEY_BUNDLE_INFO)


# --- companion side -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompanionHello:
    """What the companion keeps between `companion_hello` and the phone's notification."""

    code: str  # 8 characters, no dash
    ephemeral: KeyPair
    wrapped_ephemeral: bytes  # content of <link_code_pairing_wrapped_companion_ephemeral_pub>

    def __repr__(self) -> str:
        return "CompanionHello(code=…)"


def start_companion(
    code: str | None = None,
    *,
    ephemeral: KeyPair | None = None,
    random5: bytes | None = None,
    salt: bytes | None = None,
    iv: bytes | None = None,
) -> CompanionHello:
    """Pick (or take) a code and an ephemeral key pair and wrap the ephemeral's public key with the code."""
    code = normalize_pairing_code(code) if code is not None else generate_pairing_code(random5)
    ephemeral = ephemeral or KeyPair.generate()
    return CompanionHello(code, ephemeral, wrap_ephemeral(code, ephemeral.public, salt=salt, iv=iv))


@dataclass(frozen=True, slots=True)
class CompanionFinish:
    wrapped_key_bundle: bytes  # content of <link_code_pairing_wrapped_key_bundle>, 156 bytes
    companion_identity_public: bytes  # content of <companion_identity_public>
    adv_secret: bytes  # replaces Credentials.adv_secret_key

    def __repr__(self) -> str:
        return "CompanionFinish(…)"


def companion_finish(
    hello: CompanionHello,
    identity: KeyPair,
    wrapped_primary_ephemeral: bytes,
    primary_identity_public: bytes,
    *,
    adv_random: bytes | None = None,
    bundle_salt: bytes | None = None,
    bundle_nonce: bytes | None = None,
) -> CompanionFinish:
    """Answer the phone's `link_code_companion_reg` notification (stage companion_finish)."""
    if len(primary_identity_public) != KEY_LENGTH:
        raise PairingError(f"primary identity key must be {KEY_LENGTH} bytes, got {len(primary_identity_public)}")
    primary_ephemeral = unwrap_ephemeral(hello.code, wrapped_primary_ephemeral)
    try:
        ephemeral_shared = hello.ephemeral.shared_secret(primary_ephemeral)
        identity_shared = identity.shared_secret(primary_identity_public)
    except CryptoError as exc:
        raise PairingError(f"pairing code key agreement failed: {exc}") from None
    adv_random = _random(adv_random, 32, "adv_random")
    salt = _random(bundle_salt, 32, "bundle_salt")
    nonce = _random(bundle_nonce, 12, "bundle_nonce")
    bundle = identity.public + primary_identity_public + adv_random
    wrapped = salt + nonce + aes_gcm_encrypt(_bundle_key(ephemeral_shared, salt), nonce, bundle)
    return CompanionFinish(
        wrapped_key_bundle=wrapped,
        companion_identity_public=identity.public,
        adv_secret=derive_adv_secret(ephemeral_shared, identity_shared, adv_random),
    )
