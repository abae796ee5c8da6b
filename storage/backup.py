"""Whole-session operations: an explicit reset, and passphrase-encrypted export/import files for backups."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from storage.config import StoreConfig
from storage.errors import BackupError, CorruptSessionError, StorageError
from storage.folder import FolderStore, _write_file
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
                await mongo.delete_session()
            finally:
                await mongo.close()
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
    sealer = Sealer.create(passphrase)
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
        _write_file(target, json.dumps(document, indent=1).encode() + b"\n", durable=True)
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
        sealer = Sealer.derive(passphrase, salt, int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        blob = base64.b64decode(document["sealed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{source}: malformed export header ({exc})") from None
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
    creds, keys = read_export(path, passphrase)
    await _install(config, creds, keys, f"export file {path}")


async def _install(config: StoreConfig, creds: dict[str, Any], keys: dict[KeyRef, bytes], origin: str) -> None:
    from storage.session import new_lineage, open_store

    store = await open_store(config)
    try:
        await store.acquire_lease()
        await store.install(creds, keys, lineage=new_lineage())
        logger.info("session {}: imported {} ({} keys) into every copy", config.session_id, origin, len(keys))
    finally:
        await store.close()
