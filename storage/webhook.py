"""SESSION_WEBHOOK_URL: a JSON POST on each session status change, never blocking the bot.

Statuses: `pairing`, `paired`, `open`, `closed`, `logged_out`. The body::

    {"event": "session.status", "session": "default", "status": "closed", "at": "2025-01-01T00:00:00+00:00",
     "host": "web-1", "meId": "15551234567:12@s.whatsapp.net", "code": 428, "reason": "connection closed"}

Never a secret: no key, no credential, no QR or pairing code (each would let someone link a phone to
this bot), nothing from MONGODB_URI. `notify()` only queues; one background task posts in order, each
POST bounded by `timeout`, retried with exponential backoff (1 s, 2 s, 4 s, capped) on a network error,
a timeout, a 5xx or a 429; another 4xx gives up at once (the receiver refused it). A failing endpoint is
logged once, and once more when it answers again. The URL may carry a token: logs show only its host.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import aiohttp
from loguru import logger

from storage.sidequeue import SideQueue

STATUSES = ("pairing", "paired", "open", "closed", "logged_out")
QUEUE_LIMIT = 100


@dataclass(frozen=True)
class WebhookTiming:
    timeout: float = 5.0  # one POST, connection included
    attempts: int = 4
    backoff: float = 1.0  # first retry delay; doubles each time
    max_backoff: float = 30.0


class SessionWebhook:
    def __init__(
        self, url: str, session_id: str, *, timing: WebhookTiming | None = None, host: str | None = None
    ) -> None:
        self.url = url
        self.session_id = session_id
        self.timing = timing or WebhookTiming()
        self.host = host or socket.gethostname()
        parsed = urlparse(url)
        self.where = f"{parsed.scheme}://{parsed.hostname}{f':{parsed.port}' if parsed.port else ''}"
        self.delivered = 0
        self.failed = 0
        self._queue = SideQueue(f"session {session_id}: webhook sender", self._send, QUEUE_LIMIT, batch=False)
        self._http: aiohttp.ClientSession | None = None
        self._failing = False

    def __repr__(self) -> str:
        return f"SessionWebhook({self.where}, session={self.session_id!r})"

    def notify(
        self, status: str, *, me_id: str | None = None, code: int | None = None, reason: str | None = None
    ) -> None:
        """Queue one status change (returns at once)."""
        if status not in STATUSES:
            raise ValueError(f"unknown session status {status!r}")
        body: dict[str, object] = {
            "event": "session.status",
            "session": self.session_id,
            "status": status,
            "at": datetime.now(UTC).isoformat(),
            "host": self.host,
            "meId": me_id,
            "code": code,
            "reason": reason,
        }
        if not self._queue.put(body):  # the receiver is far behind: the oldest change went
            self.failed += 1

    async def _send(self, bodies: list[dict[str, object]]) -> None:
        for body in bodies:
            if await self._deliver(body):
                self.delivered += 1
            else:
                self.failed += 1

    async def _deliver(self, body: dict[str, object]) -> bool:
        timing = self.timing
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timing.timeout))
        problem = ""
        for attempt in range(timing.attempts):
            if attempt:
                await asyncio.sleep(min(timing.max_backoff, timing.backoff * 2 ** (attempt - 1)))
            try:
                async with self._http.post(self.url, json=body) as response:
                    if response.status < 300:
                        self._recovered()
                        return True
                    problem = f"HTTP {response.status}"
                    if 400 <= response.status < 500 and response.status != 429:
                        break  # refused: sending the same body again would be refused again
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
        self._give_up(str(body["status"]), problem)
        return False

    def _give_up(self, status: str, problem: str) -> None:
        if not self._failing:
            self._failing = True
            logger.warning(
                "session {}: webhook {} did not take status {!r} ({}); further failures are not logged until it "
                "answers again",
                self.session_id,
                self.where,
                status,
                problem,
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("session {}: webhook {} answers again", self.session_id, self.where)

    async def flush(self, timeout: float) -> bool:
        return await self._queue.flush(timeout)

    async def aclose(self, timeout: float = 2.0) -> None:
        """Deliver what is queued within `timeout`, then stop (the rest is dropped, and said so)."""
        left = await self._queue.aclose(timeout)
        if left:
            logger.warning(
                "session {}: webhook {}: {} status change(s) not delivered before closing",
                self.session_id,
                self.where,
                left,
            )
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.close()
            self._http = None
