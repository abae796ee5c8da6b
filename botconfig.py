"""The bot's configuration, read from the environment (and `.env`, loaded by bot.py).

Every value is checked at start; a wrong one raises `ConfigError` naming the variable, and the bot
exits non-zero before touching the network or the store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from storage.config import WEBHOOK_VARIABLE, check_webhook_url
from storage.model import SESSION_ID_PATTERN
from whatsapp.certs import WA_ROOT_PUBLIC_KEY
from whatsapp.client import AUTO_VERSION_URL
from whatsapp.client import DEFAULT_URL as DEFAULT_WA_URL
from whatsapp.errors import WhatsAppError
from whatsapp.version import parse_version

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
PRESENCE_VALUES = ("available", "unavailable", "none")
HISTORY_SYNC_VALUES = ("recent", "full")  # HISTORY_SYNC: DeviceProps.requireFullSync false / true
SWITCH_VALUES = {"on": True, "off": False}
LOG_FORMATS = ("text", "json")
# Every BOT_* variable the bot reads: any other is a typo, warned about at start (BotConfig.unknown_variables).
BOT_VARIABLES = frozenset({
    "BOT_PREFIXES", "BOT_STALE_AFTER", "BOT_MAX_CONCURRENCY", "BOT_HANDLER_TIMEOUT", "BOT_SHUTDOWN_GRACE",
    "BOT_MAX_DOWNLOAD_MB", "BOT_PLUGINS", "BOT_READ_RECEIPTS", "BOT_REJECT_CALLS", "BOT_SELF_COMMANDS",
    "BOT_OWNERS", "BOT_ERROR_REPLY",  # BOT_OWNERS: the former name of OWNER_NUMBERS, still read (deprecated)
})
DEFAULT_ERROR_REPLY = "Sorry, that command failed."  # BOT_ERROR_REPLY: "off" sends nothing
PHONE_SEPARATORS = " -().\t"  # as users copy a number from their contacts: "+1 (555) 000-1111"


class ConfigError(WhatsAppError):
    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True, slots=True)
class BotConfig:
    wa_url: str = DEFAULT_WA_URL
    wa_root_key: bytes = WA_ROOT_PUBLIC_KEY
    wa_version: tuple[int, int, int] | None = None  # WA_VERSION: announce exactly this (else the newest known)
    # WA_VERSION_URL: the page the current WA Web version is read from ("auto": web.whatsapp.com for WhatsApp's
    # own server, none for any other; None: never fetched), at start when a day old and after a 405.
    wa_version_url: str | None = AUTO_VERSION_URL
    auth_dir: str = "whatsapp_auth"
    session_id: str = "default"
    phone_number: str | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # LOG_FORMAT: text, or json (one object per line)
    unknown_variables: tuple[str, ...] = ()  # BOT_* variables set but not read by the bot (typos)
    deprecated_variables: tuple[tuple[str, str], ...] = ()  # (old name set, its new name): warned at start
    presence: str = "available"
    push_name: str | None = None
    mongodb_uri: str | None = None
    mongodb_db: str | None = None
    session_encryption_key: str | None = None
    command_prefixes: tuple[str, ...] = ("!",)
    stale_after: float = 300.0  # seconds: older backlog commands are skipped
    max_concurrency: int = 8  # chats handled at once
    handler_timeout: float = 30.0  # seconds per handler call
    shutdown_grace: float = 8.0  # seconds the running handlers get to finish on SIGTERM
    max_download_mb: float = 100.0  # BOT_MAX_DOWNLOAD_MB: media larger than this (MiB) is not downloaded
    plugin_packages: tuple[str, ...] = ("plugins",)  # packages whose modules are the plugins
    session_webhook_url: str | None = None  # SESSION_WEBHOOK_URL: JSON POST on session status changes
    full_history: bool = False  # HISTORY_SYNC=full: ask the phone for the whole history when pairing
    read_receipts: bool = True  # BOT_READ_RECEIPTS: mark a message read once a handler handled it
    reject_calls: bool = False  # BOT_REJECT_CALLS: decline every incoming call
    self_commands: bool = True  # BOT_SELF_COMMANDS: run the commands the account sends in "Message yourself"
    signed_prekey_rotation_days: float = 7.0  # SIGNED_PREKEY_ROTATION_DAYS: 0 never rotates
    status_port: int | None = None  # STATUS_PORT, else PORT (Railway, Heroku web): the status page's port
    status_token: str | None = None  # STATUS_TOKEN: wanted by the status page when set (a secret)
    owners: tuple[str, ...] = ()  # OWNER_NUMBERS (formerly BOT_OWNERS): numbers passing F.owner, besides the account
    error_reply: str | None = DEFAULT_ERROR_REPLY  # BOT_ERROR_REPLY: sent when a command fails; None: nothing

    def __repr__(self) -> str:  # the URI may hold a password, the key is a secret
        return (
            f"BotConfig(wa_url={self.wa_url!r}, auth_dir={self.auth_dir!r}, session_id={self.session_id!r}, "
            f"phone_number={'set' if self.phone_number else None}, mongodb={'set' if self.mongodb_uri else None}, "
            f"encryption={'set' if self.session_encryption_key else None})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BotConfig:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None:
                return None
            value = value.strip()
            return value or None

        wa_url = get("WA_URL") or DEFAULT_WA_URL
        parsed = urlparse(wa_url)
        if parsed.scheme not in ("ws", "wss") or not parsed.hostname:
            raise ConfigError("WA_URL", f"must be a ws:// or wss:// URL, got {wa_url!r}")
        try:
            parsed.port  # noqa: B018  # urlparse checks the port range only when asked
        except ValueError:
            raise ConfigError("WA_URL", f"the port must be a number from 1 to 65535, got {wa_url!r}") from None

        root_key = WA_ROOT_PUBLIC_KEY
        raw_root = get("WA_ROOT_KEY")
        if raw_root is not None:
            try:
                root_key = bytes.fromhex(raw_root)
            except ValueError:
                raise ConfigError("WA_ROOT_KEY", "must be hex (64 hex digits)") from None
            if len(root_key) != 32:
                raise ConfigError("WA_ROOT_KEY", f"must be 32 bytes (64 hex digits), got {len(root_key)} bytes")

        session_id = get("SESSION_ID") or "default"
        if not SESSION_ID_PATTERN.match(session_id):  # the storage's own rule, checked before anything starts
            raise ConfigError("SESSION_ID", "use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'")

        phone = get("PHONE_NUMBER")
        if phone is not None:
            phone = phone.translate({ord(c): None for c in PHONE_SEPARATORS}).removeprefix("+")
            if not phone.isdigit() or phone.startswith("0") or not 7 <= len(phone) <= 15:
                raise ConfigError(
                    "PHONE_NUMBER", "digits only, international format without '+' or leading 0 (e.g. 15551234567)"
                )

        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError("LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")
        log_format = (get("LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError("LOG_FORMAT", f"must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")

        wa_version = None
        if (raw_version := get("WA_VERSION")) is not None:
            try:
                wa_version = parse_version(raw_version)
            except ValueError as exc:
                raise ConfigError("WA_VERSION", f"{exc}, e.g. 2.3000.1045649367") from None
        raw_url = get("WA_VERSION_URL") or AUTO_VERSION_URL
        version_url = None if raw_url.lower() == "off" else raw_url
        if version_url not in (None, AUTO_VERSION_URL) and urlparse(raw_url).scheme not in ("http", "https"):
            raise ConfigError("WA_VERSION_URL", f"must be an http:// or https:// URL, or 'off', got {raw_url!r}")

        presence = (get("WA_PRESENCE") or "available").lower()
        if presence not in PRESENCE_VALUES:
            raise ConfigError("WA_PRESENCE", f"must be one of {', '.join(PRESENCE_VALUES)}")

        history_sync = (get("HISTORY_SYNC") or "recent").lower()
        if history_sync not in HISTORY_SYNC_VALUES:
            raise ConfigError("HISTORY_SYNC", f"must be one of {', '.join(HISTORY_SYNC_VALUES)}, got {history_sync!r}")

        mongodb_uri = get("MONGODB_URI")
        if mongodb_uri is not None and not mongodb_uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigError("MONGODB_URI", "must start with mongodb:// or mongodb+srv://")

        prefixes = tuple((get("BOT_PREFIXES") or "!").split())
        if any(len(p) > 5 for p in prefixes):
            raise ConfigError("BOT_PREFIXES", "space-separated prefixes of at most 5 characters, e.g. '! /'")

        webhook_url = get(WEBHOOK_VARIABLE)
        if webhook_url is not None:
            try:
                webhook_url = check_webhook_url(webhook_url)
            except ValueError as exc:
                raise ConfigError(WEBHOOK_VARIABLE, str(exc).removeprefix(f"{WEBHOOK_VARIABLE} ")) from None

        plugin_packages = tuple((get("BOT_PLUGINS") or "plugins").split())
        for package in plugin_packages:
            if not all(part.isidentifier() for part in package.split(".")):
                raise ConfigError("BOT_PLUGINS", f"space-separated Python package names, got {package!r}")

        def switch(name: str, default: bool) -> bool:
            raw = get(name)
            if raw is None:
                return default
            if raw.lower() not in SWITCH_VALUES:
                raise ConfigError(name, f"must be on or off, got {raw!r}")
            return SWITCH_VALUES[raw.lower()]

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(name, f"must be a number, got {raw!r}") from None
            if not low <= value <= high:
                raise ConfigError(name, f"must be between {low:g} and {high:g}")
            return value

        status_port = None
        for name in ("STATUS_PORT", "PORT"):  # STATUS_PORT first: it is the one a user sets on purpose
            if (raw_port := get(name)) is not None:
                if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
                    raise ConfigError(name, f"must be a port number from 1 to 65535, got {raw_port!r}")
                status_port = int(raw_port)
                break
        status_token = get("STATUS_TOKEN")
        if status_token is not None and (len(status_token) < 8 or any(c.isspace() for c in status_token)):
            raise ConfigError("STATUS_TOKEN", "at least 8 characters, no spaces (e.g. from `openssl rand -hex 16`)")
        # OWNER_NUMBERS is the documented name (the issue's); BOT_OWNERS, its first name, is read when it is
        # the only one set, and warned about either way.
        owners_name = "BOT_OWNERS" if get("OWNER_NUMBERS") is None and get("BOT_OWNERS") is not None else (
            "OWNER_NUMBERS")
        deprecated = (("BOT_OWNERS", "OWNER_NUMBERS"),) if get("BOT_OWNERS") is not None else ()
        raw_owners = get(owners_name) or ""  # "+1 555 000 1111, 15550002222": commas when numbers have spaces
        owners = tuple(n.translate({ord(c): None for c in PHONE_SEPARATORS}).removeprefix("+")
                       for n in (raw_owners.split(",") if "," in raw_owners else raw_owners.split()) if n.strip())
        if any(not n.isdigit() or not 7 <= len(n) <= 15 for n in owners):
            raise ConfigError(owners_name, "phone numbers in international format, separated by commas or spaces")
        error_reply = get("BOT_ERROR_REPLY") or DEFAULT_ERROR_REPLY
        return cls(
            status_port=status_port,
            status_token=status_token,
            owners=owners,
            error_reply=None if error_reply.lower() == "off" else error_reply,
            command_prefixes=prefixes,
            stale_after=number("BOT_STALE_AFTER", 300.0, 0, 7 * 86400),
            max_concurrency=int(number("BOT_MAX_CONCURRENCY", 8, 1, 1000)),
            handler_timeout=number("BOT_HANDLER_TIMEOUT", 30.0, 0.1, 3600),
            # At most 20 s: with the socket and store budgets (bot.py) it fits Heroku's 30 s before SIGKILL.
            shutdown_grace=number("BOT_SHUTDOWN_GRACE", 8.0, 0, 20),
            max_download_mb=number("BOT_MAX_DOWNLOAD_MB", 100.0, 0.01, 4096),
            plugin_packages=plugin_packages,
            wa_url=wa_url,
            wa_root_key=root_key,
            wa_version=wa_version,
            wa_version_url=version_url,
            auth_dir=get("AUTH_DIR") or "whatsapp_auth",
            session_id=session_id,
            phone_number=phone,
            log_level=log_level,
            log_format=log_format,
            unknown_variables=tuple(sorted(n for n in env if n.startswith("BOT_") and n not in BOT_VARIABLES)),
            deprecated_variables=deprecated,
            presence=presence,
            push_name=get("WA_PUSH_NAME"),
            mongodb_uri=mongodb_uri,
            mongodb_db=get("MONGODB_DB"),
            session_encryption_key=get("SESSION_ENCRYPTION_KEY"),
            session_webhook_url=webhook_url,
            full_history=history_sync == "full",
            read_receipts=switch("BOT_READ_RECEIPTS", True),
            reject_calls=switch("BOT_REJECT_CALLS", False),
            self_commands=switch("BOT_SELF_COMMANDS", True),
            signed_prekey_rotation_days=number("SIGNED_PREKEY_ROTATION_DAYS", 7.0, 0, 365),
        )
