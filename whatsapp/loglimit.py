"""Rate-limited warnings: a flood of one kind of failure becomes a few lines and a count, never a log storm.

Pure apart from the injected clock: `LogLimiter.allow(kind)` says whether this occurrence may be
logged at WARNING, and `flush` reports how many were held back when a window closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger


@dataclass(slots=True)
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0


class LogLimiter:
    """At most `limit` warnings per `kind` per `window` seconds; the rest are summed up once per window."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def allow(self, kind: str, summary: str) -> bool:
        """True when this occurrence may be logged. `summary` ({} = the count) reports a closed window."""
        now = self._clock()
        current = self._windows.get(kind)
        if current is None or now - current.start >= self.window:
            if current is not None and current.suppressed:
                logger.warning(summary, current.suppressed)
            current = self._windows[kind] = _Window(now)
        if current.logged < self.limit:
            current.logged += 1
            return True
        current.suppressed += 1
        return False
