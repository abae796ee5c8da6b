"""`SessionMonitor`: the client's and the store's lifecycle events, fed to the history and the webhook.

    monitor = SessionMonitor(store_config)      # history always; webhook when store_config.webhook_url is set
    monitor.attach(client, store)               # before client.start(), so the first QR is seen
    ...
    await monitor.aclose()                      # bounded: flushes what is queued, then stops

It subscribes through the client's public event API (`client.on(events.X)`), watches the store's
`lease_lost`, and tells the store why it is being cleared (the disconnect reason the client recorded
in `client.history` just before it calls `clear()`), so the archive names the cause.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from loguru import logger

from storage.archive import prune_archive_folders
from storage.config import StoreConfig
from storage.history import SessionHistory
from storage.webhook import SessionWebhook, WebhookTiming
from whatsapp import events
from whatsapp.reconnect import CODE_REPLACED, DisconnectKind, DisconnectReason
from whatsapp.tasks import cancel_and_wait

E = TypeVar("E", bound=events.Event)


class EventSource(Protocol):
    """What the monitor needs from a client: `whatsapp.Client.on`."""

    def on(self, event_type: type[E]) -> Callable[[Callable[[E], Any]], Callable[[E], Any]]: ...


class LeaseHolder(Protocol):
    """What the monitor needs from a store: `storage.SessionStore`'s lease state."""

    lease_lost: asyncio.Event
    logout_reason: Callable[[], str | None] | None  # asked by clear(): why the session is being archived

    @property
    def lease_token(self) -> int | None: ...


def last_disconnect(client: object) -> str | None:
    """The reason of the connection that just ended, as `Client.history` records it before clearing."""
    history = getattr(client, "history", None)  # a deque of (reason, decision), newest last
    if isinstance(history, Sequence) and history:
        reason = history[-1][0] if isinstance(history[-1], tuple) else None
        if isinstance(reason, DisconnectReason):
            return str(reason)
    return None


class SessionMonitor:
    def __init__(
        self,
        config: StoreConfig,
        *,
        history: SessionHistory | None = None,
        webhook: SessionWebhook | None = None,
        webhook_timing: WebhookTiming | None = None,
        host: str | None = None,
    ) -> None:
        self.config = config
        self.host = host or socket.gethostname()
        self.history = history or SessionHistory(config, host=self.host)
        if webhook is None and config.webhook_url:
            webhook = SessionWebhook(config.webhook_url, config.session_id, timing=webhook_timing, host=self.host)
        self.webhook = webhook
        self.me_id: str | None = None
        self._status: str | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._pruned = False

    def __repr__(self) -> str:
        return f"SessionMonitor(session={self.config.session_id!r}, webhook={self.webhook!r})"

    # ---- wiring ----

    def attach(self, client: EventSource, store: LeaseHolder | None = None) -> None:
        client.on(events.QR)(self._pairing)
        client.on(events.PairingCode)(self._pairing)
        client.on(events.PairSuccess)(self._paired)
        client.on(events.Connected)(self._connected)
        client.on(events.Disconnected)(self._disconnected)
        client.on(events.LoggedOut)(self._logged_out)
        client.on(events.Replaced)(self._replaced)
        if store is not None:
            self.watch(store)
            store.logout_reason = lambda: last_disconnect(client)
        if not self._pruned:
            self._pruned = True
            asyncio.get_running_loop().create_task(self._prune_archives())

    def watch(self, store: LeaseHolder) -> None:
        """Record the lease this process holds now, and its loss when that happens."""
        if store.lease_token is not None:
            self.history.record("lease_taken", code=store.lease_token)
        if self._lease_task is None:
            self._lease_task = asyncio.get_running_loop().create_task(self._wait_lease_lost(store))

    async def _wait_lease_lost(self, store: LeaseHolder) -> None:
        await store.lease_lost.wait()
        self.history.record("lease_lost", code=store.lease_token, reason="another process owns the session now")

    async def _prune_archives(self) -> None:
        try:
            await asyncio.to_thread(prune_archive_folders, self.config.auth_dir)
        except OSError as exc:
            logger.warning("session {}: pruning old archive folders failed: {}", self.config.session_id, exc)

    # ---- events ----

    def _status_change(self, status: str, *, code: int | None = None, reason: str | None = None) -> None:
        self._status = status
        if self.webhook is not None:
            self.webhook.notify(status, me_id=self.me_id, code=code, reason=reason)

    def _pairing(self, event: events.QR | events.PairingCode) -> None:
        if self._status != "pairing":  # a new QR every 20 s is one pairing, not many
            self.history.record("pairing", reason="QR" if isinstance(event, events.QR) else "pairing code")
            self._status_change("pairing")

    def _paired(self, event: events.PairSuccess) -> None:
        self.me_id = event.me_id
        self.history.record("paired", reason=event.me_id)
        self._status_change("paired")

    def _connected(self, event: events.Connected) -> None:
        self.me_id = event.me_id or self.me_id
        self.history.record("open", reason=self.me_id)
        self._status_change("open")

    def _disconnected(self, event: events.Disconnected) -> None:
        reason = event.reason
        text = f"{reason.kind.value}: {reason.text}"
        self.history.record("close", code=reason.code, reason=text)
        # Each failed reconnect during an outage is history, not a status change; nor is the 515 restart the
        # server asks for right after pairing (the client reconnects at once).
        if self._status != "closed" and reason.kind is not DisconnectKind.RESTART:
            self._status_change("closed", code=reason.code, reason=text)

    def _logged_out(self, event: events.LoggedOut) -> None:
        self.history.record("logged_out", code=event.reason.code, reason=event.reason.text)
        self._status_change("logged_out", code=event.reason.code, reason=event.reason.text)
        self.me_id = None

    def _replaced(self, event: events.Replaced) -> None:
        self.history.record("conflict", code=event.reason.code or CODE_REPLACED, reason=event.reason.text)

    # ---- shutdown ----

    async def aclose(self, timeout: float = 1.5) -> None:
        """Flush the history and the webhook within `timeout` (together), then stop them."""
        if self._lease_task is not None:
            await cancel_and_wait(self._lease_task, f"session {self.config.session_id}: lease watch")
            self._lease_task = None
        closing = [self.history.aclose(timeout)]
        if self.webhook is not None:
            closing.append(self.webhook.aclose(timeout))
        await asyncio.gather(*closing)
