"""Application-level keepalive: `w:p` pings that detect a server gone silent.

A half-open TCP connection (NAT timeout, a server that stopped answering) looks healthy to the
socket for a long time; only pings that must be answered reveal it. The timing is data
(`KeepaliveTiming`), the clock, sleep and randomness are injected, so tests run in virtual time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from whatsapp.errors import KeepaliveFailed


@dataclass(frozen=True, slots=True)
class KeepaliveTiming:
    interval_min: float = 20.0
    interval_max: float = 30.0
    response_timeout: float = 10.0
    # Nothing at all received for this long → dead, even if pings were never due (e.g. a stalled loop).
    max_silence: float = 45.0


async def run_keepalive(
    ping: Callable[[float], Awaitable[None]],
    last_received: Callable[[], float],
    timing: KeepaliveTiming = KeepaliveTiming(),
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> None:
    """Ping forever; raise KeepaliveFailed when the server stops answering.

    `ping(timeout)` must send one ping and wait for its answer, raising on timeout or error.
    `last_received()` is the clock time of the last frame received from the server.
    """
    rng = rng or random.Random()
    while True:
        await sleep(rng.uniform(timing.interval_min, timing.interval_max))
        silent_for = clock() - last_received()
        if silent_for > timing.max_silence:
            raise KeepaliveFailed(f"nothing received for {silent_for:.0f}s")
        try:
            await ping(timing.response_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise KeepaliveFailed(f"ping not answered within {timing.response_timeout:.0f}s ({exc!r})") from exc
