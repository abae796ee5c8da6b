"""The pairing QR string (what the companion shows) and its parser (what the phone does when it scans it).

Current format (Baileys 7, whatsmeow since May 2026):
    https://wa.me/settings/linked_devices#<ref>,<b64 noise pub>,<b64 identity pub>,<b64 adv secret>,<client type>
The ref is the server's `<ref>` content as UTF-8; keys are raw 32 bytes in standard padded base64. The older
bare form `ref,noise,identity,adv` is still parsed (client type None), since phones accepted it for years.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from whatsapp.creds import Credentials
from whatsapp.errors import PairingError
from whatsapp.keys import KEY_LENGTH

QR_URL_PREFIX = "https://wa.me/settings/linked_devices#"
ADV_SECRET_LENGTH = 32
# 0-9 are web client types, "c" macOS and "e" Android (whatsmeow's PairClient* constants).
_CLIENT_TYPE_RE = re.compile(r"[0-9a-z]")


@dataclass(frozen=True, slots=True)
class QRData:
    ref: str
    noise_public: bytes
    identity_public: bytes
    adv_secret: bytes
    client_type: str | None  # None for the legacy four-field form

    def __repr__(self) -> str:  # the adv secret authenticates pair-success: keep it out of logs
        return f"QRData(ref={self.ref[:12]!r}…, client_type={self.client_type!r})"


def _check_ref(ref: str) -> None:
    if not ref or "," in ref:
        raise PairingError(f"QR ref must be non-empty and contain no comma, got {ref!r}")


def build_qr(ref: str | bytes, noise_public: bytes, identity_public: bytes, adv_secret: bytes, client_type: str) -> str:
    """The QR text for one server ref. `client_type` is e.g. `DeviceConfig.web_client_type` ("1" Chrome)."""
    if isinstance(ref, bytes):
        try:
            ref = ref.decode("utf-8")
        except UnicodeDecodeError:
            raise PairingError("QR ref from the server is not UTF-8") from None
    _check_ref(ref)
    for name, key in (("noise", noise_public), ("identity", identity_public)):
        if len(key) != KEY_LENGTH:
            raise PairingError(f"QR {name} public key must be {KEY_LENGTH} bytes, got {len(key)}")
    if len(adv_secret) != ADV_SECRET_LENGTH:
        raise PairingError(f"QR adv secret must be {ADV_SECRET_LENGTH} bytes, got {len(adv_secret)}")
    if not _CLIENT_TYPE_RE.fullmatch(client_type):
        raise PairingError(f"QR client type must be one character 0-9/a-z, got {client_type!r}")
    fields = [ref, *(base64.b64encode(k).decode() for k in (noise_public, identity_public, adv_secret)), client_type]
    return QR_URL_PREFIX + ",".join(fields)


def qr_for_credentials(ref: str | bytes, creds: Credentials, client_type: str) -> str:
    return build_qr(ref, creds.noise_key.public, creds.identity_key.public, creds.adv_secret_key, client_type)


def _b64_field(text: str, name: str, length: int) -> bytes:
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PairingError(f"QR {name} field is not valid base64") from None
    if len(value) != length:
        raise PairingError(f"QR {name} field must decode to {length} bytes, got {len(value)}")
    return value


def parse_qr(text: str) -> QRData:
    """Parse a scanned QR string; raises PairingError on anything that is not a well-formed pairing QR."""
    if not isinstance(text, str):
        raise PairingError(f"QR data must be a string, got {type(text).__name__}")
    text = text.strip()
    body = text[len(QR_URL_PREFIX) :] if text.startswith(QR_URL_PREFIX) else text
    fields = body.split(",")
    if text.startswith(QR_URL_PREFIX):
        if len(fields) != 5:
            raise PairingError(f"QR string must have 5 comma-separated fields after the URL, got {len(fields)}")
    elif len(fields) != 4:
        raise PairingError("QR string is neither the linked_devices URL form nor the legacy 4-field form")
    ref = fields[0]
    _check_ref(ref)
    client_type = fields[4] if len(fields) == 5 else None
    if client_type is not None and not _CLIENT_TYPE_RE.fullmatch(client_type):
        raise PairingError(f"QR client type must be one character 0-9/a-z, got {client_type!r}")
    return QRData(
        ref=ref,
        noise_public=_b64_field(fields[1], "noise key", KEY_LENGTH),
        identity_public=_b64_field(fields[2], "identity key", KEY_LENGTH),
        adv_secret=_b64_field(fields[3], "adv secret", ADV_SECRET_LENGTH),
        client_type=client_type,
    )
