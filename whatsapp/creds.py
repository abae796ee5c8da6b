"""The device credentials: everything generated before the first connect plus what pairing adds.

`Credentials.to_dict()` gives a flat record of str/int/bool/bytes/None values; the storage
drivers decide how bytes are written (base64 in JSON files, BSON Binary in MongoDB).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from whatsapp import xeddsa
from whatsapp.errors import DecodeError
from whatsapp.keys import KeyPair, generate_registration_id, prefixed

CREDS_SCHEMA_VERSION = 1


@dataclass(slots=True)
class SignedPreKey:
    key_id: int
    key_pair: KeyPair
    signature: bytes

    @classmethod
    def generate(cls, identity: KeyPair, key_id: int) -> SignedPreKey:
        key_pair = KeyPair.generate()
        # The signed message is the 33-byte prefixed public key, as libsignal does it.
        signature = xeddsa.sign(identity.private, prefixed(key_pair.public))
        return cls(key_id=key_id, key_pair=key_pair, signature=signature)


@dataclass(frozen=True, slots=True)
class RetiredSignedPreKey:
    """A signed prekey replaced by a rotation, kept (whatsapp/spk_rotation.py: the grace period) because
    peers that fetched our bundle before the rotation still build sessions on it."""

    key: SignedPreKey
    retired_at: int  # unix seconds

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.key.key_id, "key": self.key.key_pair.to_bytes(), "signature": self.key.signature,
                "retired_at": self.retired_at}

    @classmethod
    def from_dict(cls, data: Any) -> RetiredSignedPreKey:
        if not isinstance(data, dict):
            raise DecodeError("credentials field 'retired_signed_prekeys' holds a non-record")
        key_id, pair, signature, retired = (data.get(k) for k in ("id", "key", "signature", "retired_at"))
        if not (isinstance(key_id, int) and isinstance(pair, bytes) and isinstance(signature, bytes)
                and isinstance(retired, int)):
            raise DecodeError("credentials field 'retired_signed_prekeys' holds a malformed key")
        return cls(SignedPreKey(key_id, KeyPair.from_bytes(pair), signature), retired)


@dataclass(slots=True)
class Credentials:
    noise_key: KeyPair
    identity_key: KeyPair
    signed_prekey: SignedPreKey
    registration_id: int
    adv_secret_key: bytes
    # Filled by pairing (pair-success); None on a device that never paired.
    me_id: str | None = None  # our PN device JID, "15551234567:12@s.whatsapp.net"
    me_lid: str | None = None  # our LID device JID, "123456789:12@lid"
    account: bytes | None = None  # ADVSignedDeviceIdentity incl. accountSignatureKey
    platform: str | None = None
    business_name: str | None = None
    push_name: str | None = None
    # Prekey bookkeeping: ids are 24-bit, monotonic, never reused.
    next_prekey_id: int = 1
    first_unuploaded_prekey_id: int = 1
    routing_info: bytes | None = None
    # Signed-prekey rotation (whatsapp/spk_rotation.py): when the current one was made (0: unknown, from
    # before rotation existed), whether the server confirmed it, and the replaced ones still in their grace.
    signed_prekey_created: int = 0
    signed_prekey_uploaded: bool = True
    retired_signed_prekeys: tuple[RetiredSignedPreKey, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Credentials(me_id={self.me_id!r}, me_lid={self.me_lid!r}, registration_id={self.registration_id})"

    @property
    def paired(self) -> bool:
        return self.me_id is not None and self.account is not None

    def signed_prekey_pair(self, key_id: int) -> KeyPair | None:
        """The signed prekey a pkmsg names: the current one, or one retired and still in its grace period."""
        if self.signed_prekey.key_id == key_id:
            return self.signed_prekey.key_pair
        return next((r.key.key_pair for r in self.retired_signed_prekeys if r.key.key_id == key_id), None)

    @classmethod
    def generate(cls) -> Credentials:
        identity = KeyPair.generate()
        return cls(
            noise_key=KeyPair.generate(),
            identity_key=identity,
            signed_prekey=SignedPreKey.generate(identity, key_id=1),
            registration_id=generate_registration_id(),
            adv_secret_key=os.urandom(32),
            signed_prekey_created=int(time.time()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CREDS_SCHEMA_VERSION,
            "noise_key": self.noise_key.to_bytes(),
            "identity_key": self.identity_key.to_bytes(),
            "signed_prekey_id": self.signed_prekey.key_id,
            "signed_prekey": self.signed_prekey.key_pair.to_bytes(),
            "signed_prekey_signature": self.signed_prekey.signature,
            "registration_id": self.registration_id,
            "adv_secret_key": self.adv_secret_key,
            "me_id": self.me_id,
            "me_lid": self.me_lid,
            "account": self.account,
            "platform": self.platform,
            "business_name": self.business_name,
            "push_name": self.push_name,
            "next_prekey_id": self.next_prekey_id,
            "first_unuploaded_prekey_id": self.first_unuploaded_prekey_id,
            "routing_info": self.routing_info,
            "signed_prekey_created": self.signed_prekey_created,
            "signed_prekey_uploaded": self.signed_prekey_uploaded,
            "retired_signed_prekeys": [r.to_dict() for r in self.retired_signed_prekeys],
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Credentials:
        """Rebuild credentials from `to_dict()` output; raises DecodeError naming the bad field."""
        schema = data.get("schema")
        if schema != CREDS_SCHEMA_VERSION:
            raise DecodeError(f"credentials schema {schema!r} is not supported (expected {CREDS_SCHEMA_VERSION})")

        def need(name: str, kind: type) -> Any:
            value = data.get(name)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
                raise DecodeError(f"credentials field {name!r} is missing or not {kind.__name__}")
            return value

        def maybe(name: str, kind: type) -> Any:
            value = data.get(name)
            if value is not None and not isinstance(value, kind):
                raise DecodeError(f"credentials field {name!r} is not {kind.__name__}")
            return value

        try:
            return cls(
                noise_key=KeyPair.from_bytes(need("noise_key", bytes)),
                identity_key=KeyPair.from_bytes(need("identity_key", bytes)),
                signed_prekey=SignedPreKey(
                    key_id=need("signed_prekey_id", int),
                    key_pair=KeyPair.from_bytes(need("signed_prekey", bytes)),
                    signature=need("signed_prekey_signature", bytes),
                ),
                registration_id=need("registration_id", int),
                adv_secret_key=need("adv_secret_key", bytes),
                me_id=maybe("me_id", str),
                me_lid=maybe("me_lid", str),
                account=maybe("account", bytes),
                platform=maybe("platform", str),
                business_name=maybe("business_name", str),
                push_name=maybe("push_name", str),
                next_prekey_id=need("next_prekey_id", int),
                first_unuploaded_prekey_id=need("first_unuploaded_prekey_id", int),
                routing_info=maybe("routing_info", bytes),
                signed_prekey_created=maybe("signed_prekey_created", int) or 0,
                signed_prekey_uploaded=maybe("signed_prekey_uploaded", bool) is not False,
                retired_signed_prekeys=tuple(
                    RetiredSignedPreKey.from_dict(r) for r in maybe("retired_signed_prekeys", list) or []
                ),
                extra=dict(maybe("extra", dict) or {}),
            )
        except DecodeError:
            raise
        except Exception as exc:  # a key of the wrong length and the like
            raise DecodeError(f"credentials are malformed: {exc}") from exc
