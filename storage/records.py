"""How records are written: tagged JSON for bytes, checksummed files, and AES-GCM sealing at rest.

Both copies (folder and MongoDB) seal each record with a key derived from SESSION_ENCRYPTION_KEY
by scrypt (salt stored next to the data) and bind the record's identity (session, kind, type, id)
into the AES-GCM associated data, so a sealed record copied over another one fails to open.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from storage.errors import CorruptSessionError, WrongEncryptionKeyError
from whatsapp.cipher import aes_gcm_decrypt, aes_gcm_encrypt, hkdf_sha256, sha256
from whatsapp.errors import CryptoError

SCHEMA_VERSION = 1
NONCE_LENGTH = 12
KEY_CHECK_PLAINTEXT = b"whatsapp-session key check v1"
# scrypt cost: ~50 ms and 16 MB once per process and salt (cached); stored with the salt so it can grow later.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


# ---- bytes in JSON: one explicit, versioned encoding ({"$b": base64}) ----


def to_json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def from_json_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b"} and isinstance(value["$b"], str):
            return base64.b64decode(value["$b"], validate=True)
        return {k: from_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json_value(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def dump_checked(body: dict[str, Any]) -> bytes:
    """A JSON file whose body carries a SHA-256, so bit rot or a hand edit is caught on load."""
    encoded = canonical_json(body)
    return b'{"sha256":"' + sha256(encoded).hex().encode() + b'","body":' + encoded + b"}\n"


def load_checked(data: bytes, where: str) -> dict[str, Any]:
    try:
        outer = json.loads(data)
        body = outer["body"]
        digest = outer["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptSessionError(
            f"{where} is not a valid session file ({exc.__class__.__name__}: {exc}); restore it from MongoDB or a "
            "backup (import_session), or remove the session folder to pair anew"
        ) from None
    if not isinstance(body, dict) or sha256(canonical_json(body)).hex() != digest:
        raise CorruptSessionError(
            f"{where} fails its checksum (the file was damaged or edited); restore it from MongoDB or a backup "
            "(import_session), or remove the session folder to pair anew"
        )
    return body


# ---- encryption at rest ----


# Bounds on scrypt parameters read from a stored header: a damaged or forged header must not make the
# process allocate gigabytes (128 * n * r bytes) or compute for minutes before the key check can fail.
SCRYPT_MAX_N, SCRYPT_MAX_R, SCRYPT_MAX_P = 2**20, 32, 16
SCRYPT_MAX_MEMORY = 256 * 2**20
SCRYPT_MAX_WORK = 2**22  # n * r * p; today's cost is 2**17
SALT_LENGTHS = range(8, 65)


def check_scrypt_params(salt: bytes, n: int, r: int, p: int, where: str) -> None:
    """Refuse absurd stored KDF parameters before computing anything (CorruptSessionError naming `where`)."""
    sane = (
        2 <= n <= SCRYPT_MAX_N
        and n & (n - 1) == 0
        and 1 <= r <= SCRYPT_MAX_R
        and 1 <= p <= SCRYPT_MAX_P
        and 128 * n * r <= SCRYPT_MAX_MEMORY
        and n * r * p <= SCRYPT_MAX_WORK
        and len(salt) in SALT_LENGTHS
    )
    if not sane:
        raise CorruptSessionError(
            f"{where}: the encryption header asks for scrypt n={n} r={r} p={p} with a {len(salt)}-byte salt, outside "
            f"what this store writes or accepts (n a power of 2 up to 2^20, r up to {SCRYPT_MAX_R}, p up to "
            f"{SCRYPT_MAX_P}, at most {SCRYPT_MAX_MEMORY >> 20} MiB); the header is damaged or was not written here"
        )


@lru_cache(maxsize=16)
def _derive_master(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def record_ad(session_id: str, *parts: str) -> bytes:
    """Associated data naming a record, so sealed records cannot be swapped between slots or sessions."""
    return "\x00".join(("wa-session-v1", session_id, *parts)).encode()


@dataclass(frozen=True)
class Sealer:
    """AES-256-GCM with a key derived from the passphrase and this copy's salt."""

    key: bytes
    salt: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def __repr__(self) -> str:  # never print the key
        return f"Sealer(salt={self.salt.hex()[:8]}…)"

    @classmethod
    def create(cls, passphrase: str, salt: bytes | None = None) -> Sealer:
        """A sealer with today's scrypt cost, for a new copy (a fresh salt unless one is given)."""
        return cls.derive(passphrase, salt or os.urandom(16), SCRYPT_N, SCRYPT_R, SCRYPT_P)

    @classmethod
    def derive(cls, passphrase: str, salt: bytes, n: int, r: int, p: int, where: str = "encryption header") -> Sealer:
        """The sealer of an existing copy, from the scrypt parameters stored with it (bounded first)."""
        check_scrypt_params(salt, n, r, p, where)
        master = _derive_master(passphrase, salt, n, r, p)
        return cls(key=hkdf_sha256(master, 32, info=b"whatsapp-session records"), salt=salt, n=n, r=r, p=p)

    @classmethod
    def from_info(cls, passphrase: str | None, info: dict[str, Any], where: str) -> Sealer:
        """Open a copy's encryption header; a wrong or missing passphrase raises WrongEncryptionKeyError."""
        if not passphrase:
            raise WrongEncryptionKeyError(
                f"{where} is encrypted but SESSION_ENCRYPTION_KEY is not set; set it to the key the session was "
                "saved with (nothing was changed)"
            )
        try:
            salt, n, r, p = bytes(info["salt"]), int(info["n"]), int(info["r"]), int(info["p"])
            sealer = cls.derive(passphrase, salt, n, r, p, where)
            check = bytes(info["check"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptSessionError(f"{where}: the encryption header is malformed ({exc})") from None
        try:
            plaintext = aes_gcm_decrypt(sealer.key, check[:NONCE_LENGTH], check[NONCE_LENGTH:], b"key-check")
        except CryptoError:
            plaintext = None
        if plaintext != KEY_CHECK_PLAINTEXT:
            raise WrongEncryptionKeyError(
                f"SESSION_ENCRYPTION_KEY does not open {where} (wrong key); set the key the session was saved with "
                "(nothing was changed)"
            )
        return sealer

    def info(self) -> dict[str, Any]:
        """The header stored next to the data: scrypt parameters, salt and a key-check value."""
        check = self.seal(KEY_CHECK_PLAINTEXT, b"key-check")
        return {"kdf": "scrypt", "n": self.n, "r": self.r, "p": self.p, "salt": self.salt, "check": check}

    def seal(self, plaintext: bytes, ad: bytes) -> bytes:
        nonce = os.urandom(NONCE_LENGTH)
        return nonce + aes_gcm_encrypt(self.key, nonce, plaintext, ad)

    def open(self, blob: bytes, ad: bytes, where: str) -> bytes:
        try:
            return aes_gcm_decrypt(self.key, blob[:NONCE_LENGTH], blob[NONCE_LENGTH:], ad)
        except CryptoError:
            raise CorruptSessionError(
                f"{where} does not decrypt although the key is right (damaged, or moved from another record or "
                "session); restore it from MongoDB or a backup"
            ) from None


def creds_to_bytes(creds_dict: dict[str, Any]) -> bytes:
    return canonical_json(to_json_value(creds_dict))


def creds_from_bytes(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = from_json_value(json.loads(data))
    except ValueError as exc:
        raise CorruptSessionError(f"{where}: the credentials record is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CorruptSessionError(f"{where}: the credentials record is not an object")
    return value
