"""Import of a real Baileys useMultiFileAuthState folder, written by the pinned Baileys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import StoreConfig, import_baileys_folder, open_store
from storage.baileys import BAILEYS_JSON_PREFIX, parse_key_file_name
from storage.errors import BackupError
from tests.fixtures.node import run_node
from whatsapp.auth import KeyType
from whatsapp.keys import KeyPair

pytestmark = pytest.mark.node


@pytest.mark.parametrize("encryption_key", [None, "imported secret"])
async def test_baileys_folder_imports_byte_for_byte(tmp_path: Path, encryption_key: str | None) -> None:
    baileys_dir = tmp_path / "baileys_auth_info"
    expected = json.loads(run_node("storage_baileys_folder.mjs", str(baileys_dir)).strip().splitlines()[-1])
    config = StoreConfig(auth_dir=tmp_path / "auth", session_id="moved", encryption_key=encryption_key)
    await import_baileys_folder(config, baileys_dir)

    store = await open_store(config)
    assert store.loaded_from == "folder"
    creds = store.creds
    assert creds.paired
    assert (creds.noise_key.private + creds.noise_key.public).hex() == expected["noise_key"]
    assert (creds.identity_key.private + creds.identity_key.public).hex() == expected["identity_key"]
    prekey = creds.signed_prekey
    assert (prekey.key_pair.private + prekey.key_pair.public).hex() == expected["signed_prekey"]
    assert prekey.key_id == expected["signed_prekey_id"]
    assert prekey.signature.hex() == expected["signed_prekey_signature"]
    assert creds.registration_id == expected["registration_id"]
    assert creds.adv_secret_key.hex() == expected["adv_secret_key"]
    assert (creds.me_id, creds.me_lid, creds.push_name) == (
        expected["me_id"],
        expected["me_lid"],
        expected["push_name"],
    )
    assert creds.account is not None and creds.account.hex() == expected["account"]  # Baileys' own protobuf encoding
    assert creds.platform == expected["platform"]
    assert creds.routing_info is not None and creds.routing_info.hex() == expected["routing_info"]
    assert creds.next_prekey_id == expected["next_prekey_id"]
    assert creds.first_unuploaded_prekey_id == expected["first_unuploaded_prekey_id"]
    assert creds.extra["my_app_state_key_id"] == "AAAAAB+/"

    pre_keys = await store.get(KeyType.PRE_KEY, list(expected["pre_keys"]))
    assert {k: v.hex() for k, v in pre_keys.items()} == expected["pre_keys"]
    for value in pre_keys.values():
        KeyPair.from_bytes(value)  # a usable key pair in this project's format
    assert await store.get(KeyType.LID_MAPPING, ["15551234567", "123456789012345_reverse"]) == {
        "15551234567": b"123456789012345",
        "123456789012345_reverse": b"15551234567",
    }
    assert (await store.get(KeyType.IDENTITY, ["15551234567.0"]))["15551234567.0"].hex() == expected["identity"]

    # Formats owned by the Signal / app-state layers are kept verbatim, marked as Baileys JSON.
    session = (await store.get(KeyType.SESSION, ["15551234567.0"]))["15551234567.0"]
    assert session.startswith(BAILEYS_JSON_PREFIX)
    revived = json.loads(session[len(BAILEYS_JSON_PREFIX) :])
    assert revived["type"] == "Buffer"
    sender = await store.get(KeyType.SENDER_KEY, ["120363012345678901@g.us::15551234567::0"])
    assert sender and next(iter(sender.values())).startswith(BAILEYS_JSON_PREFIX)
    app_key = (await store.get(KeyType.APP_STATE_SYNC_KEY, ["AAAAAB+/"]))["AAAAAB+/"]
    assert json.loads(app_key[len(BAILEYS_JSON_PREFIX) :])["fingerprint"]["rawId"] == 7
    devices = (await store.get(KeyType.DEVICE_LIST, ["15551234567"]))["15551234567"]
    assert json.loads(devices[len(BAILEYS_JSON_PREFIX) :]) == ["0", "12"]
    await store.close()


def test_baileys_file_names_map_back_to_key_ids() -> None:
    assert parse_key_file_name("pre-key-12.json") == ("pre-key", "12")
    assert parse_key_file_name("sender-key-memory-1203@g.us.json") == ("sender-key-memory", "1203@g.us")
    assert parse_key_file_name("sender-key-1203@g.us--155--0.json") == ("sender-key", "1203@g.us::155::0")
    assert parse_key_file_name("app-state-sync-key-AAAAAB+__.json") == ("app-state-sync-key", "AAAAAB+/")
    assert parse_key_file_name("app-state-sync-version-regular_low.json") == ("app-state-sync-version", "regular_low")
    assert parse_key_file_name("unrelated.json") is None


async def test_folder_without_creds_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackupError, match=r"creds\.json.*Baileys auth folder"):
        await import_baileys_folder(StoreConfig(auth_dir=tmp_path / "auth"), tmp_path / "empty")
