"""The phone's half of "link with phone number" (docs/protocol.md §Pairing code).

Written from that description and from Baileys `src/Socket/socket.ts` (requestPairingCode) and whatsmeow
`pair-code.go`, which implement the companion's half the phone must match; independent of the companion
code in `whatsapp/pair_code.py`, using `cryptography` directly:

- the typed code unwraps the companion's ephemeral key: `salt(32) ‖ iv(16) ‖ AES-256-CTR(key, iv, pub)` with
  `key = PBKDF2-HMAC-SHA256(code, salt, 2^17 rounds)`; the phone wraps its own ephemeral the same way;
- the companion's key bundle is `salt(32) ‖ nonce(12) ‖ AES-256-GCM(HKDF(DH(ephemerals), salt,
  "link_code_pairing_key_bundle_encryption_key"), nonce, companion identity ‖ primary identity ‖ random(32))`;
- both derive the adv secret as `HKDF(DH(ephemerals) ‖ DH(identities) ‖ random, info "adv_secret")`.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from whatsapp.errors import PairingError
from whatsapp.keys import KeyPair

ROUNDS = 1 << 17
BUNDLE_INFO = b"link_code_pairing_key_bundle_encryption_key"
ADV_INFO = b"adv_secret"
CODE_CHARACTERS = frozenset("123456789ABCDEFGHJKLMNPQRSTVWXYZ")


def _code_key(code: str, salt: bytes) -> bytes:
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=ROUNDS).derive(code.encode())


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    worker = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return worker.update(data) + worker.finalize()


def _hkdf(material: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(material)


def _dh(private: bytes, public: bytes) -> bytes:
    try:
        return X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError as exc:
        raise PairingError(f"pairing-code key agreement failed: {exc}") from None


def typed_code(text: str) -> str:
    """What the user typed, as the phone reads it: dashes and spaces ignored, case folded."""
    code = "".join(ch for ch in text.upper() if ch not in "- ")
    if len(code) != 8 or not set(code) <= CODE_CHARACTERS:
        raise PairingError(f"a pairing code is 8 characters of {''.join(sorted(CODE_CHARACTERS))}")
    return code


@dataclass(frozen=True, slots=True)
class PrimaryHello:
    companion_ephemeral_public: bytes
    ephemeral: KeyPair  # the phone's pairing ephemeral
    wrapped_ephemeral: bytes  # <link_code_pairing_wrapped_primary_ephemeral_pub>

    def __repr__(self) -> str:
        return "PrimaryHello(…)"


def primary_hello(code: str, wrapped_companion_ephemeral: bytes, *, ephemeral: KeyPair | None = None,
                  salt: bytes | None = None, iv: bytes | None = None) -> PrimaryHello:
    """The code was typed: recover the companion's ephemeral (a wrong code gives a wrong key, which only the
    bundle later reveals: CTR has no integrity), and wrap the phone's own."""
    code = typed_code(code)
    if len(wrapped_companion_ephemeral) != 80:
        raise PairingError(f"wrapped companion ephemeral is {len(wrapped_companion_ephemeral)} bytes, not 80")
    their_salt, their_iv, sealed = (wrapped_companion_ephemeral[:32], wrapped_companion_ephemeral[32:48],
                                    wrapped_companion_ephemeral[48:])
    companion_public = _ctr(_code_key(code, their_salt), their_iv, sealed)
    ephemeral = ephemeral or KeyPair.generate()
    salt = salt if salt is not None else os.urandom(32)
    iv = iv if iv is not None else os.urandom(16)
    wrapped = salt + iv + _ctr(_code_key(code, salt), iv, ephemeral.public)
    return PrimaryHello(companion_public, ephemeral, wrapped)


def primary_finish(hello: PrimaryHello, primary_identity: KeyPair, wrapped_key_bundle: bytes,
                   companion_identity_public: bytes) -> bytes:
    """Open and check the companion's key bundle; the adv secret both now share (PairingError otherwise)."""
    if len(wrapped_key_bundle) != 32 + 12 + 96 + 16:
        raise PairingError(f"wrapped key bundle is {len(wrapped_key_bundle)} bytes, not 156")
    if len(companion_identity_public) != 32:
        raise PairingError(f"companion identity key is {len(companion_identity_public)} bytes, not 32")
    ephemeral_shared = _dh(hello.ephemeral.private, hello.companion_ephemeral_public)
    salt, nonce, sealed = wrapped_key_bundle[:32], wrapped_key_bundle[32:44], wrapped_key_bundle[44:]
    try:
        bundle = AESGCM(_hkdf(ephemeral_shared, salt=salt, info=BUNDLE_INFO)).decrypt(nonce, sealed, None)
    except InvalidTag:
        raise PairingError("key bundle does not decrypt: wrong pairing code or tampered bundle") from None
    if not hmac.compare_digest(bundle[:32], companion_identity_public):
        raise PairingError("key bundle names a different companion identity key than companion_identity_public")
    if not hmac.compare_digest(bundle[32:64], primary_identity.public):
        raise PairingError("key bundle names a different primary identity key than the phone's")
    identity_shared = _dh(primary_identity.private, companion_identity_public)
    return _hkdf(ephemeral_shared + identity_shared + bundle[64:], salt=None, info=ADV_INFO)
