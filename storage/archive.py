"""Logged out is archived, not destroyed: a copy of the session as stored, taken before anything deletes it.

Before the store clears a session (401 / device_removed / 403 / 406), before `reset` and before an import
replaces it, both copies are copied verbatim — still encrypted if they were — with the reason and time:

* folder: `<AUTH_DIR>/.archive/<session>-<UTC timestamp>/` (0700), the session folder's files plus
  `archive.json` (reason, time, host). `.archive` cannot be a session id (SESSION_ID may not start
  with '.'), so it never collides with a session folder. Folders older than 30 days are pruned
  whenever an archive is written and when the bot starts (`prune_archive_folders`).
* MongoDB: `whatsapp_sessions_archive`, one marker document `{_id: <name>, kind: "archive", reason,
  archivedAt, session: <the whatsapp_sessions document>}` written LAST (so a marker means a complete
  copy), and one `{kind: "document", collection, doc}` per document of the session in the other
  `whatsapp_session*` collections (keys, and whatever else the commit protocol keeps there; the lease
  is left out: fencing tokens only grow). A TTL index on `archivedAt` drops them after 30 days.

An archive is restored (`storage.backup.restore_archive`, `python -m storage restore NAME`) by loading
it with the store's own reader into a scratch location and installing that session into both copies.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from storage.config import StoreConfig, close_side_client, side_client
from storage.errors import BackupError, StorageError
from storage.fsio import fsync_dir, make_dir, write_file
from storage.model import Snapshot
from storage.mongo import CHANGES, DEFAULT_DB, DURABLE, LEASES, SESSIONS, redact_uri

ARCHIVE_COLLECTION = "whatsapp_sessions_archive"
ARCHIVE_FOLDER = ".archive"
ARCHIVE_META = "archive.json"
RETENTION = timedelta(days=30)
SESSION_COLLECTIONS = "whatsapp_session"  # prefix of every collection holding session data
# Not session data: leases (tokens must only grow), the archive itself, the connection history.
NOT_ARCHIVED = frozenset({LEASES, ARCHIVE_COLLECTION, "whatsapp_session_history"})
NAME_PATTERN = re.compile(r"^(?P<session>[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})-(?P<at>\d{8}T\d{12}Z)$")
BATCH = 500


@dataclass(frozen=True)
class ArchiveEntry:
    """One archived session, as found in the folder archive and/or MongoDB."""

    name: str
    session_id: str
    reason: str
    archived_at: datetime
    folder: Path | None = None
    in_mongodb: bool = False
    version: int | None = None


def archive_root(auth_dir: Path) -> Path:
    return Path(auth_dir) / ARCHIVE_FOLDER


def archive_name(session_id: str, now: datetime) -> str:
    return f"{session_id}-{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def _name_time(name: str) -> datetime | None:
    match = NAME_PATTERN.match(name)
    if match is None:
        return None
    return datetime.strptime(match["at"], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


# ---- taking an archive ----


async def archive_session(config: StoreConfig, reason: str, *, now: datetime | None = None) -> ArchiveEntry | None:
    """Copy the stored session (both copies, as stored) into the archive before it is deleted or replaced.

    Returns None when there is nothing to archive. Raises StorageError when there is a session but no
    copy of it could be archived, so the caller deletes nothing.
    """
    now = now or datetime.now(UTC)
    name = archive_name(config.session_id, now)
    meta = {
        "name": name,
        "sessionId": config.session_id,
        "reason": reason,
        "archivedAt": now.isoformat(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    errors: list[str] = []
    folder: Path | None = None
    try:
        folder = await asyncio.to_thread(_archive_folder, config, name, meta)
    except (OSError, StorageError) as exc:
        errors.append(f"folder: {exc}")
    version: int | None = None
    if config.mongodb_uri:
        try:
            version = await _archive_mongo(config, name, reason, now)
        except (PyMongoError, StorageError) as exc:
            errors.append(f"MongoDB {redact_uri(config.mongodb_uri)}: {type(exc).__name__}: {str(exc)[:200]}")
    if folder is None and version is None:
        if errors:
            raise StorageError(
                f"session {config.session_id!r}: could not archive the session before it is removed "
                f"({'; '.join(errors)}); nothing was deleted"
            )
        return None
    where = []
    if folder is not None:
        where.append(f"folder {folder}")
    if version is not None:
        db = config.mongodb_db or DEFAULT_DB
        where.append(f"MongoDB {redact_uri(config.mongodb_uri or '')} {db}.{ARCHIVE_COLLECTION} (_id {name!r})")
    logger.warning(
        "session {}: archived before removal ({}): {}; kept {} days, restore with `python -m storage restore {}`{}",
        config.session_id,
        reason,
        " and ".join(where),
        RETENTION.days,
        name,
        f" (not archived: {'; '.join(errors)})" if errors else "",
    )
    try:
        await asyncio.to_thread(prune_archive_folders, config.auth_dir, now)
    except OSError as exc:
        logger.warning("archive folder {}: pruning old archives failed: {}", archive_root(config.auth_dir), exc)
    return ArchiveEntry(name, config.session_id, reason, now, folder, version is not None, version)


def _archive_folder(config: StoreConfig, name: str, meta: dict[str, Any]) -> Path | None:
    source = Path(config.auth_dir) / config.session_id
    if not (source / "session.json").exists():
        return None
    root = archive_root(config.auth_dir)
    make_dir(root)
    partial = root / f"{name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    shutil.copytree(source, partial, ignore=shutil.ignore_patterns(".lock", "*.tmp"))
    os.chmod(partial, 0o700)
    write_file(partial / ARCHIVE_META, json.dumps(meta, indent=1).encode() + b"\n", durable=False)
    # One sync for the thousands of copied key files (an fsync each would take seconds on a slow disk),
    # then the rename that makes the archive visible: it exists whole or not at all.
    os.sync()
    target = root / name
    os.replace(partial, target)
    fsync_dir(root)
    return target


async def _archive_mongo(config: StoreConfig, name: str, reason: str, now: datetime) -> int | None:
    """Copy every document of the session; the marker goes last. Returns the archived version, None if none."""
    client = side_client(config)
    try:
        db = client[config.mongodb_db or DEFAULT_DB]
        session_doc = await db[SESSIONS].find_one({"_id": config.session_id})
        if session_doc is None:
            return None
        archive = db.get_collection(ARCHIVE_COLLECTION, write_concern=DURABLE)
        await ensure_archive_indexes(db)
        copied = logged = 0
        for collection in await _session_collections(db):
            if collection == SESSIONS:
                continue
            batch: list[dict[str, Any]] = []
            query = {"$or": [{"sessionId": config.session_id}, {"_id": config.session_id}]}
            async for doc in db[collection].find(query):
                if collection == CHANGES and isinstance(doc.get("version"), int):
                    logged = max(logged, doc["version"])  # entries past the fold point
                batch.append(
                    {
                        "archiveId": name,
                        "kind": "document",
                        "collection": collection,
                        "sessionId": config.session_id,
                        "archivedAt": now,
                        "doc": doc,
                    }
                )
                if len(batch) >= BATCH:
                    await archive.insert_many(batch, ordered=False)
                    copied, batch = copied + len(batch), []
            if batch:
                await archive.insert_many(batch, ordered=False)
                copied += len(batch)
        if not copied and not session_doc.get("lineage"):
            return None  # the empty document a lease acquisition leaves: no session yet
        version = max(int(session_doc.get("version") or 0), logged)
        await archive.insert_one(
            {
                "_id": name,
                "archiveId": name,
                "kind": "archive",
                "sessionId": config.session_id,
                "archivedAt": now,
                "reason": reason,
                "host": socket.gethostname(),
                "version": version,
                "documents": copied,
                "encrypted": session_doc.get("encryption") is not None,
                "session": session_doc,
            }
        )
        return version
    finally:
        await close_side_client(client)


async def _session_collections(db: AsyncDatabase[dict[str, Any]]) -> list[str]:
    names = await db.list_collection_names()
    return sorted(n for n in names if n.startswith(SESSION_COLLECTIONS) and n not in NOT_ARCHIVED)


async def ensure_archive_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    archive = db[ARCHIVE_COLLECTION]
    await archive.create_index("archivedAt", expireAfterSeconds=int(RETENTION.total_seconds()), name="archive_ttl")
    await archive.create_index([("archiveId", 1), ("kind", 1)], name="archive_id")


def prune_archive_folders(auth_dir: Path, now: datetime | None = None) -> list[Path]:
    """Remove folder archives older than 30 days (and partial copies a crash left over a day ago)."""
    root = archive_root(auth_dir)
    if not root.is_dir():
        return []
    now = now or datetime.now(UTC)
    removed = []
    for path in root.iterdir():
        name = path.name.removesuffix(".partial")
        at = _name_time(name)
        if at is None or not path.is_dir():
            continue
        keep = timedelta(days=1) if path.name.endswith(".partial") else RETENTION
        if now - at > keep:
            shutil.rmtree(path)
            removed.append(path)
    if removed:
        fsync_dir(root)
        logger.info("archive folder {}: removed {} archive(s) older than {} days", root, len(removed), RETENTION.days)
    return removed


# ---- listing and loading ----


async def list_archives(config: StoreConfig) -> list[ArchiveEntry]:
    """This session's archives, newest first, from the folder archive and MongoDB (unreachable: folder only)."""
    entries: dict[str, ArchiveEntry] = {}
    for entry in await asyncio.to_thread(_folder_archives, config):
        entries[entry.name] = entry
    if config.mongodb_uri:
        client = side_client(config)
        try:
            db = client[config.mongodb_db or DEFAULT_DB]
            query = {"kind": "archive", "sessionId": config.session_id}
            async for doc in db[ARCHIVE_COLLECTION].find(query, {"session": 0}):
                name = str(doc["_id"])
                known = entries.get(name)
                entries[name] = ArchiveEntry(
                    name,
                    config.session_id,
                    str(doc.get("reason") or ""),
                    doc["archivedAt"],
                    known.folder if known else None,
                    True,
                    int(doc.get("version") or 0),
                )
        except PyMongoError as exc:
            logger.warning("MongoDB archive not read ({}): {}", redact_uri(config.mongodb_uri), str(exc)[:200])
        finally:
            await close_side_client(client)
    return sorted(entries.values(), key=lambda e: e.archived_at, reverse=True)


