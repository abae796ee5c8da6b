"""What the daemon checks and says before it connects: the session folder, the start summary, platform hints."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

from loguru import logger

from botconfig import BotConfig
from whatsapp.version import version_string

# Environment variables these platforms set in every process: their disks are wiped at each deploy.
EPHEMERAL_PLATFORMS = {"RAILWAY_ENVIRONMENT": "Railway", "RAILWAY_PROJECT_ID": "Railway", "DYNO": "Heroku"}


def check_auth_dir(auth_dir: str) -> str | None:
    """None when the session folder exists (or was created) and is writable; else the problem, in one line."""
    path = Path(auth_dir)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryFile(dir=path):  # writable: the store writes here at the first change
            pass
    except OSError as exc:
        return f"cannot use {str(path)!r} as the session folder: {exc.strerror or exc}"
    return None


def store_mode(config: BotConfig) -> str:
    copies = f"folder {config.auth_dir} + MongoDB" if config.mongodb_uri else f"folder {config.auth_dir} only"
    return f"{copies}, {'encrypted' if config.session_encryption_key else 'not encrypted'}"


def server_name(url: str) -> str:
    """The server without credentials or query (a URL may carry a token)."""
    parsed = urlparse(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.hostname}{port}{parsed.path}"


def platform_warning(config: BotConfig, env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    platform = next((name for variable, name in EPHEMERAL_PLATFORMS.items() if env.get(variable)), None)
    if platform is None or config.mongodb_uri:
        return None
    return (f"running on {platform} without MONGODB_URI: the session folder is lost at the next deploy or "
            "restart, and the bot will have to be linked again (set MONGODB_URI)")


def log_start(config: BotConfig, paired: bool, version: tuple[int, int, int], plugins: Sequence[str]) -> None:
    """The first INFO lines: which server, session, store, WA version and plugins this process runs with."""
    logger.info("starting ({}): server {}, session {!r}, store {}", "logging in" if paired else "pairing",
                server_name(config.wa_url), config.session_id, store_mode(config))
    pinned = "pinned by WA_VERSION" if config.wa_version else "newest known, renewed by itself"
    logger.info("WA Web version {} ({}); plugins: {}", version_string(version), pinned, ", ".join(plugins) or "none")
    if (warning := platform_warning(config)) is not None:
        logger.warning(warning)
