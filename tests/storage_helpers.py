"""Helpers shared by the storage tests (sample keys for every key type, snapshot comparison)."""

from __future__ import annotations

import os
from pathlib import Path

from storage import StoreConfig
from storage.changelog import ChangeLog
from storage.model import KeyRef, Snapshot
from storage.mongo import MongoStore
from whatsapp.auth import KeyType

# Ids shaped like the real ones, including characters that are awkward in file names.
SAMPLE_IDS: dict[KeyType, str] = {
    KeyType.PRE_KEY: "17",
    KeyType.SESSION: "15551234567_1.12",
    KeyType.SENDER_KEY: "120363012345678901@g.us::15551234567::3",
    KeyType.SENDER_KEY_MEMORY: "120363012345678901@g.us",
    KeyType.APP_STATE_SYNC_KEY: "AAAAAB+/Zw==",
    KeyType.APP_STATE_SYNC_VERSION: "critical_unblock_low",
    KeyType.IDENTITY: "15551234567.0",
    KeyType.LID_MAPPING: "123456789012345_reverse",
    KeyType.DEVICE_LIST: "15551234567",
    KeyType.TC_TOKEN: "15551234567:12@s.whatsapp.net",
}


def sample_keys(seed: int = 0) -> dict[KeyRef, bytes]:
    """One key of every type, plus values that are empty, have NUL bytes, or are large."""
    keys: dict[KeyRef, bytes] = {}
    for key_type, key_id in SAMPLE_IDS.items():
        keys[(key_type.value, key_id)] = bytes([seed % 256]) + os.urandom(63)
    keys[(KeyType.SESSION.value, "empty.0")] = b""
    keys[(KeyType.SESSION.value, "nul.0")] = b"\x00" * 17
    keys[(KeyType.SESSION.value, "large.0")] = os.urandom(200_000)
    keys[(KeyType.SENDER_KEY.value, "x" * 400)] = os.urandom(10)  # id too long for a file name
    return keys


def folder_config(tmp_path: Path, **overrides: object) -> StoreConfig:
    values: dict[str, object] = {"auth_dir": tmp_path / "auth", "session_id": "test"}
    values.update(overrides)
    return StoreConfig(**values)  # type: ignore[arg-type]


def fast_mongo_config(tmp_path: Path, uri: str, db: str, **overrides: object) -> StoreConfig:
    """Short timings so outages, expiry and take-over happen within a test."""
    values: dict[str, object] = {
        "auth_dir": tmp_path / "auth",
        "session_id": "test",
        "mongodb_uri": uri,
        "mongodb_db": db,
        "lease_ttl": 1.5,
        "lease_renew_interval": 0.3,
        "lease_poll_interval": 0.2,
        "mongo_timeout": 0.5,
        "mongo_retry_interval": 0.3,
    }
    values.update(overrides)
    return StoreConfig(**values)  # type: ignore[arg-type]


async def mongo_snapshot(uri: str, db: str | None, session_id: str, key: str | None = None) -> Snapshot | None:
    """MongoDB's copy as a fresh process would load it (fold point plus the change log after it)."""
    mongo = MongoStore(uri, db, session_id, key, timeout=3.0)
    try:
        return (await ChangeLog(mongo).load()).snapshot
    finally:
        await mongo.close()
