"""Curve25519 key pairs and the 0x05 "DJB" type prefix.

Inside Signal messages public keys travel as 33 bytes (0x05 || key); in WhatsApp stanzas,
pairing and the QR they travel raw (32 bytes). These helpers convert between the two.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from whatsapp.errors import CryptoError

DJB_TYPE = 0x05
KEY_LENGTH = 32


def clamp(private_key: bytes) -> bytes:
    """Clamp a Curve25519 scalar the way libsignal stores private keys."""
    k = bytearray(private_key)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return bytes(k)


def prefixed(public_key: bytes) -> bytes:
    """Raw 32-byte key -> 33-byte 0x05-prefixed key (an already prefixed key is returned as is)."""
    if len(public_key) == KEY_LENGTH + 1 and public_key[0] == DJB_TYPE:
        return public_key
    if len(public_key) != KEY_LENGTH:
        raise CryptoError(f"public key must be 32 bytes, got {len(public_key)}")
    return bytes([DJB_TYPE]) + public_key


def strip_prefix(public_key: bytes) -> bytes:
    """33-byte 0x05-prefixed key (or a raw 32-byte one) -> raw 32-byte key."""
    if len(public_key) == KEY_LENGTH:
        return public_key
    if len(public_key) == KEY_LENGTH + 1:
        if public_key[0] != DJB_TYPE:
            raise CryptoError(f"unknown public key type 0x{public_key[0]:02x} (expected 0x05)")
        return public_key[1:]
    raise CryptoError(f"public key must be 32 or 33 bytes, got {len(public_key)}")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An X25519 key pair; `private` is the clamped 32-byte scalar, `public` the raw 32-byte key."""

    private: bytes
    public: bytes

    def __repr__(self) -> str:  # never print private keys, even in debug logs
        return f"KeyPair(public={self.public.hex()[:16]}…)"

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_private(os.urandom(KEY_LENGTH))

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        if len(private) != KEY_LENGTH:
            raise CryptoError(f"private key must be 32 bytes, got {len(private)}")
        private = clamp(private)
        public = X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
        return cls(private=private, public=public)

    def shared_secret(self, their_public: bytes) -> bytes:
        """X25519 Diffie-Hellman; accepts a raw or 0x05-prefixed public key."""
        peer = X25519PublicKey.from_public_bytes(strip_prefix(their_public))
        try:
            return X25519PrivateKey.from_private_bytes(self.private).exchange(peer)
        except ValueError:  # all-zero output: a small-order point
            raise CryptoError("X25519 produced an all-zero shared secret (invalid peer key)") from None

    def to_bytes(self) -> bytes:
        """private || public, the storage form of a key pair."""
        return self.private + self.public

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyPair:
        if len(data) != 2 * KEY_LENGTH:
            raise CryptoError(f"stored key pair must be 64 bytes, got {len(data)}")
        pair = cls.from_private(data[:KEY_LENGTH])
        if pair.public != data[KEY_LENGTH:]:
            raise CryptoError("stored key pair: public key does not match the private key")
        return pair


def generate_registration_id() -> int:
    """A 14-bit registration id, as Baileys and the WA Web client generate it (never 0)."""
    return secrets.randbelow(0x3FFF) + 1
