"""The MongoDB copy and the double-writing store against a real server (SecantusDB over loopback)."""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path

import pytest
from loguru import logger
from pymongo import AsyncMongoClient

from storage import (
    BackupError,
    CorruptSessionError,
    LeaseLostError,
    MongoUnavailableError,
    SessionStore,
    StorageError,
    StoreConfig,
    WrongEncryptionKeyError,
    export_session,
    import_session,
    open_store,
    reset_session,
)
from storage.folder import FolderStore
from storage.model import KeyRef, Snapshot
from tests.fixtures.mongo import MongoTestServer, free_port
from tests.storage_helpers import fast_mongo_config, mongo_snapshot, sample_keys
from whatsapp.auth import ConnectionStatus, KeyType

pytestmark = pytest.mark.mongo


async def write(store: SessionStore, keys: dict[KeyRef, bytes | None], *, creds: bool = True) -> None:
    async with store.transaction() as tx:
        if creds:
            tx.set_creds(store.creds)
        for (key_type, key_id), value in keys.items():
            tx.set(KeyType(key_type), key_id, value)


async def stored_session(config: StoreConfig) -> Snapshot:
    """A session with a key of every type in both copies (and the process that wrote it stopped); its state."""
    store = await open_store(config)
    await store.acquire_lease()
    await write(store, sample_keys())
    state = store.snapshot()
    await store.close()
    return state


async def mongo_copy(config: StoreConfig) -> Snapshot | None:
    return await mongo_snapshot(config.mongodb_uri or "", config.mongodb_db, config.session_id, config.encryption_key)


def folder_copy(config: StoreConfig) -> Snapshot | None:
    return FolderStore(config.auth_dir, config.session_id, config.encryption_key).load().snapshot


async def assert_copies_equal(config: StoreConfig, expected: Snapshot) -> None:
    """Both copies hold `expected`'s session and stand at the same change; a take-over since `expected` adds
    its empty fence change (storage/changelog.py), so the version may be further on than `expected`'s."""
    stored, local = await mongo_copy(config), folder_copy(config)
    assert stored is not None and local is not None
    assert (stored.lineage, stored.version, stored.head) == (local.lineage, local.version, local.head)
    for copy in (stored, local):
        assert copy.lineage == expected.lineage
        assert copy.version >= expected.version
        assert copy.creds == expected.creds
        assert copy.keys == expected.keys


@pytest.mark.parametrize("encryption_key", [None, "mongo secret"])
async def test_every_key_type_round_trips_through_both_copies(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str, encryption_key: str | None
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name, encryption_key=encryption_key)
    store = await open_store(config)
    assert store.loaded_from == "new"
    await store.acquire_lease()
    keys = sample_keys()
    await write(store, keys)
    await write(store, {("session", "nul.0"): None, ("pre-key", "17"): b"\x01" * 64}, creds=False)
    expected = store.snapshot()
    creds = store.creds.to_dict()
    await store.close()
    await assert_copies_equal(config, expected)
    assert expected.keys[("pre-key", "17")] == b"\x01" * 64 and ("session", "nul.0") not in expected.keys

    # The redeploy that wipes the disk: the session comes back from MongoDB, byte for byte.
    shutil.rmtree(tmp_path / "auth")
    again = await open_store(config)
    assert again.loaded_from == "mongodb"
    assert again.creds.to_dict() == creds
    assert again.snapshot().keys == expected.keys
    await again.acquire_lease()  # rebuilds the folder
    await again.close()
    await assert_copies_equal(config, expected)

    client: AsyncMongoClient = AsyncMongoClient(mongo_server.uri)
    db = client[mongo_db_name]
    doc = await db.whatsapp_sessions.find_one({"_id": "test"})
    assert doc is not None
    for field in ("sessionId", "credentials", "connectionStatus", "createdAt", "updatedAt", "version", "lineage"):
        assert field in doc, field
    key_doc = await db.whatsapp_session_keys.find_one({"sessionId": "test", "type": "pre-key", "id": "17"})
    assert key_doc is not None and isinstance(key_doc["value"], bytes)  # BSON Binary, decoded to bytes
    if encryption_key:
        assert set(doc["credentials"]) == {"sealed"} and key_doc["sealed"] is True
        assert key_doc["value"] != b"\x01" * 64
    else:
        assert doc["credentials"]["noise_key"] == creds["noise_key"]
    indexes = await db.whatsapp_session_keys.index_information()
    assert any(ix.get("unique") and [k for k, _ in ix["key"]] == ["sessionId", "type", "id"] for ix in indexes.values())
    await client.close()


