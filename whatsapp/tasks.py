"""Stopping background asyncio tasks on shutdown paths."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from loguru import logger

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Future[T] | None, what: str) -> None:
    """Cancel `task` (if it still runs) and wait until it has finished.

    Shutdown must complete, so an exception the task ends with is logged, never raised: one failing
    worker must not keep the others (or the store behind them) from closing.
    """
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        logger.opt(exception=True).warning("{} ended with an error while stopping", what)
