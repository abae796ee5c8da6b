"""ADV pair-success checks and device signature (our companion side) against the phone side the emulator
writes independently (whatsapp/testing/phone_adv.py), and against Baileys 7."""

from __future__ import annotations

import base64
import hashlib
import hmac as std_hmac

import pytest

from whatsapp import adv, xeddsa
from whatsapp.errors import PairingError
from whatsapp.keys import KeyPair
from whatsapp.proto import adv_pb2
from whatsapp.testing import phone_adv
from whatsapp.testing.harness.nodejs import run_node_json


def _key(label: str) -> KeyPair:
    return KeyPair.from_private(hashlib.sha256(label.encode()).digest())


ADV_SECRET = hashlib.sha256(b"adv-secret").digest()
PHONE = _key("phone-account")
COMPANION = _key("companion-identity")


def _issue(hosted: bool = False, secret: bytes = ADV_SECRET, key_index: int = 3) -> phone_adv.IssuedIdentity:
    return phone_adv.issue_identity(
        PHONE, COMPANION.public, secret, raw_id=424242, key_index=key_index, timestamp=1_760_000_000, hosted=hosted
    )


def _rewrap(device_identity: bytes, **changes: object) -> bytes:
    wrapper = adv_pb2.ADVSignedDeviceIdentityHMAC.FromString(device_identity)
    for name, value in changes.items():
        setattr(wrapper, name, value)
    return wrapper.SerializeToString()


# --- pure Python ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hosted", [False, True])
def test_phone_and_companion_agree(hosted: bool) -> None:
    issued = _issue(hosted=hosted)
    result = adv.verify_pair_success(issued.device_identity, ADV_SECRET, COMPANION)
    assert result.key_index == 3 and result.raw_id == 424242 and result.timestamp == 1_760_000_000
    assert result.account_signature_key == PHONE.public
    assert result.device_type == (adv.HOSTED if hosted else adv.E2EE)
    # The stored account keeps the signature key; the reply drops it.
    account = adv_pb2.ADVSignedDeviceIdentity.FromString(result.account)
    reply = adv_pb2.ADVSignedDeviceIdentity.FromString(result.reply_identity)
    assert account.accountSignatureKey == PHONE.public
    assert not reply.HasField("accountSignatureKey")
    assert reply.details == issued.details and reply.deviceSignature == account.deviceSignature
    # The phone checks the companion's reply for real.
    checked = phone_adv.check_device_signature(result.reply_identity, PHONE.public, COMPANION.public, issued.details)
    assert checked.deviceSignature == account.deviceSignature


def test_hosted_hmac_uses_the_06_05_prefix() -> None:
    issued = _issue(hosted=True)
    wrapper = adv_pb2.ADVSignedDeviceIdentityHMAC.FromString(issued.device_identity)
    assert wrapper.accountType == adv_pb2.HOSTED
    assert std_hmac.new(ADV_SECRET, b"\x06\x05" + wrapper.details, "sha256").digest() == wrapper.HMAC
    plain = adv_pb2.ADVSignedDeviceIdentityHMAC.FromString(_issue().device_identity)
    assert std_hmac.new(ADV_SECRET, plain.details, "sha256").digest() == plain.HMAC


def test_bad_hmac_is_rejected_naming_the_check() -> None:
    issued = _issue()
    with pytest.raises(adv.ADVVerificationError) as info:
        adv.verify_pair_success(issued.device_identity, b"\x01" * 32, COMPANION)
    assert info.value.check == "hmac" and info.value.error_text == "hmac-mismatch"
    assert isinstance(info.value, PairingError)
    flipped = _rewrap(issued.device_identity, HMAC=bytes(32))
    with pytest.raises(adv.ADVVerificationError, match="HMAC"):
        adv.verify_pair_success(flipped, ADV_SECRET, COMPANION)
    # Claiming hosted without the hosted prefix having been used also fails the HMAC.
    with pytest.raises(adv.ADVVerificationError, match="HMAC"):
        adv.verify_pair_success(_rewrap(issued.device_identity, accountType=adv_pb2.HOSTED), ADV_SECRET, COMPANION)


def test_forged_account_signature_is_rejected_even_with_a_good_hmac() -> None:
    issued = _issue()
    signed = adv_pb2.ADVSignedDeviceIdentity.FromString(issued.signed_identity)
    # Signed for another companion key: valid signature, wrong message for us.
    other = phone_adv.issue_identity(
        PHONE, _key("someone-else").public, ADV_SECRET, raw_id=424242, key_index=3, timestamp=1_760_000_000
    )
    signed.accountSignature = adv_pb2.ADVSignedDeviceIdentity.FromString(other.signed_identity).accountSignature
    details = signed.SerializeToString()
    forged = adv_pb2.ADVSignedDeviceIdentityHMAC(details=details, HMAC=adv.identity_hmac(ADV_SECRET, details))
    with pytest.raises(adv.ADVVerificationError) as info:
        adv.verify_pair_success(forged.SerializeToString(), ADV_SECRET, COMPANION)
    assert info.value.check == "account-signature" and info.value.error_text == "signature-mismatch"


