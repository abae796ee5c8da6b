"""Whole-session operations: an explicit reset, passphrase-encrypted export/import files, restoring an archive.

Every operation that deletes or replaces a stored session archives it first (storage/archive.py).
scrypt runs in a worker thread (`asyncio.to_thread`): these functions may run next to a live connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from storage.archive import ArchiveEntry, archive_session, list_archives, load_archive
from storage.config import StoreConfig
from storage.errors import BackupError, CorruptSessionError, StorageError
from storage.folder import FolderStore
from storage.fsio import write_file
from storage.model import KeyRef
from storage.mongo import MongoStore
from storage.records import Sealer, canonical_json, from_json_value, to_json_value

EXPORT_FORMAT = "whatsapp-session-export"
EXPORT_SCHEMA = 1
EXPORT_AD = b"whatsapp-session-export-v1"


async def reset_session(config: StoreConfig) -> None:
    """Delete the session from the folder and from MongoDB (the next start pairs anew). Refuses while in use."""
    folder = FolderStore(config.auth_dir, config.session_id, config.encryption_key)
    if not folder.try_lock():
        raise StorageError(
            f"session {config.session_id!r} is in use by a running process on this machine ({folder.dir}); stop it "
            "before resetting"
        )
    try:
        if config.mongodb_uri:
            mongo = MongoStore(
                config.mongodb_uri, config.mongodb_db, config.session_id, None, timeout=config.mongo_timeout
            )
            try:
                lease = await mongo.lease_holder()
                if lease and lease.get("owner") and lease["expiresAt"] > datetime.now(UTC):
                    raise StorageError(
                        f"session {config.session_id!r} is in use by {lease['owner']} (lease until "
                        f"{lease['expiresAt']}); stop that process before resetting"
                    )
                await archive_session(config, "reset")
                await mongo.delete_session()
            finally:
                await mongo.close()
        else:
            await archive_session(config, "reset")
        folder.destroy()
    finally:
        folder.unlock()
    logger.warning(
        "session {}: reset: credentials and keys deleted from {}{}; the next start pairs anew",
        config.session_id,
        folder.dir,
        " and MongoDB" if config.mongodb_uri else "",
    )


async def export_session(config: StoreConfig, path: Path | str, passphrase: str) -> None:
    """Write the whole session (newest copy) to `path`, AES-GCM encrypted with a key derived from `passphrase`."""
    from storage.session import open_store

    if not passphrase:
        raise BackupError("an export needs a non-empty passphrase")
    store = await open_store(config)
    try:
        snapshot = store.snapshot()
    finally:
        await store.close()
    if snapshot.creds is None:
        raise BackupError(f"session {config.session_id!r} holds no credentials (never paired or logged out)")
    payload = {
        "sessionId": config.session_id,
        "lineage": snapshot.lineage,
        "version": snapshot.version,
        "exportedAt": datetime.now(UTC).isoformat(),
        "creds": to_json_value(snapshot.creds),
        "keys": [[t, i, base64.b64encode(v).decode()] for (t, i), v in sorted(snapshot.keys.items())],
    }
    sealer = await asyncio.to_thread(Sealer.create, passphrase)
    document = {
        "format": EXPORT_FORMAT,
        "schema": EXPORT_SCHEMA,
        "kdf": {
            "kdf": "scrypt",
            "n": sealer.n,
            "r": sealer.r,
            "p": sealer.p,
            "salt": base64.b64encode(sealer.salt).decode(),
        },
        "sealed": base64.b64encode(sealer.seal(canonical_json(payload), EXPORT_AD)).decode(),
    }
    target = Path(path)
    try:
        write_file(target, json.dumps(document, indent=1).encode() + b"\n", durable=True)
    except OSError as exc:
        raise BackupError(f"cannot write the export file {target} ({exc.strerror or exc})") from exc
    logger.info(
        "session {}: exported version {} ({} keys) to {}",
        config.session_id,
        snapshot.version,
        len(snapshot.keys),
        target,
    )


def read_export(path: Path | str, passphrase: str) -> tuple[dict[str, Any], dict[KeyRef, bytes]]:
    source = Path(path)
    try:
        document = json.loads(source.read_bytes())
    except OSError as exc:
        raise BackupError(f"cannot read the export file {source} ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise BackupError(f"{source} is not a session export (not JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise BackupError(f"{source} is not a session export file")
    if document.get("schema") != EXPORT_SCHEMA:
        raise BackupError(f"{source}: export schema {document.get('schema')!r} is not supported; upgrade the bot")
    try:
        kdf = document["kdf"]
        salt = base64.b64decode(kdf["salt"])
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        blob = base64.b64decode(document["sealed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{source}: malformed export header ({exc})") from None
    sealer = Sealer.derive(passphrase, salt, n, r, p, str(source))  # bounded before computing
    try:
        plaintext = sealer.open(blob, EXPORT_AD, str(source))
    except CorruptSessionError:
        raise BackupError(f"the passphrase does not open {source} (wrong passphrase or damaged file)") from None
    try:
        payload = json.loads(plaintext)
        creds = from_json_value(payload["creds"])
        keys = {(str(t), str(i)): base64.b64decode(v) for t, i, v in payload["keys"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{source}: the session inside the export is malformed ({exc!r})") from None
    return creds, keys


async def import_session(config: StoreConfig, path: Path | str, passphrase: str) -> None:
    """Replace the stored session (both copies) with the one in an export file. Waits for the lease."""
    creds, keys = await asyncio.to_thread(read_export, path, passphrase)
    await _install(config, creds, keys, f"export file {path}")


async def _install(config: StoreConfig, creds: dict[str, Any], keys: dict[KeyRef, bytes], origin: str) -> None:
    from storage.session import new_lineage, open_store

    store = await open_store(config)
    try:
        await store.acquire_lease()
        if store.snapshot().creds is not None:  # a logged-out session has nothing worth keeping
            await archive_session(config, f"replaced by {origin}")
        await store.install(creds, keys, lineage=new_lineage())
        logger.info("session {}: imported {} ({} keys) into every copy", config.session_id, origin, len(keys))
    finally:
        await store.close()


async def restore_archive(config: StoreConfig, name: str, source: str | None = None) -> ArchiveEntry:
    """Put an archived session back into both copies (the current one is archived first). Waits for the lease.

    `source` is "mongodb" or "folder"; by default MongoDB's copy when it has one, else the folder's.
    """
    entry = next((e for e in await list_archives(config) if e.name == name), None)
    if entry is None:
        raise BackupError(
            f"session {config.session_id!r} has no archive {name!r}; `python -m storage archives` lists them"
        )
    source = source or ("mongodb" if entry.in_mongodb and config.mongodb_uri else "folder")
    snapshot = await load_archive(config, entry, source)
    if snapshot.creds is None:
        raise BackupError(f"archive {name!r} ({source}) holds no credentials; nothing to restore")
    await _install(config, snapshot.creds, snapshot.keys, f"archive {name} ({source})")
    return entry
