"""The emulated server's settings: timings and protocol knobs tests may change, even on a running server."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

HANDSHAKE_TIMEOUT = 20.0
# A logged-in connection that sends nothing for this long is closed, as WhatsApp drops a silent client: both
# reference clients ping every 20-30 s (whatsmeow `keepalive.go`, Baileys `keepAliveIntervalMs`), so only a
# dead or frozen client ever reaches it. A registering connection is bounded by its QR refs instead.
IDLE_TIMEOUT = 60.0
# What WhatsApp gives new groups since 2025 (and Baileys 7's default addressing).
DEFAULT_GROUP_ADDRESSING = "lid"
# Sent as <ib><edge_routing> after login; clients echo it in an "ED" prefix when they reconnect.
DEFAULT_EDGE_ROUTING = b"\x08\x08\x08\x02"
# WA Web builds older than this are refused with <failure reason="405">, as the December 2026 server refuses
# builds from before mid-2026 (the client's own old default, 2.3000.1035194821 from March 2026, among them).
# Both pinned Baileys releases (2.3000.1043857760) and our default (payload.DEFAULT_VERSION) are newer.
DEFAULT_MIN_VERSION = (2, 3000, 1_040_000_000)


@dataclass(slots=True)
class QRTimings:
    """How long each pair-device ref stays valid (WhatsApp: 60 s for the first, 20 s for each next one)."""

    ref_count: int = 6
    first: float = 60.0
    following: float = 20.0
    # After the last ref expires the server drops the connection; the client's own timer (Baileys: 408
    # "QR refs attempts ended") normally fires first, as against WhatsApp.
    close_grace: float = 2.0

    def deadlines(self, start: float) -> list[float]:
        return [start + self.first + i * self.following for i in range(self.ref_count)]


@dataclass(slots=True)
class ServerSettings:
    """Read at the moment each is needed, so a test may change one on a running server."""

    qr_timings: QRTimings = field(default_factory=QRTimings)
    pair_timeout: float = 15.0  # how long the phone waits for the companion's pair-device-sign
    # A pause before the server's first frame after the handshake: simulated network latency, 0 by default,
    # since the real server answers at once. Only the Baileys 6.7 harness sets it (harness/baileys.py,
    # network_delay): Baileys 6.7 switches to its transport keys in an un-awaited step after sending
    # clientFinish, which a frame arriving over loopback can beat but one crossing a real network cannot.
    first_frame_delay: float = 0.0
    # Seconds of silence after which a logged-in connection is closed (None: never).
    idle_timeout: float | None = IDLE_TIMEOUT
    # AB props answered to `<iq xmlns="abt"><props/>` (account_iqs.py), config code or name -> value.
    ab_props: dict[str, str] = field(default_factory=dict)
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    # Clients echo it in an "ED" prefix when they reconnect (ClientConnection.routing_info). None sends nothing.
    edge_routing: bytes | None = DEFAULT_EDGE_ROUTING
    # Clients announcing an older WA Web version get <failure reason="405"> (client outdated).
    min_version: tuple[int, int, int] | None = DEFAULT_MIN_VERSION
    # Trust tokens (tokens.py): a 1:1 message to a contact who issued the sender a token must carry it, a
    # restricted sender needs one, a wrong token is refused: `<ack error="463">`, not delivered. On by
    # default, as the 2026 server; Baileys 6 never attaches tokens, so its replies to a contact who issued
    # one are refused (tests/test_emulator_tokens.py, tests/test_messaging_direct.py say so on purpose).
    tctoken_enforcement: bool = True
    # The phone sends each new companion its history sync after the first login (phone_history.py), as a real
    # phone does. Off by default for now: every other test would then see the extra message, its download
    # and receipts; tests/test_history_sync.py turns it on.
    history_sync: bool = False
    # The phone shares the account's app-state key with each new companion after its first login
    # (app_state.py). Off by default: a Baileys client given a key syncs every collection at once, traffic
    # other tests do not expect; tests/test_appstate_baileys.py turns it on.
    app_state_keys: bool = False


class BackgroundTasks:
    """Tasks that outlive the connection that started them (a pairing-code link ends by closing it); the
    server cancels what is left when it stops."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
