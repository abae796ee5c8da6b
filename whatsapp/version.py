"""The WA Web version we announce, and how it renews itself (docs/protocol.md §Version renewal).

The third part of the version triple is WA Web's `client_revision`; the server answers builds it no
longer accepts with `<failure reason="405">`. So:

- the version is `pinned` (the bot's WA_VERSION) or the newest we know: the built-in
  `payload.DEFAULT_VERSION` or a revision fetched earlier, cached in the credentials' `extra`;
- at start, when the cached revision was checked more than 24 h ago, the version page is fetched
  (`"client_revision":(\\d+)` in WA Web's HTML, with browser-like headers as whatsmeow `update.go`), with a
  short timeout: a failed fetch is logged and never blocks the start;
- on a 405 (registration or login) the page is fetched again; a version not refused before is tried at
  once, and only when that is refused too (or nothing could be fetched) does the client stop, with a line
  saying to set the version by hand.

The page is fetched only when a URL is configured; `default_version_url` gives WhatsApp's own page for a
client that talks to WhatsApp's own server (a client pointed at an emulator does not ask web.whatsapp.com).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import aiohttp
from loguru import logger

from whatsapp.auth import AuthState
from whatsapp.errors import WhatsAppError
from whatsapp.payload import DEFAULT_VERSION
from whatsapp.reconnect import Action, Decision, DisconnectReason

Version = tuple[int, int, int]

DEFAULT_VERSION_URL = "https://web.whatsapp.com/"
WHATSAPP_HOST = "web.whatsapp.com"
CHECK_INTERVAL = 24 * 3600.0  # seconds between two fetches at start
FETCH_TIMEOUT = 5.0  # seconds: a start waits at most this long for the page
MAX_PAGE_BYTES = 8 * 1024 * 1024  # WA Web's HTML is a few hundred KiB; never read more than this
CACHE_VERSION = "wa_version"  # fields in Credentials.extra
CACHE_CHECKED = "wa_version_checked"
_REVISION = re.compile(rb'"client_revision":(\d+)')
# What whatsmeow update.go sends: the page is served to browsers, so ask like one.
BROWSER_HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 "
                  "Safari/537.36",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "none",
    "Sec-Fetch-User": "?1",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
              "application/signed-exchange;v=b3;q=0.7",
    "Accept-Language": "en-US,en;q=0.9",
}


def parse_version(text: str) -> Version:
    """`"2.3000.1045649367"` → (2, 3000, 1045649367); ValueError names what is wrong."""
    parts = text.strip().split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"must be three numbers separated by dots (a.b.c), got {text!r}")
    version = (int(parts[0]), int(parts[1]), int(parts[2]))
    if not all(0 <= v < 2**32 for v in version):
        raise ValueError(f"each part must fit in 32 bits, got {text!r}")
    return version


def version_string(version: Version) -> str:
    return ".".join(str(v) for v in version)


def parse_revision(page: bytes) -> int | None:
    """The `client_revision` a WA Web page announces, or None."""
    match = _REVISION.search(page)
    revision = int(match.group(1)) if match else None
    return revision if revision is not None and 0 < revision < 2**32 else None


def default_version_url(ws_url: str) -> str | None:
    """WhatsApp's page for WhatsApp's server; None (no fetching) for any other server."""
    return DEFAULT_VERSION_URL if urlparse(ws_url).hostname == WHATSAPP_HOST else None


async def fetch_revision(url: str, timeout: float) -> int:
    """GET the page and read its revision; raises aiohttp.ClientError, TimeoutError or ValueError."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout, headers=BROWSER_HEADERS) as session, \
            session.get(url) as response:
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        page = bytearray()
        async for chunk in response.content.iter_chunked(65536):
            page += chunk
            if len(page) >= MAX_PAGE_BYTES:
                break
    revision = parse_revision(bytes(page))
    if revision is None:
        raise ValueError("no client_revision in the page")
    return revision


def cached(extra: dict[str, object]) -> tuple[Version | None, float | None]:
    """The version cached in `Credentials.extra` and when it was checked (None for absent or unreadable)."""
    raw, checked = extra.get(CACHE_VERSION), extra.get(CACHE_CHECKED)
    try:
        version = parse_version(raw) if isinstance(raw, str) else None
    except ValueError:
        version = None
    return version, float(checked) if isinstance(checked, (int, float)) and not isinstance(checked, bool) else None


@dataclass(frozen=True, slots=True)
class VersionPolicy:
    pinned: Version | None = None  # announce exactly this (until a 405 says otherwise)
    url: str | None = None  # the page with `client_revision`; None never fetches
    check_interval: float = CHECK_INTERVAL
    timeout: float = FETCH_TIMEOUT


Fetch = Callable[[str, float], Awaitable[int]]


class VersionRenewal:
    """The version of the next connection, renewed at start and after a 405."""

    def __init__(self, auth: AuthState, policy: VersionPolicy, *, fetch: Fetch = fetch_revision,
                 wall: Callable[[], float] = time.time, base: Version = DEFAULT_VERSION) -> None:
        self.auth = auth
        self.policy = policy
        self._fetch = fetch
        self._wall = wall
        self.current: Version = policy.pinned or base
        self._refused: set[Version] = set()

    async def prepare(self) -> None:
        """Before the first connection: the cached revision, refreshed when it is more than a day old."""
        if self.policy.pinned is not None:
            return
        version, checked = cached(self.auth.creds.extra)
        if version is not None and version > self.current:
            self.current = version
        if self.policy.url and (checked is None or self._wall() - checked > self.policy.check_interval):
            fetched = await self._refresh()
            if fetched is not None and fetched > self.current:
                logger.info("WA Web version {} (fetched)", version_string(fetched))
                self.current = fetched

    async def after_refusal(self, reason: DisconnectReason, decision: Decision) -> Decision:
        """The decision after a 405: reconnect now with a version fetched anew, or stop with advice."""
        refused = self.current
        self._refused.add(refused)
        fetched = await self._refresh() if self.policy.url else None
        if fetched is not None and fetched not in self._refused:
            self.current = fetched
            return Decision(Action.RECONNECT, 0.0, "WARNING", f"WhatsApp refused version {version_string(refused)} "
                                                              f"as outdated; retrying with {version_string(fetched)}")
        why = "no newer version could be fetched" if self.policy.url else "no version page is configured"
        return dataclasses.replace(decision, message=(
            f"WhatsApp refused version {version_string(refused)} as outdated (405) and {why}; set WA_VERSION "
            "(Client(version=...)) to the current WA Web version, e.g. from web.whatsapp.com, and restart"))

    async def _refresh(self) -> Version | None:
        url = self.policy.url
        if not url:
            return None
        try:
            async with asyncio.timeout(self.policy.timeout):
                revision = await self._fetch(url, self.policy.timeout)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            logger.warning("could not fetch the current WA Web version from {}: {}", url,
                           exc or type(exc).__name__)
            return None
        version = (DEFAULT_VERSION[0], DEFAULT_VERSION[1], revision)
        extra = {**self.auth.creds.extra, CACHE_VERSION: version_string(version), CACHE_CHECKED: int(self._wall())}
        try:
            async with self.auth.transaction() as tx:
                tx.set_creds(dataclasses.replace(self.auth.creds, extra=extra))
        except WhatsAppError as exc:  # the store is down: use the version now, cache it another time
            logger.warning("could not cache WA Web version {}: {}", version_string(version), exc)
        return version
