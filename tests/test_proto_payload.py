"""ClientPayload builders, read back by the emulator's parser (whatsapp/testing/client_payload.py, written
independently); registration and login payloads decode to Baileys 7's fields."""

from __future__ import annotations

import hashlib

import pytest

from whatsapp.creds import Credentials
from whatsapp.errors import DecodeError, EncodeError
from whatsapp.payload import (
    DEFAULT_VERSION,
    ClientPayload,
    DeviceConfig,
    DeviceProps,
    build_client_payload,
    build_login_payload,
    build_registration_payload,
)
from whatsapp.testing.client_payload import parse_client_payload
from whatsapp.testing.harness.nodejs import run_node_json


@pytest.fixture(scope="module")
def creds() -> Credentials:
    return Credentials.generate()


def test_registration_payload_fields(creds: Credentials) -> None:
    payload = build_registration_payload(creds, DeviceConfig(push_name="Bot"))
    reg = payload.devicePairingData
    assert payload.passive is False and payload.pull is False and payload.HasField("passive")
    assert not payload.HasField("username")
    assert reg.eRegid == creds.registration_id.to_bytes(4, "big")
    assert reg.eKeytype == b"\x05"
    assert reg.eIdent == creds.identity_key.public
    assert reg.eSkeyID == b"\x00\x00\x01"
    assert reg.eSkeyVal == creds.signed_prekey.key_pair.public
    assert reg.eSkeySig == creds.signed_prekey.signature
    assert reg.buildHash == hashlib.md5(b"2.3000.1045649367").digest()
    props = DeviceProps.FromString(reg.deviceProps)
    assert props.os == "Mac OS" and props.platformType == DeviceProps.CHROME
    # The push name travels with our presence, never in the payload (whatsmeow and Baileys leave it out).
    assert not payload.HasField("pushName")
    agent = payload.userAgent
    assert (agent.appVersion.primary, agent.appVersion.secondary, agent.appVersion.tertiary) == DEFAULT_VERSION
    assert agent.platform == ClientPayload.UserAgent.WEB
    assert payload.connectType == ClientPayload.WIFI_UNKNOWN
    assert payload.connectReason == ClientPayload.USER_ACTIVATED


def test_parser_round_trips_registration_and_checks_the_signed_prekey(creds: Credentials) -> None:
    parsed = parse_client_payload(build_registration_payload(creds, DeviceConfig()).SerializeToString())
    assert parsed.is_registration and parsed.username is None
    reg = parsed.registration
    assert reg is not None
    assert reg.registration_id == creds.registration_id
    assert reg.identity_public == creds.identity_key.public
    assert reg.signed_prekey_id == 1
    assert reg.signed_prekey_valid()
    assert parsed.version == DEFAULT_VERSION
    tampered = build_registration_payload(creds, DeviceConfig())
    tampered.devicePairingData.eSkeyVal = bytes(32)
    tampered_parsed = parse_client_payload(tampered.SerializeToString())
    assert tampered_parsed.registration is not None and not tampered_parsed.registration.signed_prekey_valid()


def test_login_payload_and_parser(creds: Credentials) -> None:
    paired = Credentials.from_dict(creds.to_dict())
    paired.me_id = "15551234567:12@s.whatsapp.net"
    paired.account = b"\x0a\x00"
    payload = build_client_payload(paired, DeviceConfig(lid_db_migrated=True))
    assert payload.username == 15551234567 and payload.device == 12
    assert payload.passive and payload.pull and payload.lidDbMigrated
    assert not payload.HasField("devicePairingData")
    parsed = parse_client_payload(payload.SerializeToString())
    assert not parsed.is_registration and (parsed.username, parsed.device) == (15551234567, 12)
    passive_off = build_login_payload(paired, DeviceConfig(login_passive=False, login_pull=False))
    assert not passive_off.passive and not passive_off.pull


def test_login_without_pairing_is_refused(creds: Credentials) -> None:
    with pytest.raises(EncodeError):
        build_login_payload(creds, DeviceConfig())
    assert build_client_payload(creds, DeviceConfig()).HasField("devicePairingData")


