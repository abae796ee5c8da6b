"""The pairing QR string: our format, the phone's reading of it (whatsapp/testing/phone_adv.py, written
independently), and byte-for-byte agreement with Baileys 7's buildPairingQRData."""

from __future__ import annotations

import base64
import hashlib

import pytest

from whatsapp import qr
from whatsapp.creds import Credentials
from whatsapp.errors import PairingError
from whatsapp.payload import DeviceConfig
from whatsapp.testing.harness.nodejs import run_node_json
from whatsapp.testing.phone_adv import read_qr

REF = "2@Zk9xY3VtLnBsLzEyMzQ=/abcDEF+ghi"
NOISE = hashlib.sha256(b"noise").digest()
IDENT = hashlib.sha256(b"ident").digest()
ADV = hashlib.sha256(b"adv").digest()


def test_build_and_parse_round_trip() -> None:
    text = qr.build_qr(REF, NOISE, IDENT, ADV, "1")
    assert text.startswith("https://wa.me/settings/linked_devices#" + REF + ",")
    assert text.endswith(",1")
    parsed = read_qr(text)
    assert (parsed.ref, parsed.noise_public, parsed.identity_public, parsed.adv_secret, parsed.client_type) == (
        REF,
        NOISE,
        IDENT,
        ADV,
        "1",
    )
    assert ADV.hex() not in repr(parsed) and base64.b64encode(ADV).decode() not in repr(parsed)


def test_ref_bytes_and_credentials_helper() -> None:
    creds = Credentials.generate()
    text = qr.qr_for_credentials(REF.encode(), creds, DeviceConfig().web_client_type)
    parsed = read_qr(text)
    assert parsed.noise_public == creds.noise_key.public
    assert parsed.identity_public == creds.identity_key.public
    assert parsed.adv_secret == creds.adv_secret_key


def test_legacy_four_field_form_parses_without_client_type() -> None:
    legacy = ",".join([REF, *(base64.b64encode(k).decode() for k in (NOISE, IDENT, ADV))])
    parsed = read_qr(legacy)
    assert parsed.client_type is None and parsed.adv_secret == ADV


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "hello",
        "https://wa.me/settings/linked_devices#",
        "https://wa.me/settings/linked_devices#a,b,c,d,e",
        qr.build_qr(REF, NOISE, IDENT, ADV, "1")[:-2],  # client type missing
        qr.build_qr(REF, NOISE, IDENT, ADV, "1") + ",extra",
        qr.build_qr(REF, NOISE, IDENT, ADV, "1").replace(",1", ",12"),
        qr.build_qr(REF, NOISE, IDENT, ADV, "1").replace(base64.b64encode(NOISE).decode(), "!!!!"),
        qr.build_qr(REF, NOISE, IDENT, ADV, "1").replace(
            base64.b64encode(IDENT).decode(), base64.b64encode(IDENT[:31]).decode()
        ),
        "https://wa.me/settings/linked_devices#,"
        + ",".join(base64.b64encode(k).decode() for k in (NOISE, IDENT, ADV))
        + ",1",
    ],
)
def test_junk_raises_pairing_error(junk: str) -> None:
    with pytest.raises(PairingError):
        read_qr(junk)


def test_build_rejects_bad_inputs() -> None:
    with pytest.raises(PairingError):
        qr.build_qr("a,b", NOISE, IDENT, ADV, "1")
    with pytest.raises(PairingError):
        qr.build_qr(REF, NOISE[:31], IDENT, ADV, "1")
    with pytest.raises(PairingError):
        qr.build_qr(REF, NOISE, IDENT, ADV[:16], "1")
    with pytest.raises(PairingError):
        qr.build_qr(b"\xff\xfe", NOISE, IDENT, ADV, "1")
    with pytest.raises(PairingError):
        read_qr(None)  # type: ignore[arg-type]


BROWSERS = [
    ("Mac OS", "Chrome", "14.4.1"),
    ("Ubuntu", "Firefox", "22.04"),
    ("Windows", "Edge", "10"),
    ("Mac OS", "Safari", "14"),
    ("Windows", "Desktop", "10"),
    ("Mac OS", "Desktop", "14"),
    ("Ubuntu", "Opera", "1"),
    ("Baileys", "SomethingElse", "1"),
]


@pytest.mark.node
def test_qr_and_platform_id_match_baileys() -> None:
    ops = []
    for os_name, browser, version in BROWSERS:
        ops.append(
            {
                "op": "qr",
                "ref": REF,
                "noise": NOISE.hex(),
                "ident": IDENT.hex(),
                "adv_b64": base64.b64encode(ADV).decode(),
                "browser": [os_name, browser, version],
            }
        )
        ops.append({"op": "platform_id", "browser": [os_name, browser, version]})
    results = run_node_json("pairing_oracle.mjs", input_obj={"ops": ops})["results"]
    for i, (os_name, browser, version) in enumerate(BROWSERS):
        config = DeviceConfig(os_name=os_name, browser=browser, os_version=version)
        assert qr.build_qr(REF, NOISE, IDENT, ADV, config.web_client_type) == results[2 * i]["qr"]
        assert config.web_client_type == results[2 * i + 1]["id"]
        assert read_qr(results[2 * i]["qr"]).client_type == config.web_client_type
