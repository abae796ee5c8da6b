"""Connection history: bounded to the last 1,000 entries in MongoDB and in the folder, written off the hot path,
a failing sink logged once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger
from pymongo import AsyncMongoClient

from storage.config import StoreConfig
from storage.history import HISTORY_COLLECTION, QUEUE_LIMIT, HistoryFile, SessionHistory, read_history
from tests.fixtures.mongo import MongoTestServer, free_port


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


@pytest.mark.mongo
async def test_history_keeps_the_last_1000_entries_in_both_places(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = StoreConfig(auth_dir=tmp_path / "auth", session_id="s1", mongodb_uri=mongo_server.uri,
                         mongodb_db=mongo_db_name)
    history = SessionHistory(config, host="host-a")
    for i in range(1100):
        history.record("close", code=428, reason=f"n{i}")
        if i % 100 == 0:
            await asyncio.sleep(0.02)  # let the writer take several batches
    history.record("open")
    assert await history.flush(timeout=20)
    await history.aclose()

    source, entries = await read_history(config)
    assert source.startswith("MongoDB") and len(entries) == 1000
    assert entries[-1].event == "open" and entries[0].reason == "n101" and entries[-2].reason == "n1099"
    assert all(e.host == "host-a" and e.pid > 0 for e in entries)
    client = AsyncMongoClient(mongo_server.uri)
    try:
        assert await client[mongo_db_name][HISTORY_COLLECTION].count_documents({"sessionId": "s1"}) == 1000
    finally:
        await client.close()

    folder = HistoryFile(config.auth_dir, "s1")
    on_disk = folder.read()
    assert [e.reason for e in on_disk] == [e.reason for e in entries]
    lines = sum(len(p.read_text().splitlines()) for p in (folder.path, folder.rotated))
    assert lines <= 2000
    assert (folder.dir.stat().st_mode & 0o777) == 0o700


async def test_record_never_waits_and_a_failing_mongodb_is_logged_once(tmp_path: Path, warnings: list[str]) -> None:
    config = StoreConfig(auth_dir=tmp_path / "auth", session_id="s2",
                         mongodb_uri=f"mongodb://127.0.0.1:{free_port()}/", mongo_timeout=0.2)
    history = SessionHistory(config)
    started = time.perf_counter()
    for _ in range(50):
        history.record("open")
    assert time.perf_counter() - started < 0.05  # queued only
    await asyncio.sleep(0.5)
    history.record("close", code=428)
    await history.aclose(timeout=5)
    mongo_warnings = [w for w in warnings if "connection history not written to MongoDB" in w]
    assert len(mongo_warnings) == 1
    source, entries = await read_history(config)
    assert source.endswith("s2.jsonl") and len(entries) == 51  # the folder copy has everything


def test_a_damaged_history_line_is_skipped_with_one_line(tmp_path: Path, warnings: list[str]) -> None:
    history_file = HistoryFile(tmp_path, "s3")
    history_file.dir.mkdir(parents=True)
    good = {"at": "2025-01-01T00:00:00+00:00", "event": "open", "host": "h", "pid": 1}
    history_file.path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(good) + "\n")
    assert [e.event for e in history_file.read()] == ["open", "open"]
    assert len([w for w in warnings if "not a history entry" in w]) == 1


async def test_a_stuck_writer_drops_the_oldest_entries_and_close_stays_bounded(
    tmp_path: Path, warnings: list[str]
) -> None:
    history = SessionHistory(StoreConfig(auth_dir=tmp_path / "auth", session_id="s4"))
    for i in range(QUEUE_LIMIT + 50):  # no yield: the writer cannot run, the queue overflows
        history.record("close", reason=str(i))
    assert len([w for w in warnings if "dropping the oldest" in w]) == 1
    started = time.perf_counter()
    assert await history.flush(timeout=10)
    await history.aclose()
    assert time.perf_counter() - started < 10
    entries = HistoryFile(tmp_path / "auth", "s4").read()
    assert len(entries) == QUEUE_LIMIT and entries[-1].reason == str(QUEUE_LIMIT + 49)


class FakeStore:
    def __init__(self) -> None:
        self.lease_lost = asyncio.Event()
        self.lease_token: int | None = 7
        self.logout_reason = None


async def test_the_monitor_records_conflict_and_lease_events(tmp_path: Path) -> None:
    from storage.monitor import SessionMonitor
    from tests.test_storage_ops_webhook import FakeClient
    from whatsapp import events
    from whatsapp.reconnect import DisconnectKind, DisconnectReason

    config = StoreConfig(auth_dir=tmp_path / "auth", session_id="s5")
    monitor = SessionMonitor(config, host="h")
    client, store = FakeClient(), FakeStore()
    monitor.attach(client, store)
    client.emit(events.Connected("1@s.whatsapp.net", None))
    client.emit(events.Replaced(DisconnectReason(DisconnectKind.REPLACED, 440, "connection replaced (replaced)")))
    store.lease_lost.set()
    await asyncio.sleep(0.05)
    await monitor.aclose()
    entries = HistoryFile(config.auth_dir, "s5").read()
    assert [(e.event, e.code) for e in entries] == [("lease_taken", 7), ("open", None), ("conflict", 440),
                                                    ("lease_lost", 7)]
    assert store.logout_reason is not None and store.logout_reason() is None  # no disconnect recorded
