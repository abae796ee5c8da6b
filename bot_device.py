"""The daemon's commands that operate the linked device: `--logout`, `--devices`, and the logout that
`--reset-session` tries first (so the phone keeps no ghost in "Linked devices").

Each one opens the session, takes its lease, logs in (no plugins: nothing is answered meanwhile), does its
one thing and closes. "Could not log in" is told apart from "logged out": a device the server cannot be
asked to forget stays on the phone until it is removed there.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum

from loguru import logger

import storage
from whatsapp import events
from whatsapp.auth import AuthState
from whatsapp.client import Client
from whatsapp.errors import WhatsAppError
from whatsapp.reconnect import DisconnectReason

LOGIN_TIMEOUT = 30.0  # seconds to reach the server and log in before a device command gives up

ClientFactory = Callable[[AuthState], Client]
STAYS_LINKED = "the linked device stays on the phone until it is removed there (WhatsApp → Linked devices)"


class Outcome(StrEnum):
    DONE = "done"
    NOT_PAIRED = "not paired"  # nothing is linked: nothing to log out or list
    UNREACHABLE = "unreachable"  # no login (server away, lease busy, refused): the device stays linked
    UNLINKED = "already unlinked"  # the server said logged out at login: the session was cleared by that


def _linked(auth: AuthState) -> bool:
    return auth.creds.paired


async def _logged_in(client: Client, timeout: float) -> DisconnectReason | None:
    """None once logged in; the first connection's end otherwise (a timeout counts as unreachable)."""
    outcome: asyncio.Future[DisconnectReason | None] = asyncio.get_running_loop().create_future()

    def connected(event: events.Connected) -> None:
        if not outcome.done():
            outcome.set_result(None)

    def ended(event: events.Disconnected) -> None:
        if not outcome.done():
            outcome.set_result(event.reason)

    unsubscribe = [client.add_handler(events.Connected, connected), client.add_handler(events.Disconnected, ended)]
    try:
        await client.start()
        return await asyncio.wait_for(outcome, timeout)
    except TimeoutError:
        return DisconnectReason.network(f"no login within {timeout:.0f}s")
    finally:
        for undo in unsubscribe:
            undo()


async def run_on_device(cfg: storage.StoreConfig, make_client: ClientFactory,
                        action: Callable[[Client], Awaitable[None]], *,
                        timeout: float = LOGIN_TIMEOUT) -> Outcome:
    """Open the session, log in, run `action(client)` (awaited), close. Never pairs: unpaired is NOT_PAIRED."""
    store = await storage.open_store(cfg)
    try:
        if not _linked(store):
            return Outcome.NOT_PAIRED
        try:
            await asyncio.wait_for(store.acquire_lease(), timeout)
        except TimeoutError:
            logger.error("session {}: another process holds the lease; stop it first", cfg.session_id)
            return Outcome.UNREACHABLE
        client = make_client(store)
        monitor = storage.SessionMonitor(cfg)  # the history and the webhook hear of a logout too
        monitor.attach(client, store)
        try:
            failure = await _logged_in(client, timeout)
            if failure is not None:
                if not _linked(store):  # the supervisor cleared it: the server said logged out
                    return Outcome.UNLINKED
                logger.error("could not log in: {}", failure)
                return Outcome.UNREACHABLE
            await action(client)
            return Outcome.DONE
        except WhatsAppError as exc:
            logger.error("{}: {}", type(exc).__name__, exc)
            return Outcome.UNREACHABLE
        finally:
            await client.close()
            await monitor.aclose()
    finally:
        await store.close()


async def logout(cfg: storage.StoreConfig, make_client: ClientFactory, *, timeout: float = LOGIN_TIMEOUT) -> Outcome:
    """Unlink this device and clear (archive) the session; says what happened in one log line."""

    async def unlink(client: Client) -> None:
        await client.logout()

    outcome = await run_on_device(cfg, make_client, unlink, timeout=timeout)
    if outcome is Outcome.DONE:
        logger.info("session {}: logged out; the phone no longer lists this device, the next start pairs anew",
                    cfg.session_id)
    elif outcome is Outcome.NOT_PAIRED:
        logger.info("session {}: not linked to an account; nothing to log out", cfg.session_id)
    elif outcome is Outcome.UNLINKED:
        logger.info("session {}: the device had already been removed on the phone; session cleared", cfg.session_id)
    else:
        logger.warning("session {}: could not reach the server to log out; {}", cfg.session_id, STAYS_LINKED)
    return outcome


async def list_devices(cfg: storage.StoreConfig, make_client: ClientFactory, *,
                       timeout: float = LOGIN_TIMEOUT) -> Outcome:
    """Print the account's devices, one a line: id, platform (when known), which one is this bot."""

    async def show(client: Client) -> None:
        for device in await client.account_devices():
            role = "this bot" if device.this_device else "phone" if device.primary else "linked"
            sys.stdout.write(f"{device.device_id}\t{device.platform or '-'}\t{role}\t{device.jid}\n")
        sys.stdout.flush()

    outcome = await run_on_device(cfg, make_client, show, timeout=timeout)
    if outcome is Outcome.NOT_PAIRED:
        logger.info("session {}: not linked to an account; no devices to list", cfg.session_id)
    return outcome
