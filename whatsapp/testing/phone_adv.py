"""The phone's half of linking a companion by QR: reading the QR, issuing and checking ADV identities.

Written from docs/protocol.md §Pairing by QR and §ADV and the protobufs in `whatsapp/proto/adv.proto`
(the companion's checks are whatsmeow `pair.go` handlePair and Baileys `src/Utils/validate-connection.ts`
configureSuccessfulPairing), independent of the companion side in `whatsapp/qr.py` and `whatsapp/adv.py`,
so a misreading shared by both halves of one codebase cannot make pairing pass:

- QR: `https://wa.me/settings/linked_devices#ref,noise,identity,adv[,client type]` — standard base64 of the
  raw 32-byte keys; the older form without the URL and the client type is still read, as phones do.
- The phone issues `ADVDeviceIdentity{rawID, timestamp, keyIndex}` and signs `06 00 ‖ details ‖ companion
  identity` with the account identity key (`06 05` for hosted accounts); the signed record is wrapped in
  `ADVSignedDeviceIdentityHMAC`, the HMAC-SHA256 keyed by the QR's adv secret (over `06 05 ‖ details` when
  hosted).
- The companion answers `<pair-device-sign>` with the signed record, its `deviceSignature` over
  `06 01 ‖ details ‖ companion identity ‖ account key` and without the account signature key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from whatsapp import xeddsa
from whatsapp.errors import PairingError
from whatsapp.keys import KeyPair
from whatsapp.proto import adv_pb2

QR_PREFIX = "https://wa.me/settings/linked_devices#"
ACCOUNT_PREFIX = b"\x06\x00"
DEVICE_PREFIX = b"\x06\x01"
HOSTED_PREFIX = b"\x06\x05"


@dataclass(frozen=True, slots=True)
class ScannedQR:
    ref: str
    noise_public: bytes
    identity_public: bytes
    adv_secret: bytes
    client_type: str | None  # None in the older four-field form

    def __repr__(self) -> str:
        return f"ScannedQR(ref={self.ref[:12]!r}…)"


def _key_field(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PairingError(f"QR {what}: not base64") from None
    if len(raw) != 32:
        raise PairingError(f"QR {what}: {len(raw)} bytes, a key is 32")
    return raw


def read_qr(text: str) -> ScannedQR:
    """What the phone's camera reads; PairingError for anything that is not a companion's pairing QR."""
    if not isinstance(text, str):
        raise PairingError(f"a QR holds text, not {type(text).__name__}")
    text = text.strip()
    url = text.startswith(QR_PREFIX)
    parts = (text[len(QR_PREFIX):] if url else text).split(",")
    if len(parts) != (5 if url else 4):
        raise PairingError(f"QR has {len(parts)} fields; the pairing URL has 5, the older form 4")
    if not parts[0]:
        raise PairingError("QR ref is empty")
    client_type = parts[4] if url else None
    if client_type is not None and (len(client_type) != 1 or not (client_type.isdigit() or client_type.islower())):
        raise PairingError(f"QR client type {client_type!r} is not one character")
    return ScannedQR(parts[0], _key_field(parts[1], "noise key"), _key_field(parts[2], "identity key"),
                     _key_field(parts[3], "adv secret"), client_type)


@dataclass(frozen=True, slots=True)
class IssuedIdentity:
    device_identity: bytes  # pair-success's <device-identity>: the ADVSignedDeviceIdentityHMAC
    details: bytes  # the ADVDeviceIdentity the companion must sign back unchanged
    signed_identity: bytes  # the ADVSignedDeviceIdentity inside the HMAC wrapper
    key_index: int


def issue_identity(account: KeyPair, companion_identity: bytes, adv_secret: bytes, *, raw_id: int,
                   key_index: int, timestamp: int | None = None, hosted: bool = False) -> IssuedIdentity:
    """The phone accepts a companion: its device identity, signed with the account key and HMAC-wrapped."""
    if len(companion_identity) != 32:
        raise PairingError(f"companion identity key is {len(companion_identity)} bytes, not 32")
    details = adv_pb2.ADVDeviceIdentity(rawID=raw_id, keyIndex=key_index,
                                        timestamp=int(time.time()) if timestamp is None else timestamp)
    if hosted:
        details.accountType = adv_pb2.HOSTED
        details.deviceType = adv_pb2.HOSTED
    details_bytes = details.SerializeToString()
    prefix = HOSTED_PREFIX if hosted else ACCOUNT_PREFIX
    signed = adv_pb2.ADVSignedDeviceIdentity(
        details=details_bytes, accountSignatureKey=account.public,
        accountSignature=xeddsa.sign(account.private, prefix + details_bytes + companion_identity),
    ).SerializeToString()
    mac = hmac.new(adv_secret, (HOSTED_PREFIX if hosted else b"") + signed, hashlib.sha256).digest()
    wrapper = adv_pb2.ADVSignedDeviceIdentityHMAC(details=signed, HMAC=mac)
    if hosted:
        wrapper.accountType = adv_pb2.HOSTED
    return IssuedIdentity(wrapper.SerializeToString(), details_bytes, signed, key_index)


def check_device_signature(reply_identity: bytes, account_public: bytes, companion_identity: bytes,
                           issued_details: bytes | None = None) -> adv_pb2.ADVSignedDeviceIdentity:
    """The companion's `<pair-device-sign>` identity: the details the phone issued, signed by the companion."""
    signed = adv_pb2.ADVSignedDeviceIdentity()
    try:
        signed.ParseFromString(reply_identity)
    except ProtobufDecodeError as exc:
        raise PairingError(f"pair-device-sign identity does not parse: {exc}") from None
    if issued_details is not None and not hmac.compare_digest(signed.details, issued_details):
        raise PairingError("pair-device-sign carries different device details than the phone issued")
    if len(signed.deviceSignature) != 64:
        raise PairingError("pair-device-sign has no 64-byte device signature")
    message = DEVICE_PREFIX + signed.details + companion_identity + account_public
    if not xeddsa.verify(companion_identity, message, signed.deviceSignature):
        raise PairingError("the companion's device signature does not verify")
    return signed
