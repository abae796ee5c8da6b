"""The pairing QR string the companion shows (the phone's reading of it is the emulator's,
whatsapp/testing/phone_adv.py).

See docs/protocol.md §Pairing by QR.

Current format (Baileys 7, whatsmeow since May 2026):
    https://wa.me/settings/linked_devices#<ref>,<b64 noise pub>,<b64 identity pub>,<b64 adv secret>,<client type>
The ref is the server's `<ref>` content as UTF-8; keys are raw 32 bytes in standard padded base64. (Phones also
read the older bare form `ref,noise,identity,adv` without the client type, which Baileys 6 still shows.)
"""

from __future__ import annotations

import base64
import re

from whatsapp.creds import Credentials
from whatsapp.errors import PairingError
from whatsapp.keys import KEY_LENGTH

QR_URL_PREFIX = "https://wa.me/settings/linked_devices#"
ADV_SECRET_LENGTH = 32
# 0-9 are web client types, "c" macOS and "e" Android (whatsmeow's PairClient* constants).
_CLIENT_TYPE_RE = re.compile(r"[0-9a-z]")


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