def test_config_variants() -> None:
    assert DeviceConfig(browser="Desktop", os_name="Windows").web_client_type == "8"
    assert DeviceConfig(browser="Desktop", os_name="Mac OS").web_client_type == "7"
    assert DeviceConfig(browser="Firefox").resolved_platform_type == DeviceProps.FIREFOX
    assert DeviceConfig(browser="Desktop").resolved_platform_type == DeviceProps.DESKTOP
    assert DeviceConfig(browser="Android").resolved_platform_type == DeviceProps.ANDROID_PHONE
    assert DeviceConfig(browser="Nonsense").resolved_platform_type == DeviceProps.CHROME
    assert DeviceConfig(platform_type=DeviceProps.EDGE).resolved_platform_type == DeviceProps.EDGE
    assert DeviceConfig().platform_display == "Chrome (Mac OS)"
    with pytest.raises(EncodeError):
        DeviceConfig(version=(2, 3000))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: setattr(p.devicePairingData, "eIdent", b"\x01" * 31),
        lambda p: setattr(p.devicePairingData, "eKeytype", b"\x06"),
        lambda p: setattr(p.devicePairingData, "eRegid", b"\x01"),
        lambda p: setattr(p.devicePairingData, "eSkeySig", b"\x01" * 63),
        lambda p: setattr(p.devicePairingData, "deviceProps", b"\xff\xff"),
    ],
)
def test_parser_rejects_malformed_registration(creds: Credentials, mutate) -> None:
    payload = build_registration_payload(creds, DeviceConfig())
    mutate(payload)
    with pytest.raises(DecodeError):
        parse_client_payload(payload.SerializeToString())


def test_parser_rejects_junk() -> None:
    with pytest.raises(DecodeError):
        parse_client_payload(b"\xff\xff\xff")
    with pytest.raises(DecodeError, match="neither"):
        parse_client_payload(ClientPayload(passive=True).SerializeToString())


CONFIGS = [
    DeviceConfig(),
    DeviceConfig(os_name="Ubuntu", browser="Firefox", os_version="22.04.4", sync_full_history=False),
    DeviceConfig(os_name="Windows", browser="Desktop", os_version="10", push_name="My Bot", country_code="DE"),
    DeviceConfig(os_name="Mac OS", browser="Desktop", version=(2, 3000, 1045649367)),
    DeviceConfig(os_name="Bot", browser="Android", os_version=""),
]


def _node_config(config: DeviceConfig) -> dict:
    return {
        "version": list(config.version),
        "browser": [config.os_name, config.browser, config.os_version],
        "sync_full_history": config.sync_full_history,
        "country_code": config.country_code,
        # Baileys puts `pushName` into the payload only for mock servers; its real-server payload has none.
        "push_name": None,
    }


@pytest.mark.node
def test_payloads_decode_to_the_same_fields_as_baileys(creds: Credentials) -> None:
    paired = Credentials.from_dict(creds.to_dict())
    paired.me_id = "4915123456789:3@s.whatsapp.net"
    paired.account = b"\x0a\x00"
    node_creds = {
        "registration_id": creds.registration_id,
        "ident_pub": creds.identity_key.public.hex(),
        "spk_id": creds.signed_prekey.key_id,
        "spk_pub": creds.signed_prekey.key_pair.public.hex(),
        "spk_sig": creds.signed_prekey.signature.hex(),
    }
    ops = []
    for config in CONFIGS:
        ops.append({"op": "registration", "creds": node_creds, "config": _node_config(config)})
        ops.append({"op": "login", "jid": paired.me_id, "config": _node_config(config)})
    results = run_node_json("pairing_oracle.mjs", input_obj={"ops": ops})["results"]
    for i, config in enumerate(CONFIGS):
        theirs_reg = ClientPayload.FromString(bytes.fromhex(results[2 * i]["payload"]))
        theirs_login = ClientPayload.FromString(bytes.fromhex(results[2 * i + 1]["payload"]))
        ours_reg = build_registration_payload(creds, config)
        ours_login = build_login_payload(paired, config)
        # deviceProps is nested bytes: compare it decoded, then the rest field by field.
        assert DeviceProps.FromString(ours_reg.devicePairingData.deviceProps) == DeviceProps.FromString(
            theirs_reg.devicePairingData.deviceProps
        ), config
        theirs_reg.devicePairingData.ClearField("deviceProps")
        ours_reg.devicePairingData.ClearField("deviceProps")
        assert ours_reg == theirs_reg, config
        assert ours_login == theirs_login, config
        # And the parser (the emulator's view) reads Baileys' bytes.
        parsed = parse_client_payload(bytes.fromhex(results[2 * i]["payload"]))
        assert parsed.registration is not None and parsed.registration.signed_prekey_valid()
        assert parse_client_payload(bytes.fromhex(results[2 * i + 1]["payload"])).username == 4915123456789
