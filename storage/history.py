"""Connection history per session: the last 1,000 lifecycle events, in MongoDB and in the folder.

Events: `pairing`, `paired`, `open`, `close` (with the reason code), `logged_out`, `conflict` (440),
`lease_taken`, `lease_lost`; each with the host, pid and time. `SessionHistory.record()` only queues
the entry: a background task writes batches to both places, so the stanza flow never waits for a disk
or a database. A sink that fails is logged once (and once more when it works again); its entries are
dropped, never retried forever — the history is a diagnostic aid, the session does not depend on it.

* folder: `<AUTH_DIR>/.history/<session>.jsonl`, one JSON object per line; at 1,000 lines the file
  becomes `<session>.1.jsonl` (the previous one is dropped), so at most 2,000 lines are on disk and
  the last 1,000 are always there. Outside the session folder, so a reset or a rebuild keeps it.
* MongoDB: `whatsapp_session_history` `{sessionId, at, event, code, reason, host, pid}`, trimmed by
  count in code after each batch (a capped collection cannot be capped per session).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from storage.config import StoreConfig, close_side_client, side_client
from storage.fsio import make_dir
from storage.mongo import DEFAULT_DB, redact_uri
from storage.sidequeue import SideQueue

HISTORY_COLLECTION = "whatsapp_session_history"
HISTORY_FOLDER = ".history"
HISTORY_LIMIT = 1000
QUEUE_LIMIT = 1000  # entries waiting for the writer; past it the oldest are dropped (a sink is stuck)
EVENTS = ("pairing", "paired", "open", "close", "logged_out", "conflict", "lease_taken", "lease_lost")


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    event: str
    host: str
    pid: int
    code: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> HistoryEntry:
        code = value.get("code")
        at = value["at"]
        return cls(
            at=at if isinstance(at, datetime) else datetime.fromisoformat(str(at)),
            event=str(value["event"]),
            host=str(value.get("host") or ""),
            pid=int(value.get("pid") or 0),
            code=int(code) if code is not None else None,
            reason=str(value["reason"]) if value.get("reason") is not None else None,
        )

    def line(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z  {self.event}{code}{reason}  {self.host} pid {self.pid}"


# ---- the folder file ----


class HistoryFile:
    """`<AUTH_DIR>/.history/<session>.jsonl` and its one rotated predecessor (blocking; run in a thread)."""

    def __init__(self, auth_dir: Path, session_id: str, limit: int = HISTORY_LIMIT) -> None:
        self.dir = Path(auth_dir) / HISTORY_FOLDER
        self.path = self.dir / f"{session_id}.jsonl"
        self.rotated = self.dir / f"{session_id}.1.jsonl"
        self.limit = limit
        self._lines: int | None = None

    def append(self, entries: list[HistoryEntry]) -> None:
        make_dir(self.dir)
        if self._lines is None:
            self._lines = _count_lines(self.path)
        for entry in entries:
            if self._lines >= self.limit:
                os.replace(self.path, self.rotated)
                self._lines = 0
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, json.dumps(entry.to_json(), separators=(",", ":")).encode() + b"\n")
            finally:
                os.close(fd)
            self._lines += 1

    def read(self, limit: int | None = None) -> list[HistoryEntry]:
        entries: list[HistoryEntry] = []
        for path in (self.rotated, self.path):
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    entries.append(HistoryEntry.from_json(json.loads(line)))
                except (ValueError, KeyError, TypeError):
                    logger.warning("{}:{}: not a history entry; skipped", path, number)
        return entries[-(limit or self.limit) :]


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as file:
            return sum(1 for _ in file)
    except FileNotFoundError:
        return 0


# ---- MongoDB ----


async def append_mongo(
    client: AsyncMongoClient[dict[str, Any]],
    db_name: str,
    session_id: str,
    entries: list[HistoryEntry],
    limit: int = HISTORY_LIMIT,
) -> None:
    collection = client[db_name][HISTORY_COLLECTION]
    await collection.insert_many([{"sessionId": session_id, **asdict(entry)} for entry in entries], ordered=True)
    # ObjectIds grow with time (and with a counter within a process): everything at or below the
    # limit-th newest one goes.
    cursor = collection.find({"sessionId": session_id}, {"_id": 1}).sort("_id", -1).skip(limit).limit(1)
    oldest_kept_beyond = await cursor.to_list(1)
    if oldest_kept_beyond:
        await collection.delete_many({"sessionId": session_id, "_id": {"$lte": oldest_kept_beyond[0]["_id"]}})


async def read_mongo(
    client: AsyncMongoClient[dict[str, Any]], db_name: str, session_id: str, limit: int = HISTORY_LIMIT
) -> list[HistoryEntry]:
    cursor = client[db_name][HISTORY_COLLECTION].find({"sessionId": session_id}).sort("_id", -1).limit(limit)
    docs = await cursor.to_list(limit)
    return [HistoryEntry.from_json(doc) for doc in reversed(docs)]


async def read_history(config: StoreConfig, limit: int = HISTORY_LIMIT) -> tuple[str, list[HistoryEntry]]:
    """The last `limit` entries: from MongoDB when configured and reachable, else from the folder."""
    if config.mongodb_uri:
        client = side_client(config)
        try:
            entries = await read_mongo(client, config.mongodb_db or DEFAULT_DB, config.session_id, limit)
            return f"MongoDB {redact_uri(config.mongodb_uri)}", entries
        except PyMongoError as exc:
            logger.warning("history: MongoDB unreachable ({}); reading the folder copy", str(exc)[:120])
        finally:
            await close_side_client(client)
    history_file = HistoryFile(config.auth_dir, config.session_id)
    return str(history_file.path), await asyncio.to_thread(history_file.read, limit)


# ---- the recorder ----


class SessionHistory:
    """Queues entries and writes them from a background task; `record()` never waits."""

    def __init__(self, config: StoreConfig, *, host: str | None = None, limit: int = HISTORY_LIMIT) -> None:
        self.config = config
        self.host = host or socket.gethostname()
        self.limit = limit
        self.file = HistoryFile(config.auth_dir, config.session_id, limit)
        self._queue = SideQueue(f"session {config.session_id}: history writer", self._write, QUEUE_LIMIT, batch=True)
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._failing: set[str] = set()  # sinks whose failure was logged and not yet recovered

    def record(self, event: str, *, code: int | None = None, reason: str | None = None) -> None:
        entry = HistoryEntry(datetime.now(UTC), event, self.host, os.getpid(), code, reason)
        if not self._queue.put(entry) and self._queue.dropped == 1:  # a stuck sink must not grow memory
            logger.warning("session {}: history writer is behind; dropping the oldest entries", self.config.session_id)

    async def _write(self, batch: list[HistoryEntry]) -> None:
        try:
            await asyncio.to_thread(self.file.append, batch)
            self._recovered("folder")
        except Exception as exc:  # a diagnostic record: never let it take the writer down
            self._failed("folder", f"{self.file.path}: {exc}")
        if self.config.mongodb_uri:
            if self._client is None:
                self._client = side_client(self.config)
            try:
                db = self.config.mongodb_db or DEFAULT_DB
                await append_mongo(self._client, db, self.config.session_id, batch, self.limit)
                self._recovered("MongoDB")
            except Exception as exc:  # PyMongoError mostly; never let it take the writer down
                self._failed("MongoDB", f"{redact_uri(self.config.mongodb_uri)}: {type(exc).__name__}")

    def _failed(self, sink: str, detail: str) -> None:
        if sink not in self._failing:
            self._failing.add(sink)
            logger.warning(
                "session {}: connection history not written to {} ({}); not logged again until it works",
                self.config.session_id,
                sink,
                detail,
            )

    def _recovered(self, sink: str) -> None:
        if sink in self._failing:
            self._failing.discard(sink)
            logger.info("session {}: connection history written to {} again", self.config.session_id, sink)

    async def flush(self, timeout: float = 2.0) -> bool:
        """Wait (bounded) until every queued entry was written or given up; False on timeout."""
        return await self._queue.flush(timeout)

    async def aclose(self, timeout: float = 2.0) -> None:
        left = await self._queue.aclose(timeout)
        if left:
            logger.warning("session {}: {} history entries not written before closing", self.config.session_id, left)
        if self._client is not None:
            await close_side_client(self._client)
            self._client = None
