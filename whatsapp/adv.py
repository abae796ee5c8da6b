"""ADV (account/device identity) records of pair-success, the companion's side (docs/protocol.md §ADV).

Companion side: `verify_pair_success` checks what the server relays from the phone (the HMAC keyed by our adv
secret, then the phone's account signature over our identity key) and produces our device signature plus the
`<pair-device-sign>` reply bytes. Unlike Baileys (whose Curve.verify accepts anything) the account signature is
checked for real.

The phone's side (issuing the identity, checking our device signature) is the emulator's, written
independently in whatsapp/testing/phone_adv.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from whatsapp import xeddsa
from whatsapp.cipher import constant_time_equal, hmac_sha256
from whatsapp.errors import CryptoError, PairingError
from whatsapp.keys import KeyPair, strip_prefix
from whatsapp.proto import adv_pb2

ACCOUNT_SIGNATURE_PREFIX = b"\x06\x00"
DEVICE_SIGNATURE_PREFIX = b"\x06\x01"
HOSTED_ACCOUNT_SIGNATURE_PREFIX = b"\x06\x05"
# Defined by WhatsApp for hosted devices but used by neither reference client: device signatures use 06 01.
HOSTED_DEVICE_SIGNATURE_PREFIX = b"\x06\x06"

E2EE = adv_pb2.E2EE
HOSTED = adv_pb2.HOSTED

_M = TypeVar("_M", bound=Message)


class ADVVerificationError(PairingError):
    """A pair-success check failed. `check` names it; `error_text` is what to send back in the 401 IQ error."""

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        self.error_code = 401
        self.error_text = {"hmac": "hmac-mismatch", "account-signature": "signature-mismatch"}.get(check, "bad-request")
        super().__init__(message)


def _parse(message: _M, data: bytes, what: str) -> _M:
    try:
        message.ParseFromString(data)
    except ProtobufDecodeError as exc:
        raise ADVVerificationError("decode", f"{what} is not a valid protobuf: {exc}") from None
    return message


def identity_hmac(adv_secret: bytes, signed_identity: bytes, account_type: int = E2EE) -> bytes:
    prefix = HOSTED_ACCOUNT_SIGNATURE_PREFIX if account_type == HOSTED else b""
    return hmac_sha256(adv_secret, prefix + signed_identity)


def account_signature_message(device_details: bytes, companion_identity_public: bytes, device_type: int) -> bytes:
    prefix = HOSTED_ACCOUNT_SIGNATURE_PREFIX if device_type == HOSTED else ACCOUNT_SIGNATURE_PREFIX
    return prefix + device_details + companion_identity_public


def device_signature_message(device_details: bytes, companion_identity_public: bytes, account_public: bytes) -> bytes:
    return DEVICE_SIGNATURE_PREFIX + device_details + companion_identity_public + account_public


def encode_signed_identity(signed: adv_pb2.ADVSignedDeviceIdentity, include_signature_key: bool) -> bytes:
    """Serialize, dropping accountSignatureKey when asked (the pair-device-sign reply never carries it), or
    when it is empty, as Baileys' encodeSignedDeviceIdentity does."""
    copy = adv_pb2.ADVSignedDeviceIdentity()
    copy.CopyFrom(signed)
    if not include_signature_key or not copy.accountSignatureKey:
        copy.ClearField("accountSignatureKey")
    return copy.SerializeToString()


# --- companion side -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairSuccess:
    account: bytes  # ADVSignedDeviceIdentity incl. accountSignatureKey and our deviceSignature (Credentials.account)
    account_signature_key: bytes  # the phone's identity public key (trust it as the primary device's identity)
    key_index: int
    raw_id: int
    timestamp: int
    account_type: int  # ADVEncryptionType of the HMAC wrapper
    device_type: int  # ADVEncryptionType from ADVDeviceIdentity
    reply_identity: bytes  # content of <pair-device-sign><device-identity key-index=...>

    def __repr__(self) -> str:
        return f"PairSuccess(key_index={self.key_index}, raw_id={self.raw_id})"


def verify_pair_success(device_identity: bytes, adv_secret: bytes, identity: KeyPair) -> PairSuccess:
    """Check pair-success's `<device-identity>` bytes and sign our device identity.

    Raises ADVVerificationError (a PairingError) with `.check` = "decode", "hmac" or "account-signature".
    """
    wrapper = _parse(adv_pb2.ADVSignedDeviceIdentityHMAC(), device_identity, "ADVSignedDeviceIdentityHMAC")
    if not wrapper.details or not wrapper.HMAC:
        raise ADVVerificationError("decode", "ADVSignedDeviceIdentityHMAC lacks details or HMAC")
    expected = identity_hmac(adv_secret, wrapper.details, wrapper.accountType)
    if not constant_time_equal(expected, wrapper.HMAC):
        raise ADVVerificationError("hmac", "pair-success HMAC does not match our adv secret")

    signed = _parse(adv_pb2.ADVSignedDeviceIdentity(), wrapper.details, "ADVSignedDeviceIdentity")
    try:
        account_public = strip_prefix(signed.accountSignatureKey)
    except CryptoError:
        raise ADVVerificationError(
            "decode", f"accountSignatureKey must be a 32-byte key, got {len(signed.accountSignatureKey)} bytes"
        ) from None
    if len(signed.accountSignature) != 64:
        raise ADVVerificationError("decode", f"accountSignature must be 64 bytes, got {len(signed.accountSignature)}")
    device = _parse(adv_pb2.ADVDeviceIdentity(), signed.details, "ADVDeviceIdentity")

    message = account_signature_message(signed.details, identity.public, device.deviceType)
    if not xeddsa.verify(account_public, message, signed.accountSignature):
        raise ADVVerificationError(
            "account-signature", "the phone's account signature over our identity key is invalid"
        )

    # Sign with the key exactly as it came, as both reference clients do (it is 32 raw bytes in practice).
    signed.deviceSignature = xeddsa.sign(
        identity.private, device_signature_message(signed.details, identity.public, signed.accountSignatureKey)
    )
    return PairSuccess(
        account=encode_signed_identity(signed, include_signature_key=True),
        account_signature_key=signed.accountSignatureKey,
        key_index=device.keyIndex,
        raw_id=device.rawID,
        timestamp=device.timestamp,
        account_type=wrapper.accountType,
        device_type=device.deviceType,
        reply_identity=encode_signed_identity(signed, include_signature_key=False),
    )
