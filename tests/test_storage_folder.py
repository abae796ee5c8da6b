"""The folder copy alone (no MongoDB): round trips, file safety, journal replay, errors that name the cause."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest

from storage import (
    CorruptSessionError,
    LeaseNotHeldError,
    SessionStore,
    StorageError,
    WrongEncryptionKeyError,
    open_store,
)
from storage.folder import FolderStore
from storage.folder_codec import encode_journal
from storage.model import Change
from tests.storage_helpers import folder_config, sample_keys
from whatsapp.auth import ConnectionStatus, KeyType


async def write_keys(store: SessionStore, keys: dict[tuple[str, str], bytes | None], *, creds: bool = True) -> None:
    async with store.transaction() as tx:
        if creds:
            tx.set_creds(store.creds)
        for (key_type, key_id), value in keys.items():
            tx.set(KeyType(key_type), key_id, value)


@pytest.mark.parametrize("encryption_key", [None, "correct horse battery staple"])
async def test_every_key_type_round_trips_byte_for_byte(tmp_path: Path, encryption_key: str | None) -> None:
    config = folder_config(tmp_path, encryption_key=encryption_key)
    store = await open_store(config)
    assert store.loaded_from == "new"
    await store.acquire_lease()
    keys = sample_keys()
    await write_keys(store, keys)
    creds_dict = store.creds.to_dict()
    await store.close()

    again = await open_store(config)
    assert again.loaded_from == "folder"
    assert again.creds.to_dict() == creds_dict
    for (key_type, key_id), value in keys.items():
        assert await again.get(KeyType(key_type), [key_id]) == {key_id: value}
    assert again.snapshot().keys == keys
    await again.close()

    if encryption_key:
        # Nothing secret is readable on disk: no key value and no private key appears in any file.
        blobs = b"".join(p.read_bytes() for p in (tmp_path / "auth").rglob("*") if p.is_file())
        assert creds_dict["noise_key"] not in blobs
        assert creds_dict["identity_key"][:32] not in blobs
        assert keys[(KeyType.PRE_KEY.value, "17")] not in blobs


async def test_deletes_updates_and_transaction_reads(tmp_path: Path) -> None:
    config = folder_config(tmp_path)
    store = await open_store(config)
    await store.acquire_lease()
    await write_keys(store, {("pre-key", "1"): b"a", ("pre-key", "2"): b"b"})
    async with store.transaction() as tx:
        tx.set(KeyType.PRE_KEY, "1", None)
        tx.set(KeyType.PRE_KEY, "2", b"c")
        # Reads inside the unit of work see its pending writes first.
        assert await tx.get(KeyType.PRE_KEY, ["1", "2"]) == {"2": b"c"}
    assert await store.get(KeyType.PRE_KEY, ["1", "2"]) == {"2": b"c"}
    await store.close()
    again = await open_store(config)
    assert again.snapshot().keys == {("pre-key", "2"): b"c"}
    await again.close()


async def test_failed_unit_of_work_writes_nothing(tmp_path: Path) -> None:
    config = folder_config(tmp_path)
    store = await open_store(config)
    await store.acquire_lease()
    await write_keys(store, {("session", "a.0"): b"1"})
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            tx.set(KeyType.SESSION, "a.0", b"2")
            raise RuntimeError("decrypt failed")
    assert await store.get(KeyType.SESSION, ["a.0"]) == {"a.0": b"1"}
    await store.close()
    again = await open_store(config)
    assert again.snapshot().keys == {("session", "a.0"): b"1"}
    await again.close()


async def test_files_are_private_and_carry_a_schema_version(tmp_path: Path) -> None:
    config = folder_config(tmp_path)
    store = await open_store(config)
    await store.acquire_lease()
    await write_keys(store, sample_keys())
    await store.close()
    session_dir = tmp_path / "auth" / "test"
    for path in [session_dir, *session_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    meta = json.loads((session_dir / "session.json").read_bytes())
    assert meta["body"]["schema"] == 1 and meta["body"]["format"] == "whatsapp-session-folder"


async def test_writes_need_the_lease(tmp_path: Path) -> None:
    store = await open_store(folder_config(tmp_path))
    with pytest.raises(LeaseNotHeldError, match="acquire_lease"):
        await write_keys(store, {("pre-key", "1"): b"a"})
    await store.close()


async def test_interrupted_unit_of_work_is_replayed_on_load(tmp_path: Path) -> None:
    """A crash after the journal entry is durable but before the files are written: the load completes it."""
    config = folder_config(tmp_path)
    store = await open_store(config)
    await store.acquire_lease()
    await write_keys(store, {("session", "a.0"): b"old", ("pre-key", "5"): b"p"})
    version, lineage, head = store.version, store.snapshot().lineage, store.snapshot().head
    creds = dataclasses.replace(store.creds, next_prekey_id=99)
    await store.close()

    folder = FolderStore(tmp_path / "auth", "test", None)
    folder.load()
    change = Change(
        version + 1, lineage, creds.to_dict(), {("session", "a.0"): b"new", ("pre-key", "5"): None}, parent=head
    )
    journal_bytes = encode_journal(folder.session_id, folder.sealer, change)
    (folder.journal_dir / f"{version + 1:012d}.json").write_bytes(journal_bytes)  # durable entry, files untouched

    again = await open_store(config)
    assert again.version == version + 1
    assert again.creds.next_prekey_id == 99
    assert again.snapshot().keys == {("session", "a.0"): b"new"}
    await again.acquire_lease()  # repairs the files
    await again.close()
    assert FolderStore(tmp_path / "auth", "test", None)._load_files(None).keys == {("session", "a.0"): b"new"}


async def test_clear_logs_out_and_next_start_pairs_anew(tmp_path: Path) -> None:
    config = folder_config(tmp_path)
    store = await open_store(config)
    await store.acquire_lease()
    await write_keys(store, sample_keys())
    old_noise = store.creds.noise_key
    await store.set_status(ConnectionStatus.OPEN)
    await store.clear()
    assert store.snapshot().keys == {} and store.snapshot().creds is None
    assert store.creds.noise_key != old_noise
    await store.close()
    assert not (tmp_path / "auth" / "test" / "creds.json").exists()
    assert not list((tmp_path / "auth" / "test" / "keys").rglob("*.key"))
    again = await open_store(config)
    assert again.loaded_from == "new"
    await again.close()


async def prepare(tmp_path: Path, **overrides: object) -> Path:
    store = await open_store(folder_config(tmp_path, **overrides))
    await store.acquire_lease()
    await write_keys(store, {("session", "a.0"): b"x" * 40, ("pre-key", "1"): b"y" * 64})
    await store.close()
    return tmp_path / "auth" / "test"


async def test_corrupt_creds_file_is_a_loud_error(tmp_path: Path) -> None:
    session_dir = await prepare(tmp_path)
    creds = session_dir / "creds.json"
    creds.write_bytes(creds.read_bytes()[:-30])
    with pytest.raises(CorruptSessionError, match=r"creds\.json.*not a valid session file"):
        await open_store(folder_config(tmp_path))


async def test_edited_creds_file_fails_its_checksum(tmp_path: Path) -> None:
    session_dir = await prepare(tmp_path)
    creds = session_dir / "creds.json"
    creds.write_bytes(creds.read_bytes().replace(b'"registration_id":', b'"registration_id":1'))
    with pytest.raises(CorruptSessionError, match=r"creds\.json fails its checksum"):
        await open_store(folder_config(tmp_path))


async def test_damaged_key_file_is_a_loud_error(tmp_path: Path) -> None:
    session_dir = await prepare(tmp_path)
    key_file = next((session_dir / "keys" / "session").iterdir())
    data = bytearray(key_file.read_bytes())
    data[-1] ^= 0xFF
    key_file.write_bytes(bytes(data))
    with pytest.raises(CorruptSessionError, match=r"session/a\.0\.key fails its CRC-32"):
        await open_store(folder_config(tmp_path))


async def test_unreadable_file_is_a_loud_error(tmp_path: Path) -> None:
    session_dir = await prepare(tmp_path)
    # (A mode-0 file would still be readable when the tests run as root; a directory in its place never is.)
    (session_dir / "creds.json").unlink()
    (session_dir / "creds.json").mkdir()
    with pytest.raises(CorruptSessionError, match=r"cannot read .*creds\.json"):
        await open_store(folder_config(tmp_path))


async def test_missing_session_header_is_a_loud_error(tmp_path: Path) -> None:
    session_dir = await prepare(tmp_path)
    (session_dir / "session.json").unlink()
    with pytest.raises(CorruptSessionError, match=r"session\.json is missing"):
        await open_store(folder_config(tmp_path))


async def test_wrong_encryption_key_refuses_and_changes_nothing(tmp_path: Path) -> None:
    session_dir = await prepare(tmp_path, encryption_key="right key")
    before = {p: p.read_bytes() for p in session_dir.rglob("*") if p.is_file()}
    with pytest.raises(WrongEncryptionKeyError, match=r"SESSION_ENCRYPTION_KEY does not open .*session\.json"):
        await open_store(folder_config(tmp_path, encryption_key="wrong key"))
    with pytest.raises(WrongEncryptionKeyError, match="SESSION_ENCRYPTION_KEY is not set"):
        await open_store(folder_config(tmp_path))
    assert {p: p.read_bytes() for p in session_dir.rglob("*") if p.is_file()} == before
    store = await open_store(folder_config(tmp_path, encryption_key="right key"))
    assert store.snapshot().keys[("session", "a.0")] == b"x" * 40
    await store.close()


async def test_swapped_sealed_records_do_not_open(tmp_path: Path) -> None:
    session_dir = await prepare(tmp_path, encryption_key="k")
    store = await open_store(folder_config(tmp_path, encryption_key="k"))
    await store.acquire_lease()
    await write_keys(store, {("session", "b.0"): b"z" * 40}, creds=False)
    await store.close()
    a, b = session_dir / "keys" / "session" / "a.0.key", session_dir / "keys" / "session" / "b.0.key"
    # Keep each file's own id header but swap the sealed payloads: the AD binds the record identity.
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_a[:15] + data_b[15:])
    import zlib

    fixed = bytearray(a.read_bytes())
    fixed[5:9] = zlib.crc32(bytes(fixed[9:])).to_bytes(4, "big")
    a.write_bytes(bytes(fixed))
    with pytest.raises(CorruptSessionError, match="does not decrypt although the key is right"):
        await open_store(folder_config(tmp_path, encryption_key="k"))


async def test_turning_encryption_on_rewrites_the_folder_sealed(tmp_path: Path) -> None:
    await prepare(tmp_path)
    store = await open_store(folder_config(tmp_path, encryption_key="new key"))
    await store.acquire_lease()
    await write_keys(store, {("pre-key", "2"): b"q" * 64}, creds=False)
    await store.close()
    with pytest.raises(WrongEncryptionKeyError):
        await open_store(folder_config(tmp_path))
    again = await open_store(folder_config(tmp_path, encryption_key="new key"))
    assert again.snapshot().keys == {
        ("session", "a.0"): b"x" * 40,
        ("pre-key", "1"): b"y" * 64,
        ("pre-key", "2"): b"q" * 64,
    }
    await again.close()


async def test_second_process_on_the_same_folder_waits(tmp_path: Path) -> None:
    import asyncio

    first = await open_store(folder_config(tmp_path))
    await first.acquire_lease()
    second = await open_store(folder_config(tmp_path, lease_poll_interval=0.05))
    waiter = asyncio.create_task(second.acquire_lease())
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await first.close()
    await asyncio.wait_for(waiter, 2)
    await second.close()


def test_bad_session_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="session id"):
        FolderStore(tmp_path, "../escape", None)


async def test_crash_during_the_very_first_commit_is_no_session_yet(tmp_path: Path) -> None:
    """Empty sub-folders (and a header) without any journal entry or file are a first commit that never happened."""
    session_dir = tmp_path / "auth" / "test"
    (session_dir / "journal").mkdir(parents=True)
    (session_dir / "keys").mkdir()
    store = await open_store(folder_config(tmp_path))
    assert store.loaded_from == "new"
    await store.acquire_lease()
    await write_keys(store, {("pre-key", "1"): b"a"})
    await store.close()
    again = await open_store(folder_config(tmp_path))
    assert again.loaded_from == "folder" and again.snapshot().keys == {("pre-key", "1"): b"a"}
    await again.close()