async def test_status_and_logout_are_recorded(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    store = await open_store(config)
    await store.acquire_lease()
    await store.set_status(ConnectionStatus.CONNECTING)
    await write(store, sample_keys())
    await store.set_status(ConnectionStatus.OPEN, me_id="15551234567:12@s.whatsapp.net")
    client: AsyncMongoClient = AsyncMongoClient(mongo_server.uri)
    sessions = client[mongo_db_name].whatsapp_sessions
    doc = await sessions.find_one({"_id": "test"})
    assert doc is not None
    assert doc["connectionStatus"] == "open"
    assert doc["phoneNumber"] == "15551234567" and doc["meId"] == "15551234567:12@s.whatsapp.net"
    assert doc["lastUpdate"] is not None

    await store.clear()
    doc = await sessions.find_one({"_id": "test"})
    assert doc is not None and doc["connectionStatus"] == "logged_out" and doc["credentials"] is None
    assert await client[mongo_db_name].whatsapp_session_keys.count_documents({"sessionId": "test"}) == 0
    await store.close()
    assert folder_copy(config) is None or folder_copy(config).creds is None  # type: ignore[union-attr]
    again = await open_store(config)
    assert again.loaded_from == "new"
    await again.close()
    await client.close()


async def test_folder_only_session_is_uploaded_on_first_start_with_mongodb(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    local_config = StoreConfig(auth_dir=tmp_path / "auth", session_id="test")
    store = await open_store(local_config)
    await store.acquire_lease()
    await write(store, sample_keys())
    expected = store.snapshot()
    await store.close()

    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    assert await mongo_copy(config) is None
    store = await open_store(config)
    assert store.loaded_from == "folder"
    await store.acquire_lease()
    await store.close()
    await assert_copies_equal(config, expected)


async def test_mongodb_ahead_of_the_folder_wins(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    """A crash between the MongoDB commit and the folder write leaves MongoDB one version ahead."""
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    store = await open_store(config)
    await store.acquire_lease()
    await write(store, {("session", "a.0"): b"1"})
    await store.close()
    saved = tmp_path / "saved"
    shutil.copytree(tmp_path / "auth", saved)
    store = await open_store(config)
    await store.acquire_lease()
    await write(store, {("session", "a.0"): b"2"})
    expected = store.snapshot()
    await store.close()
    shutil.rmtree(tmp_path / "auth")
    shutil.copytree(saved, tmp_path / "auth")  # the folder as it was before the last unit of work

    again = await open_store(config)
    assert again.loaded_from == "mongodb" and again.version == expected.version
    assert await again.get(KeyType.SESSION, ["a.0"]) == {"a.0": b"2"}
    await again.acquire_lease()
    await again.close()
    await assert_copies_equal(config, expected)


async def test_mongodb_down_at_start_runs_on_the_folder_then_replays(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    await stored_session(config)

    mongo_server.stop(signal.SIGKILL)
    try:
        store = await open_store(config)
        assert store.loaded_from == "folder" and not store.mongo_online
        await store.acquire_lease()  # provisional: MongoDB unreachable
        for i in range(5):
            await write(store, {("session", f"offline{i}.0"): bytes([i]) * 100})
        assert store.pending_changes() >= 5  # (MongoDB's version is unknown until it answers)
    finally:
        mongo_server.start()
    await wait_until(lambda: store.mongo_online, 20)
    expected = store.snapshot()
    await assert_copies_equal(config, expected)
    await store.close()


async def wait_until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_mongodb_stopped_mid_run_writes_never_fail(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    store = await open_store(config)
    await store.acquire_lease()
    await write(store, sample_keys())
    written = 0
    stop = asyncio.Event()

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            await write(
                store,
                {
                    ("session", f"peer{written % 7}.0"): written.to_bytes(4, "big") * 300,
                    ("pre-key", str(written)): b"k" * 64,
                },
            )
            written += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.3)
    mongo_server.stop(signal.SIGKILL)
    before_outage = written
    await asyncio.sleep(3.0)  # the first write waits up to the 2 s write bound, then the folder alone takes them
    assert written > before_outage + 5  # the writes flowed on while MongoDB was down
    assert not task.done()
    mongo_server.start()
    await wait_until(lambda: store.mongo_online, 20)
    await asyncio.sleep(0.3)
    stop.set()
    await task  # re-raises if any write failed
    assert store.pending_changes() == 0
    expected = store.snapshot()
    await store.close()
    await assert_copies_equal(config, expected)


async def test_unreachable_mongodb_without_a_folder_names_the_cause(tmp_path: Path, mongo_db_name: str) -> None:
    uri = f"mongodb://127.0.0.1:{free_port()}/"
    config = fast_mongo_config(tmp_path, uri, mongo_db_name)
    with pytest.raises(MongoUnavailableError, match=r"MongoDB at mongodb://127\.0\.0\.1:\d+/ is unreachable") as info:
        await open_store(config, wait_for_mongodb=False)
    assert "start again once MongoDB is reachable" in str(info.value)


async def test_mongodb_password_never_appears_in_errors(tmp_path: Path, mongo_db_name: str) -> None:
    uri = f"mongodb://bot:hunter2@127.0.0.1:{free_port()}/"
    with pytest.raises(MongoUnavailableError) as info:
        await open_store(fast_mongo_config(tmp_path, uri, mongo_db_name), wait_for_mongodb=False)
    assert "hunter2" not in str(info.value)


async def test_wrong_key_for_the_mongodb_copy_refuses_and_changes_nothing(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name, encryption_key="right")
    await stored_session(config)
    shutil.rmtree(tmp_path / "auth")
    client: AsyncMongoClient = AsyncMongoClient(mongo_server.uri)
    db = client[mongo_db_name]
    before = (await db.whatsapp_sessions.find_one({"_id": "test"}), await db.whatsapp_session_keys.count_documents({}))
    wrong = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name, encryption_key="wrong")
    with pytest.raises(WrongEncryptionKeyError, match=r"does not open .*whatsapp_sessions.*wrong key"):
        await open_store(wrong)
    after = (await db.whatsapp_sessions.find_one({"_id": "test"}), await db.whatsapp_session_keys.count_documents({}))
    assert after == before
    await client.close()


async def test_lease_fences_a_stalled_owner(tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str) -> None:
    first = await open_store(fast_mongo_config(tmp_path / "a", mongo_server.uri, mongo_db_name))
    await first.acquire_lease()
    await write(first, {("session", "a.0"): b"first"})
    # Simulate a process frozen past its lease (GC pause, suspended container): no more renewals.
    assert first._keeper is not None
    await first._keeper.stop_renewal()
    second = await open_store(fast_mongo_config(tmp_path / "b", mongo_server.uri, mongo_db_name))
    assert second.loaded_from == "mongodb"
    started = asyncio.get_running_loop().time()
    await second.acquire_lease()
    assert asyncio.get_running_loop().time() - started < 1.5 + 2.0  # the lease expiry, plus polling slack
    assert (second.lease_token or 0) > (first.lease_token or 0)
    with pytest.raises(LeaseLostError, match="another process took over"):
        await write(first, {("session", "a.0"): b"stale write"})
    assert first.lease_lost.is_set()
    with pytest.raises(LeaseLostError):
        await write(first, {("session", "a.0"): b"again"})
    await write(second, {("session", "b.0"): b"second"})
    stored = await mongo_copy(second.config)
    assert stored is not None and stored.keys[("session", "a.0")] == b"first"
    await second.close()
    await first.close()
    # The stale process's folder knows it lost: its next start takes MongoDB's copy.
    stale = await open_store(fast_mongo_config(tmp_path / "a", mongo_server.uri, mongo_db_name))
    assert stale.loaded_from == "mongodb" and stale.snapshot().keys.get(("session", "b.0")) == b"second"
    await stale.close()


async def test_released_lease_is_taken_at_once(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config_a = fast_mongo_config(tmp_path / "a", mongo_server.uri, mongo_db_name, lease_ttl=30)
    first = await open_store(config_a)
    await first.acquire_lease()
    await write(first, {("session", "a.0"): b"1"})
    second = await open_store(fast_mongo_config(tmp_path / "b", mongo_server.uri, mongo_db_name, lease_ttl=30))
    waiter = asyncio.create_task(second.acquire_lease())
    await asyncio.sleep(0.5)
    assert not waiter.done()
    await write(first, {("session", "a.0"): b"2"})  # written while the other one waits
    await first.close()  # SIGTERM path: releases the lease
    await asyncio.wait_for(waiter, 2.0)  # far sooner than the 30 s expiry
    # It reloaded what the first one wrote while it waited.
    assert await second.get(KeyType.SESSION, ["a.0"]) == {"a.0": b"2"}
    await second.close()


async def test_reset_session_removes_both_copies_and_refuses_while_in_use(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    store = await open_store(config)
    await store.acquire_lease()
    await write(store, sample_keys())
    with pytest.raises(StorageError, match="in use"):
        await reset_session(config)
    await store.close()
    await reset_session(config)
    assert not (tmp_path / "auth" / "test").exists()
    assert await mongo_copy(config) is None
    again = await open_store(config)
    assert again.loaded_from == "new"
    await again.close()


async def test_export_and_import_a_whole_session(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name, encryption_key="at rest")
    expected = await stored_session(config)
    backup = tmp_path / "backup.wasession"
    await export_session(config, backup, "backup passphrase")
    assert b"noise_key" not in backup.read_bytes()
    with pytest.raises(BackupError, match="passphrase does not open"):
        await import_session(config, backup, "not the passphrase")

    await reset_session(config)
    await import_session(config, backup, "backup passphrase")
    restored = await open_store(config)
    assert restored.loaded_from == "mongodb"
    assert restored.snapshot().creds == expected.creds and restored.snapshot().keys == expected.keys
    await restored.acquire_lease()
    state = restored.snapshot()
    await restored.close()
    await assert_copies_equal(config, state)


async def test_forked_offline_history_never_overwrites_mongodb(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    """An old disk (stale folder) starts while MongoDB is down and writes; MongoDB's newer history must win."""
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    store = await open_store(config)
    await store.acquire_lease()
    for i in range(3):
        await write(store, {("session", "a.0"): f"mongo {i}".encode()})
    old_version = store.version
    await store.close()
    saved = tmp_path / "old-disk"
    shutil.copytree(tmp_path / "auth", saved)
    store = await open_store(config)
    await store.acquire_lease()
    for i in range(3, 6):
        await write(store, {("session", "a.0"): f"mongo {i}".encode()})
    expected = store.snapshot()
    await store.close()
    shutil.rmtree(tmp_path / "auth")
    shutil.copytree(saved, tmp_path / "auth")

    mongo_server.stop(signal.SIGKILL)
    try:
        stale = await open_store(config)
        assert stale.loaded_from == "folder" and stale.version == old_version
        await stale.acquire_lease()
        for i in range(5):  # numbers beyond MongoDB's, but another history
            await write(stale, {("session", "a.0"): f"fork {i}".encode()})
    finally:
        mongo_server.start()
    await wait_until(stale.lease_lost.is_set, 20)
    with pytest.raises(LeaseLostError):
        await write(stale, {("session", "a.0"): b"more"})
    await stale.close()
    stored = await mongo_copy(config)
    assert stored is not None
    assert (stored.version, stored.head, stored.keys) == (expected.version, expected.head, expected.keys)
    again = await open_store(config)
    assert again.loaded_from == "mongodb" and await again.get(KeyType.SESSION, ["a.0"]) == {"a.0": b"mongo 5"}
    await again.acquire_lease()
    await again.close()
    await assert_copies_equal(config, expected)


async def test_outbox_survives_a_restart_while_mongodb_is_down(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    await stored_session(config)
    mongo_server.stop(signal.SIGKILL)
    try:
        offline = await open_store(config)
        await offline.acquire_lease()
        for i in range(4):
            await write(offline, {("session", f"offline{i}.0"): bytes([i]) * 50, ("pre-key", "17"): None})
        expected = offline.snapshot()
        await offline.close()  # MongoDB still down: the changes stay in the folder's journal (the outbox)
    finally:
        mongo_server.start()
    stored = await mongo_copy(config)
    assert stored is not None and stored.version == expected.version - 4
    restarted = await open_store(config)
    assert restarted.loaded_from == "folder" and restarted.version == expected.version
    await restarted.acquire_lease()  # replays the four changes, in order
    await restarted.close()
    await assert_copies_equal(config, expected)


async def test_wiped_disk_and_a_mongodb_blip_before_the_lease(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    """Loaded from MongoDB onto an empty disk, then MongoDB drops before the lease: the folder carries on."""
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    await stored_session(config)
    shutil.rmtree(tmp_path / "auth")
    store = await open_store(config)
    assert store.loaded_from == "mongodb"
    mongo_server.stop(signal.SIGKILL)
    try:
        await store.acquire_lease()  # provisional
        await write(store, {("session", "blip.0"): b"1"})  # the folder is rebuilt whole, then carries on
        await write(store, {("session", "blip.0"): b"2"})
    finally:
        mongo_server.start()
    await wait_until(lambda: store.mongo_online, 20)
    assert not store.lease_lost.is_set()
    expected = store.snapshot()
    await store.close()
    await assert_copies_equal(config, expected)


class LogLines:
    """Collects the store's log lines (loguru) of one level and up, for assertions on what operators see."""

    def __init__(self, level: str = "INFO") -> None:
        self.lines: list[tuple[str, str]] = []
        self._id = logger.add(lambda m: self.lines.append((m.record["level"].name, m.record["message"])), level=level)

    def close(self) -> None:
        logger.remove(self._id)

    def with_level(self, level: str) -> list[str]:
        return [message for name, message in self.lines if name == level]


async def test_mongodb_down_at_boot_without_a_local_copy_waits_then_loads(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    expected = await stored_session(config)
    shutil.rmtree(tmp_path / "auth")  # a redeploy onto a fresh disk ...
    mongo_server.stop(signal.SIGKILL)  # ... while the database restarts
    log = LogLines()
    try:
        opening = asyncio.create_task(open_store(config))
        await asyncio.sleep(3.0)
        assert not opening.done()  # it stays up and waits, rather than pairing anew or exiting
        waits = [line for line in log.with_level("WARNING") if "waiting for MongoDB" in line]
        assert len(waits) == 1 and f"127.0.0.1:{mongo_server.client_port}" in waits[0], log.lines
    finally:
        mongo_server.start()
    back = asyncio.get_running_loop().time()
    again = await asyncio.wait_for(opening, 10)
    assert asyncio.get_running_loop().time() - back < 5  # within seconds of MongoDB's return
    log.close()
    assert again.loaded_from == "mongodb" and again.snapshot().keys == expected.keys
    assert len([line for line in log.with_level("WARNING") if "waiting for MongoDB" in line]) == 1
    await again.acquire_lease()
    await again.close()


async def test_waiting_for_mongodb_shows_the_host_not_the_password_and_stops_at_once(
    tmp_path: Path, mongo_db_name: str
) -> None:
    port = free_port()
    config = fast_mongo_config(tmp_path, f"mongodb://bot:hunter2@127.0.0.1:{port}/", mongo_db_name)
    log = LogLines("WARNING")
    try:
        opening = asyncio.create_task(open_store(config))
        await asyncio.sleep(2.0)
        assert not opening.done()
        text = "\n".join(message for _level, message in log.lines)
        assert f"waiting for MongoDB at mongodb://127.0.0.1:{port}/" in text and "hunter2" not in text, text
        cancelled_at = asyncio.get_running_loop().time()
        opening.cancel()  # what SIGTERM does in bot.py
        with pytest.raises(asyncio.CancelledError):
            await opening
        assert asyncio.get_running_loop().time() - cancelled_at < 1.5
    finally:
        log.close()
    assert not (tmp_path / "auth").exists() or not any((tmp_path / "auth").rglob("*.json"))  # nothing written


@pytest.mark.parametrize("damage", ["creds.json deleted", "key file damaged", "journal entry edited"])
async def test_a_damaged_folder_is_moved_aside_and_rebuilt_from_mongodb(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str, damage: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    store = await open_store(config)
    await store.acquire_lease()
    await write(store, sample_keys())
    await write(store, {("pre-key", "17"): b"\x02" * 64}, creds=False)
    expected = store.snapshot()
    await store.close()
    folder = tmp_path / "auth" / "test"
    if damage == "creds.json deleted":
        (folder / "creds.json").unlink()
    elif damage == "key file damaged":
        target = folder / "keys" / "pre-key" / "17.key"
        target.write_bytes(target.read_bytes()[:-1] + bytes([target.read_bytes()[-1] ^ 1]))
    else:
        (folder / "journal").mkdir(exist_ok=True)
        (folder / "journal" / f"{expected.version + 1:012d}.json").write_bytes(b'{"sha256":"00","body":{}}\n')
    with pytest.raises(CorruptSessionError):
        FolderStore(tmp_path / "auth", "test", None).load()  # the damage is real

    log = LogLines()
    try:
        again = await open_store(config)
        assert again.loaded_from == "mongodb"
        await again.acquire_lease()
        state = again.snapshot()
        await again.close()
    finally:
        log.close()
    warnings = log.with_level("WARNING")
    assert len(warnings) == 1 and "damaged" in warnings[0] and "moved it to" in warnings[0], log.lines
    aside = list((tmp_path / "auth").glob("test.damaged-*"))
    assert len(aside) == 1 and (aside[0] / "session.json").exists()  # kept for a post-mortem
    assert state.creds == expected.creds and state.keys == expected.keys
    await assert_copies_equal(config, expected)


async def test_keys_without_credentials_is_damage_never_a_new_pairing(tmp_path: Path) -> None:
    config = StoreConfig(auth_dir=tmp_path / "auth", session_id="test")
    await stored_session(config)
    (tmp_path / "auth" / "test" / "creds.json").unlink()
    with pytest.raises(CorruptSessionError, match=r"creds\.json is missing although .* holds \d+ keys"):
        await open_store(config)
