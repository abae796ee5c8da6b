"""Where and how a session is stored."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoreConfig:
    """Session storage settings; `from_env()` reads them from the environment.

    Timings are seconds. The lease is renewed every `lease_renew_interval` and expires `lease_ttl`
    after the last renewal; a waiting process polls every `lease_poll_interval`. `mongo_timeout`
    bounds how long one MongoDB call may wait for the server before the store carries on with the
    folder alone; `mongo_retry_interval` is how often it then checks whether MongoDB is back.
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
    mongo_retry_interval: float = 5.0
    checkpoint_every: int = 64  # commits between fsync checkpoints of the folder

    def __repr__(self) -> str:  # the URI may carry a password and the key is a secret
        return (
            f"StoreConfig(auth_dir={str(self.auth_dir)!r}, session_id={self.session_id!r}, "
            f"mongodb={'set' if self.mongodb_uri else 'unset'}, encrypted={bool(self.encryption_key)})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> StoreConfig:
        """MONGODB_URI, MONGODB_DB, SESSION_ENCRYPTION_KEY, AUTH_DIR, SESSION_ID (empty values count as unset)."""
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
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
