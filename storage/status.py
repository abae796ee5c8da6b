"""`python -m storage status`: what is stored where, read without taking the lease or writing anything.

Shows the account (meId), each copy (folder, MongoDB) with its version, encryption on/off and whether
SESSION_ENCRYPTION_KEY opens it, which copy a start would load, the lease holder and its expiry, the
MongoDB topology and commit mode (`MongoStore.topology()`: the server's `hello`), the archives and the
connection history.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from storage.archive import list_archives
from storage.config import StoreConfig
from storage.errors import StorageError, WrongEncryptionKeyError
from storage.folder import FolderStore
from storage.history import read_history
from storage.mongo import SESSIONS, MongoStore
from storage.records import Sealer

Rows = list[tuple[str, str]]


def commit_mode(topology: str) -> str:
    """The commit protocol in use on this server (`MongoStore.topology()`, from the server's `hello`)."""
    # One code path on every topology (storage/changelog.py): each unit of work is one change-log document.
    return f"{topology}: single-document change log (no multi-document transaction needed)"


def _ago(when: datetime, now: datetime) -> str:
    seconds = (when - now).total_seconds()
    return f"in {seconds:.0f} s" if seconds >= 0 else f"{-seconds:.0f} s ago"


def _key_opens(config: StoreConfig, encryption: dict[str, Any], where: str) -> str:
    if not config.encryption_key:
        return "on; SESSION_ENCRYPTION_KEY is not set, so the session cannot be opened"
    try:
        Sealer.from_info(config.encryption_key, encryption, where)
    except WrongEncryptionKeyError:
        return "on; SESSION_ENCRYPTION_KEY does NOT open it"
    except StorageError as exc:
        return f"on; header unreadable ({exc})"
    return "on (SESSION_ENCRYPTION_KEY opens it)"


def _folder_rows(config: StoreConfig) -> tuple[Rows, str | None, str | None]:
    """(rows, meId, encryption) of the folder copy (blocking)."""
    folder = FolderStore(config.auth_dir, config.session_id, config.encryption_key)
    try:
        load = folder.load()
    except WrongEncryptionKeyError as exc:
        return [("folder copy", f"{folder.dir}: encrypted ({exc})")], None, "on (key does not open it)"
    except StorageError as exc:
        return [("folder copy", f"{folder.dir}: unreadable ({exc})")], None, None
    encryption = None
    if folder.meta_encryption is not None:
        encryption = _key_opens(config, folder.meta_encryption, str(folder.meta_path))
    if load.snapshot is None:
        return [("folder copy", f"{folder.dir}: none")], None, encryption
    snap = load.snapshot
    me_id = snap.creds.get("me_id") if snap.creds else None
    state = "logged out" if snap.creds is None else ("paired" if me_id else "not paired")
    extra = "; SUPERSEDED (lost the session to another process)" if load.superseded else ""
    text = f"{folder.dir}: version {snap.version}, {len(snap.keys)} keys, {state}, lineage {snap.lineage[:8]}{extra}"
    return [("folder copy", text)], me_id, encryption


async def _mongo_rows(config: StoreConfig) -> tuple[Rows, str | None, str | None]:
    assert config.mongodb_uri
    mongo = MongoStore(config.mongodb_uri, config.mongodb_db, config.session_id, None, timeout=config.mongo_timeout)
    where = f"{mongo.where} {mongo.db_name}.{SESSIONS}"
    rows: Rows = []
    sid = config.session_id
    try:
        doc = await mongo.guard(mongo.sessions.find_one({"_id": sid}, {"credentials": 0}))
        last = await mongo.guard(mongo.changes.find_one({"sessionId": sid}, {"version": 1}, sort=[("version", -1)]))
        keys = await mongo.guard(mongo.keys.count_documents({"sessionId": sid, "deleted": {"$ne": True}}))
        lease = await mongo.guard(mongo.leases.find_one({"_id": sid}))
        topology = await mongo.topology()
    except StorageError as exc:
        return [("mongodb copy", f"{where}: {exc}")], None, None
    finally:
        await mongo.close()
    encryption = None
    me_id = None
    if doc is None or not (doc.get("lineage") or last):
        rows.append(("mongodb copy", f"{where}: none"))
    else:
        me_id = doc.get("meId")
        folded = int(doc.get("version") or 0)
        version = max(folded, int(last["version"]) if last else 0)
        pending = f" (folded up to {folded})" if version != folded else ""
        rows.append(
            (
                "mongodb copy",
                f"{where}: version {version}{pending}, {keys} keys, status {doc.get('connectionStatus') or 'unknown'}, "
                f"lineage {str(doc.get('lineage'))[:8]}",
            )
        )
        encryption = "off"
        if doc.get("encryption") is not None:
            encryption = await asyncio.to_thread(_key_opens, config, doc["encryption"], where)
    now = datetime.now(UTC)
    if lease is None:
        rows.append(("lease", "never taken"))
    elif lease.get("owner") and lease["expiresAt"] > now:
        rows.append(
            (
                "lease",
                f"held by {lease['owner']} (host {lease.get('host')}, pid {lease.get('pid')}), "
                f"token {lease.get('token')}, expires {lease['expiresAt']:%Y-%m-%d %H:%M:%S}Z "
                f"({_ago(lease['expiresAt'], now)})",
            )
        )
    else:
        ended = lease.get("releasedAt") or lease.get("expiresAt")
        rows.append(
            (
                "lease",
                f"free (token {lease.get('token')}; last holder host {lease.get('host')}, "
                f"pid {lease.get('pid')}, until {ended:%Y-%m-%d %H:%M:%S}Z)",
            )
        )
    rows.append(("commit mode", commit_mode(topology)))
    return rows, me_id, encryption


async def _loads_from(config: StoreConfig) -> str:
    from storage.session import open_store

    try:
        store = await asyncio.wait_for(open_store(config), 3 * config.mongo_timeout + 5)
    except TimeoutError:
        return "undecided (MongoDB did not answer in time)"
    except StorageError as exc:
        return f"refused: {exc}"
    try:
        return f"{store.loaded_from} (version {store.version}, {len(store.snapshot().keys)} keys)"
    finally:
        await store.close()


async def session_status(config: StoreConfig) -> Rows:
    rows: Rows = [("session", config.session_id)]
    folder_rows, folder_me, folder_enc = await asyncio.to_thread(_folder_rows, config)
    mongo_rows: Rows = []
    mongo_me = mongo_enc = None
    if config.mongodb_uri:
        mongo_rows, mongo_me, mongo_enc = await _mongo_rows(config)
    rows.append(("account", mongo_me or folder_me or "none (not paired, or unreadable)"))
    encryption = {"folder": folder_enc or "off", **({"mongodb": mongo_enc or "?"} if config.mongodb_uri else {})}
    if len(set(encryption.values())) == 1:
        rows.append(("encryption", next(iter(encryption.values()))))
    else:
        rows.append(("encryption", "; ".join(f"{k}: {v}" for k, v in encryption.items())))
    rows.extend(folder_rows)
    if config.mongodb_uri:
        rows.extend(mongo_rows)
    else:
        rows.append(("mongodb copy", "MONGODB_URI not set"))
    rows.append(("loads from", await _loads_from(config)))
    archives = await list_archives(config)
    if archives:
        newest = archives[0]
        places = " + ".join(p for p, ok in (("folder", newest.folder), ("mongodb", newest.in_mongodb)) if ok)
        rows.append(("archives", f"{len(archives)}; newest {newest.name} ({newest.reason}; {places})"))
    else:
        rows.append(("archives", "none"))
    source, entries = await read_history(config)
    last = f"; last: {entries[-1].line()}" if entries else ""
    rows.append(("history", f"{len(entries)} entries in {source}{last}"))
    webhook = urlparse(config.webhook_url).hostname if config.webhook_url else None
    rows.append(("webhook", f"set (posts to {webhook})" if webhook else "SESSION_WEBHOOK_URL not set"))
    return rows


def render(rows: Rows) -> str:
    width = max(len(label) for label, _ in rows) + 1
    return "\n".join(f"{label + ':':<{width}} {value}" for label, value in rows)