def test_malformed_inputs_raise_pairing_errors() -> None:
    for junk in (b"\xff\xff\xff", b"", adv_pb2.ADVSignedDeviceIdentityHMAC(details=b"x").SerializeToString()):
        with pytest.raises(adv.ADVVerificationError):
            adv.verify_pair_success(junk, ADV_SECRET, COMPANION)
    details = adv_pb2.ADVSignedDeviceIdentity(details=b"", accountSignatureKey=b"short").SerializeToString()
    wrapper = adv_pb2.ADVSignedDeviceIdentityHMAC(details=details, HMAC=adv.identity_hmac(ADV_SECRET, details))
    with pytest.raises(adv.ADVVerificationError, match="accountSignatureKey"):
        adv.verify_pair_success(wrapper.SerializeToString(), ADV_SECRET, COMPANION)


def test_device_signature_checks_on_the_phone_side() -> None:
    issued = _issue()
    result = adv.verify_pair_success(issued.device_identity, ADV_SECRET, COMPANION)
    with pytest.raises(PairingError, match="device signature"):
        phone_adv.check_device_signature(result.reply_identity, PHONE.public, _key("impostor").public)
    with pytest.raises(PairingError, match="different device details"):
        phone_adv.check_device_signature(result.reply_identity, PHONE.public, COMPANION.public,
                                         _issue(key_index=4).details)
    with pytest.raises(PairingError):
        phone_adv.check_device_signature(b"\x0a\x05ab", PHONE.public, COMPANION.public)


# --- against Baileys 7 ------------------------------------------------------------------------------------


def _baileys_pair_success(device_identity: bytes, secret: bytes = ADV_SECRET) -> dict:
    op = {
        "op": "pair_success",
        "device_identity": device_identity.hex(),
        "adv_b64": base64.b64encode(secret).decode(),
        "ident_priv": COMPANION.private.hex(),
        "ident_pub": COMPANION.public.hex(),
        "jid": "15550001111:7@s.whatsapp.net",
        "lid": "99887766:7@lid",
        "platform": "android",
    }
    return run_node_json("pairing_oracle.mjs", input_obj={"ops": [op]})["results"][0]


def _curve_verify(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    ops = [{"op": "curve_verify", "pub": p.hex(), "msg": m.hex(), "sig": s.hex()} for p, m, s in items]
    return [r["ok"] for r in run_node_json("pairing_oracle.mjs", input_obj={"ops": ops})["results"]]


@pytest.mark.node
@pytest.mark.parametrize("hosted", [False, True])
def test_baileys_accepts_a_python_pair_success_and_its_reply_verifies(hosted: bool) -> None:
    issued = _issue(hosted=hosted)
    result = _baileys_pair_success(issued.device_identity)
    assert "error" not in result, result
    assert result["key_index"] == "3"
    assert result["account_signature_key"] == PHONE.public.hex()
    reply = bytes.fromhex(result["reply_identity"])
    signed = phone_adv.check_device_signature(reply, PHONE.public, COMPANION.public, issued.details)
    assert not signed.HasField("accountSignatureKey")
    # What Baileys stores as `account` is what we store: same fields; the signature differs only by its nonce.
    ours = adv.verify_pair_success(issued.device_identity, ADV_SECRET, COMPANION)
    theirs_account = adv_pb2.ADVSignedDeviceIdentity.FromString(bytes.fromhex(result["account"]))
    our_account = adv_pb2.ADVSignedDeviceIdentity.FromString(ours.account)
    for name in ("details", "accountSignatureKey", "accountSignature"):
        assert getattr(theirs_account, name) == getattr(our_account, name)
    # Both device signatures verify under curve25519-js's strict verify too.
    message = adv.device_signature_message(issued.details, COMPANION.public, PHONE.public)
    assert _curve_verify(
        [
            (COMPANION.public, message, signed.deviceSignature),
            (COMPANION.public, message, our_account.deviceSignature),
            (COMPANION.public, message + b"x", our_account.deviceSignature),
        ]
    ) == [True, True, False]
    assert xeddsa.verify(COMPANION.public, message, signed.deviceSignature)


@pytest.mark.node
def test_bad_hmac_is_rejected_by_baileys_and_by_us() -> None:
    issued = _issue(secret=b"\x02" * 32)
    result = _baileys_pair_success(issued.device_identity)
    assert result.get("error") == "Invalid account signature"
    with pytest.raises(adv.ADVVerificationError, match="HMAC"):
        adv.verify_pair_success(issued.device_identity, ADV_SECRET, COMPANION)


@pytest.mark.node
def test_python_account_signature_verifies_in_curve25519_js() -> None:
    issued = _issue()
    signed = adv_pb2.ADVSignedDeviceIdentity.FromString(issued.signed_identity)
    message = adv.account_signature_message(issued.details, COMPANION.public, adv.E2EE)
    assert _curve_verify([(PHONE.public, message, signed.accountSignature)]) == [True]
