"""Logged out is archived, not destroyed: a 401 (device_removed) leaves a copy of the session in the folder
archive and in MongoDB's `whatsapp_sessions_archive`, and the production session can be put back and used."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from pymongo import AsyncMongoClient

from storage import SessionMonitor, StorageError, open_store, reset_session
from storage.archive import (
    ARCHIVE_COLLECTION,
    ArchiveEntry,
    archive_name,
    archive_root,
    list_archives,
    load_archive,
    prune_archive_folders,
)
from storage.backup import restore_archive
from storage.config import StoreConfig
from storage.history import read_history
from storage.mongo import SESSIONS
from tests.fixtures.mongo import MongoTestServer
from tests.storage_helpers import fast_mongo_config
from whatsapp import events
from whatsapp.client import Client
from whatsapp.reconnect import ReconnectPolicy
from whatsapp.testing import EmulatedServer

pytestmark = pytest.mark.mongo
PHONE = "15550002222"


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO", format="{level} {message}")
    yield lines
    logger.remove(sink)


class Seen:
    def __init__(self) -> None:
        self.events: list[events.Event] = []
        self.changed = asyncio.Condition()

    async def __call__(self, event: events.Event) -> None:
        async with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    async def wait(self, kind: type[events.Event], count: int = 1, timeout: float = 20.0) -> Any:
        async def waiter() -> Any:
            async with self.changed:
                await self.changed.wait_for(lambda: len([e for e in self.events if isinstance(e, kind)]) >= count)
                return [e for e in self.events if isinstance(e, kind)][count - 1]

        return await asyncio.wait_for(waiter(), timeout)


def make_client(server: EmulatedServer, store: Any, seen: Seen) -> Client:
    # The library default: after a logout the client clears the session and stops.
    client = Client(store, url=server.url, root_public_key=server.root_public_key, policy=ReconnectPolicy())
    client.on(events.Event)(seen)
    return client


async def _folded_credentials(uri: str, db: str, session_id: str, timeout: float = 20.0) -> None:
    client_db: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    try:
        async with asyncio.timeout(timeout):
            while True:
                doc = await client_db[db][SESSIONS].find_one({"_id": session_id})
                if doc is not None and doc.get("credentials") is not None:
                    return
                await asyncio.sleep(0.2)
    finally:
        await client_db.close()


async def test_device_removed_archives_both_copies_and_the_production_session_is_recoverable(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str, log_lines: list[str]
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name, encryption_key="production key")
    async with EmulatedServer() as server:
        account = server.create_account(PHONE)
        store = await open_store(config)
        await store.acquire_lease()
        seen = Seen()
        client = make_client(server, store, seen)
        monitor = SessionMonitor(config)
        monitor.attach(client, store)
        await client.start()
        await account.phone.scan_qr((await seen.wait(events.QR)).code)
        await seen.wait(events.Connected)
        await seen.wait(events.PrekeysUploaded)
        production = store.snapshot()
        me_id = store.creds.me_id
        assert production.creds is not None and me_id
        # The credentials reach MongoDB's session document with the background fold; until then they sit in
        # change-log entries. Wait for the fold, so the archived session document checked below holds them.
        await _folded_credentials(mongo_server.uri, mongo_db_name, config.session_id)

        await server.faults.device_removed(server.state.device_for(me_id))
        logged_out = await seen.wait(events.LoggedOut)
        assert logged_out.reason.code == 401
        await client.wait()
        await monitor.aclose()
        await store.close()

    # Both production copies are cleared...
    cleared = await open_store(config)
    assert cleared.snapshot().creds is None and not cleared.snapshot().keys
    await cleared.close()
    # ...and the archive holds the session in both places, with the reason, encrypted as it was stored.
    [entry] = await list_archives(config)
    assert entry.folder is not None and entry.folder.parent == archive_root(config.auth_dir)
    assert entry.in_mongodb and entry.version == production.version
    assert "401" in entry.reason and "device removed" in entry.reason
    assert datetime.now(UTC) - entry.archived_at < timedelta(minutes=2)
    meta = json.loads((entry.folder / "archive.json").read_text())
    assert meta["reason"] == entry.reason
    assert b"identity" not in (entry.folder / "creds.json").read_bytes()  # sealed, as the production copy was
    assert json.loads((entry.folder / "session.json").read_text())["body"]["encryption"] is not None
    assert os.stat(entry.folder).st_mode & 0o777 == 0o700
    client_db = AsyncMongoClient(mongo_server.uri, tz_aware=True)
    try:
        marker = await client_db[mongo_db_name][ARCHIVE_COLLECTION].find_one({"_id": entry.name})
        assert marker is not None and marker["reason"] == entry.reason
        assert "sealed" in marker["session"]["credentials"]
        # Every document of the session (key documents, and the change-log entries not folded yet), verbatim.
        archived = await client_db[mongo_db_name][ARCHIVE_COLLECTION].distinct(
            "collection", {"archiveId": entry.name, "kind": "document"}
        )
        assert "whatsapp_session_changes" in archived
        assert marker["documents"] == await client_db[mongo_db_name][ARCHIVE_COLLECTION].count_documents(
            {"archiveId": entry.name, "kind": "document"}
        )
        indexes = await client_db[mongo_db_name][ARCHIVE_COLLECTION].index_information()
        assert indexes["archive_ttl"]["expireAfterSeconds"] == 30 * 86400
    finally:
        await client_db.close()
    # One log line says where.
    [line] = [line for line in log_lines if "archived before removal" in line]
    assert str(entry.folder) in line and ARCHIVE_COLLECTION in line and entry.name in line
    # The history recorded the lifecycle.
    _source, history = await read_history(config)
    kinds = [h.event for h in history]
    assert kinds[0] == "lease_taken" and "open" in kinds and kinds[-1] == "logged_out"
    assert any(h.event == "close" and h.code == 401 for h in history)

    # Each archive copy opens with the key and holds the production session.
    for source in ("folder", "mongodb"):
        snapshot = await load_archive(config, entry, source)
        assert snapshot.creds == production.creds and snapshot.keys == production.keys, source

    # Restored, the production session logs in again as the same linked device, with no QR.
    await restore_archive(config, entry.name)
    restored = await open_store(config)
    assert restored.creds.me_id == me_id and restored.snapshot().keys == production.keys
    await restored.close()


async def test_restored_session_logs_in_again_without_a_qr(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    async with EmulatedServer() as server:
        account = server.create_account(PHONE)
        store = await open_store(config)
        await store.acquire_lease()
        seen = Seen()
        client = make_client(server, store, seen)
        SessionMonitor(config).attach(client, store)
        await client.start()
        await account.phone.scan_qr((await seen.wait(events.QR)).code)
        await seen.wait(events.PrekeysUploaded)
        me_id = store.creds.me_id
        # The emulator's device_removed fault sends the stream error only: the device stays linked, so the
        # restored credentials are still valid there (as they would be after a mistaken logout elsewhere).
        await server.faults.device_removed(server.state.device_for(me_id))
        await seen.wait(events.LoggedOut)
        await client.wait()
        await store.close()

        [entry] = await list_archives(config)
        await restore_archive(config, entry.name, "folder")
        store = await open_store(config)
        await store.acquire_lease()
        assert store.creds.me_id == me_id
        seen = Seen()
        client = make_client(server, store, seen)
        await client.start()
        connected = await seen.wait(events.Connected)
        assert connected.me_id == me_id and not [e for e in seen.events if isinstance(e, events.QR)]
        await client.close()
        await store.close()
    # The restore archived what it replaced (the logged-out state holds nothing, so there is nothing new).
    assert [a.name for a in await list_archives(config)] == [entry.name]


async def test_reset_archives_first_and_refuses_to_delete_when_nothing_can_be_archived(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    store = await open_store(config)
    await store.acquire_lease()
    async with store.transaction() as tx:
        tx.set_creds(store.creds)
    await store.close()
    await reset_session(config)
    [entry] = await list_archives(config)
    assert entry.reason == "reset" and entry.folder is not None and entry.in_mongodb
    assert (await load_archive(config, entry, "mongodb")).creds is not None

    # No MongoDB, and the folder archive cannot be written (`.archive` is a file): nothing is deleted.
    local = StoreConfig(auth_dir=tmp_path / "local", session_id="test")
    store = await open_store(local)
    await store.acquire_lease()
    async with store.transaction() as tx:
        tx.set_creds(store.creds)
    await store.close()
    archive_root(local.auth_dir).write_text("in the way")
    with pytest.raises(StorageError, match="could not archive the session before it is removed"):
        await reset_session(local)
    assert (local.auth_dir / "test" / "creds.json").exists()
    archive_root(local.auth_dir).unlink()
    await reset_session(local)
    assert not (local.auth_dir / "test").exists()
    [entry] = await list_archives(local)
    assert entry.folder is not None and (entry.folder / "creds.json").exists()


def test_archive_folders_older_than_30_days_are_pruned(tmp_path: Path) -> None:
    root = archive_root(tmp_path)
    now = datetime.now(UTC)
    old = root / archive_name("default", now - timedelta(days=31))
    young = root / archive_name("default", now - timedelta(days=29))
    stale_partial = root / (archive_name("other", now - timedelta(days=2)) + ".partial")
    unrelated = root / "notes"
    for path in (old, young, stale_partial, unrelated):
        path.mkdir(parents=True)
    assert sorted(prune_archive_folders(tmp_path, now)) == sorted([old, stale_partial])
    assert young.is_dir() and unrelated.is_dir()


def test_archive_entry_names_sort_by_time() -> None:
    a = archive_name("s", datetime(2025, 1, 1, tzinfo=UTC))
    b = archive_name("s", datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=UTC))
    assert a < b and a.startswith("s-2025")
    assert ArchiveEntry(a, "s", "r", datetime.now(UTC)).folder is None
