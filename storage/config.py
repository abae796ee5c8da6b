"""Where and how a session is stored, and the few environment rules every storage entry point shares."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from loguru import logger
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

# The one documented passphrase variable of session export files (README "Operating a session");
# BACKUP_PASSPHRASE is what `python -m storage` read before, still accepted with a warning.
PASSPHRASE_VARIABLE = "SESSION_EXPORT_PASSPHRASE"
DEPRECATED_PASSPHRASE_VARIABLES = ("BACKUP_PASSPHRASE",)
WEBHOOK_VARIABLE = "SESSION_WEBHOOK_URL"

_warned_dirs: set[Path] = set()


@dataclass(frozen=True)
class StoreConfig:
    """Session storage settings; `from_env()` reads them from the environment.

    Timings are seconds. The lease is renewed every `lease_renew_interval` and expires `lease_ttl`
    after the last renewal; a waiting process polls every `lease_poll_interval`. `mongo_timeout`
    bounds how long one MongoDB call may wait for the server before the store carries on with the
    folder alone; `mongo_retry_interval` is how often it then checks whether MongoDB is back.
    `webhook_url` (SESSION_WEBHOOK_URL) receives the session status changes (storage/webhook.py).
    """

    auth_dir: Path = Path("whatsapp_auth")
    session_id: str = "default"
    mongodb_uri: str | None = None
    mongodb_db: str | None = None  # default "whatsapp_bot"
    encryption_key: str | None = None
    lease_ttl: float = 30.0
    lease_renew_interval: float = 10.0
    lease_poll_interval: float = 3.0
    mongo_timeout: float = 5.0
    mongo_write_timeout: float = 2.0
    mongo_retry_interval: float = 5.0
    checkpoint_every: int = 64  # commits between fsync checkpoints of the folder
    webhook_url: str | None = None

    def __repr__(self) -> str:  # the URI may carry a password, the key is a secret, the webhook URL may hold a token
        return (
            f"StoreConfig(auth_dir={str(self.auth_dir)!r}, session_id={self.session_id!r}, "
            f"mongodb={'set' if self.mongodb_uri else 'unset'}, encrypted={bool(self.encryption_key)}, "
            f"webhook={'set' if self.webhook_url else 'unset'})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> StoreConfig:
        """MONGODB_URI, MONGODB_DB, SESSION_ENCRYPTION_KEY, AUTH_DIR, SESSION_ID, SESSION_WEBHOOK_URL
        (empty values count as unset; a malformed webhook URL raises ValueError)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("AUTH_DIR"):
            values["auth_dir"] = Path(env["AUTH_DIR"])
        if env.get("SESSION_ID"):
            values["session_id"] = env["SESSION_ID"]
        if env.get("MONGODB_URI"):
            values["mongodb_uri"] = env["MONGODB_URI"]
        if env.get("MONGODB_DB"):
            values["mongodb_db"] = env["MONGODB_DB"]
        if env.get("SESSION_ENCRYPTION_KEY"):
            values["encryption_key"] = env["SESSION_ENCRYPTION_KEY"]
        if env.get(WEBHOOK_VARIABLE, "").strip():
            values["webhook_url"] = check_webhook_url(env[WEBHOOK_VARIABLE])
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]  # the overrides are the dataclass's own fields


def check_webhook_url(url: str) -> str:
    """SESSION_WEBHOOK_URL must be an absolute http(s) URL; returns it stripped, raises ValueError otherwise."""
    url = url.strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{WEBHOOK_VARIABLE} must be an http:// or https:// URL with a host")
    return url


def backup_passphrase(environ: Mapping[str, str] | None = None) -> str | None:
    """The passphrase of export files: SESSION_EXPORT_PASSPHRASE, else (deprecated) BACKUP_PASSPHRASE."""
    env = os.environ if environ is None else environ
    value = env.get(PASSPHRASE_VARIABLE)
    if value:
        return value
    for name in DEPRECATED_PASSPHRASE_VARIABLES:
        if env.get(name):
            logger.warning("{} is deprecated; set {} instead (same meaning)", name, PASSPHRASE_VARIABLE)
            return env[name]
    return None


# ---- directory modes ----


def warn_if_exposed(path: Path) -> bool:
    """One WARNING per process when an existing directory (AUTH_DIR) is group- or world-accessible."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return False
    if not mode & 0o077:
        return False
    resolved = path.resolve()
    if resolved not in _warned_dirs:
        _warned_dirs.add(resolved)
        logger.warning(
            "{} is accessible to other users (mode {:o}); the session folders inside are 0700, but tighten it: "
            "chmod 700 {}",
            path,
            mode,
            path,
        )
    return True


def side_client(config: StoreConfig) -> AsyncMongoClient[dict[str, Any]]:
    """A MongoDB client of its own for the side records (archive, history), bounded by `mongo_timeout`."""
    assert config.mongodb_uri
    timeout_ms = max(1, int(config.mongo_timeout * 1000))
    return AsyncMongoClient(
        config.mongodb_uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms, 5_000),
        appname="whatsapp-bot-storage-side",
    )


async def close_side_client(client: AsyncMongoClient[dict[str, Any]], budget: float = 1.0) -> None:
    """Close a side client within `budget`: pymongo's close() ends the server sessions, which waits on a
    frozen server; the session data is not at stake here, so past the budget it is left behind."""
    with contextlib.suppress(TimeoutError, PyMongoError):
        await asyncio.wait_for(client.close(), budget)