def _folder_archives(config: StoreConfig) -> list[ArchiveEntry]:
    root = archive_root(config.auth_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = NAME_PATTERN.match(path.name)
        if match is None or match["session"] != config.session_id or not (path / ARCHIVE_META).is_file():
            continue
        try:
            meta = json.loads((path / ARCHIVE_META).read_text())
            at = datetime.fromisoformat(meta["archivedAt"])
            reason = str(meta.get("reason") or "")
        except (OSError, ValueError, KeyError, TypeError):
            at, reason = _name_time(path.name) or datetime.now(UTC), "(archive.json unreadable)"
        found.append(ArchiveEntry(path.name, config.session_id, reason, at, path))
    return found


async def load_archive(config: StoreConfig, entry: ArchiveEntry, source: str) -> Snapshot:
    """Read an archived session with the store's own reader (folder or MongoDB), decrypting with the key."""
    from storage.session import open_store

    with tempfile.TemporaryDirectory(prefix="wa-restore-") as scratch_dir:
        scratch = Path(scratch_dir)
        if source == "folder":
            if entry.folder is None:
                raise BackupError(f"archive {entry.name!r} has no folder copy under {archive_root(config.auth_dir)}")
            await asyncio.to_thread(
                shutil.copytree, entry.folder, scratch / config.session_id, ignore=shutil.ignore_patterns(ARCHIVE_META)
            )
            scratch_config = StoreConfig(
                auth_dir=scratch, session_id=config.session_id, encryption_key=config.encryption_key
            )
            return await _read_snapshot(scratch_config, open_store)
        if not entry.in_mongodb or not config.mongodb_uri:
            raise BackupError(f"archive {entry.name!r} has no MongoDB copy in {ARCHIVE_COLLECTION}")
        async with _scratch_database(config, entry.name) as scratch_db:
            scratch_config = StoreConfig(
                auth_dir=scratch,
                session_id=config.session_id,
                mongodb_uri=config.mongodb_uri,
                mongodb_db=scratch_db,
                encryption_key=config.encryption_key,
                mongo_timeout=config.mongo_timeout,
            )
            return await _read_snapshot(scratch_config, open_store)


async def _read_snapshot(config: StoreConfig, open_store: Any) -> Snapshot:
    store = await open_store(config)
    try:
        snapshot: Snapshot = store.snapshot()
    finally:
        await store.close()
    return snapshot


@asynccontextmanager
async def _scratch_database(config: StoreConfig, name: str) -> AsyncIterator[str]:
    """The archived documents put back, as they were, into a throw-away database (dropped afterwards)."""
    client = side_client(config)
    db_name = config.mongodb_db or DEFAULT_DB
    scratch_name = f"{db_name[:40]}_restore_{uuid.uuid4().hex[:8]}"
    try:
        db = client[db_name]
        marker = await db[ARCHIVE_COLLECTION].find_one({"_id": name, "kind": "archive"})
        if marker is None:
            raise BackupError(f"archive {name!r} is not in {db_name}.{ARCHIVE_COLLECTION} (expired after 30 days?)")
        scratch = client[scratch_name]
        await scratch[SESSIONS].insert_one(marker["session"])
        count = 0
        batches: dict[str, list[dict[str, Any]]] = {}
        async for doc in db[ARCHIVE_COLLECTION].find({"archiveId": name, "kind": "document"}):
            batch = batches.setdefault(str(doc["collection"]), [])
            batch.append(doc["doc"])
            count += 1
            if len(batch) >= BATCH:
                await scratch[str(doc["collection"])].insert_many(batch)
                batch.clear()
        for collection, batch in batches.items():
            if batch:
                await scratch[collection].insert_many(batch)
        if count != int(marker.get("documents") or 0):
            expected = marker.get("documents")
            raise BackupError(f"archive {name!r} in MongoDB is incomplete ({count} of {expected} documents)")
        yield scratch_name
    except PyMongoError as exc:
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise BackupError(f"cannot read archive {name!r} from MongoDB ({detail})") from exc
    finally:
        try:
            await client.drop_database(scratch_name)
        except PyMongoError as exc:
            logger.warning("scratch database {} not dropped ({}); drop it by hand", scratch_name, exc)
        await close_side_client(client)
