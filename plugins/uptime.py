"""Example plugin: logs how long each connection stayed open."""

from __future__ import annotations

import time

from loguru import logger

from plugins import on
from whatsapp import events

_opened_at: float | None = None


@on(events.Connected)
def connection_opened(event: events.Connected) -> None:
    global _opened_at
    _opened_at = time.monotonic()


@on(events.Disconnected)
def connection_closed(event: events.Disconnected) -> None:
    global _opened_at
    if _opened_at is not None:
        logger.info("connection was open for {:.0f}s", time.monotonic() - _opened_at)
        _opened_at = None
