"""The bot daemon: `python bot.py` links to an account, stays online, and comes back by itself.

Configuration comes from the environment and `.env` (see `.env.example` and `botconfig.py`).
SIGTERM / SIGINT stop taking new messages for the handlers, let the running ones finish and send
their replies (BOT_SHUTDOWN_GRACE, 8 s by default), then close the socket (never a logout), flush the
store and exit 0 — all inside the stop windows of Railway (drainingSeconds) and Heroku (30 s).
SIGHUP reloads the plugins (edited files run again) on the same connection; a plugin that fails to
load keeps the previous set. A crash
exits non-zero, so a platform restart policy of "on failure" restarts only what should be restarted.

Exit codes: 0 deliberate stop (signal, replaced by another instance, lease lost);
1 crash; 2 configuration error; 3 the server refused this client (outdated, fatal login failure).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import sys
from pathlib import Path

import qrcode
from dotenv import load_dotenv
from loguru import logger

import bot_device
import sandbox
import storage
from botconfig import BotConfig, ConfigError
from botlog import configure_logging
from botstart import check_auth_dir, log_start
from botstatus import StatusBoard, StatusServer
from storage.errors import WrongEncryptionKeyError
from whatsapp import events
from whatsapp.auth import AuthState
from whatsapp.bot import Dispatcher, install, load_plugins, reload_plugins
from whatsapp.client import Client
from whatsapp.errors import WhatsAppError
from whatsapp.media_http import MediaOptions, MiB
from whatsapp.payload import DeviceConfig
from whatsapp.reconnect import DisconnectKind, ReconnectPolicy

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_CONFIG = 2
EXIT_REFUSED = 3
# Seconds for closing the socket and the store (half each), after the handlers' grace (BOT_SHUTDOWN_GRACE,
# at most 20 s): the default total of 8 + 9 + 1 s stays inside Heroku's 30 s and Railway's draining window.
SHUTDOWN_BUDGET = 9.0


def render_qr(code: str) -> str:
    qr = qrcode.QRCode(border=1)
    qr.add_data(code)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="WhatsApp bot daemon")
    parser.add_argument("--sandbox", action="store_true",
                        help="chat with the bot offline: an emulated WhatsApp in this process, you as a contact on "
                        "standard input, its answers on standard output (a throw-away session, never MongoDB)")
    parser.add_argument("--reset-session", action="store_true",
                        help="log out (when the server answers), delete the stored session, then pair anew")
    parser.add_argument("--logout", action="store_true",
                        help="unlink this device from the account, clear the stored session (archived) and exit")
    parser.add_argument("--devices", action="store_true", help="list the account's devices and exit")
    parser.add_argument("--export-session", metavar="PATH", help="write the stored session to PATH and exit")
    parser.add_argument("--import-session", metavar="PATH", help="load a session exported earlier and exit")
    parser.add_argument("--import-baileys", metavar="DIR", help="import a Baileys multi-file auth folder and exit")
    parser.add_argument(
        "--passphrase-env",
        metavar="VAR",
        default="SESSION_EXPORT_PASSPHRASE",
        help="environment variable holding the passphrase of --export-session/--import-session files "
        "(default SESSION_EXPORT_PASSPHRASE; falls back to SESSION_ENCRYPTION_KEY)",
    )
    return parser.parse_args(argv)


def store_config(config: BotConfig) -> storage.StoreConfig:
    return storage.StoreConfig(
        auth_dir=Path(config.auth_dir),
        session_id=config.session_id,
        mongodb_uri=config.mongodb_uri,
        mongodb_db=config.mongodb_db,
        encryption_key=config.session_encryption_key,
        webhook_url=config.session_webhook_url,
    )


async def session_tool(config: BotConfig, args: argparse.Namespace) -> int:
    cfg = store_config(config)
    if args.import_baileys:
        await storage.import_baileys_folder(cfg, Path(args.import_baileys))
        logger.info("Baileys auth folder {} imported into session {!r}", args.import_baileys, config.session_id)
        return EXIT_OK
    passphrase = os.environ.get(args.passphrase_env) or config.session_encryption_key
    if not passphrase:
        sys.stderr.write(f"configuration error: {args.passphrase_env}: set a passphrase for the session file\n")
        return EXIT_CONFIG
    if args.export_session:
        await storage.export_session(cfg, Path(args.export_session), passphrase)
        logger.info("session {!r} exported to {}", config.session_id, args.export_session)
    else:
        await storage.import_session(cfg, Path(args.import_session), passphrase)
        logger.info("session {!r} imported from {}", config.session_id, args.import_session)
    return EXIT_OK


def build_client(config: BotConfig, auth: AuthState, media: MediaOptions | None = None, *,
                 terminal_qr: bool = True) -> Client:
    presence = None if config.presence == "none" else config.presence
    client = Client(
        auth,
        url=config.wa_url,
        root_public_key=config.wa_root_key,
        device=DeviceConfig(push_name=config.push_name, sync_full_history=config.full_history),
        phone_number=config.phone_number,
        presence=presence,
        version=config.wa_version,  # renewed by itself on a 405 (whatsapp/version.py)
        version_url=config.wa_version_url,
        # A daemon that was unlinked starts a fresh pairing by itself (the stored session is cleared).
        policy=ReconnectPolicy(pair_again_after_logout=True),
        media=media or MediaOptions(max_download_bytes=int(config.max_download_mb * MiB)),
        signed_prekey_rotation_days=config.signed_prekey_rotation_days,
    )

    @client.on(events.QR)
    def show_qr(event: events.QR) -> None:
        if terminal_qr:
            sys.stdout.write(render_qr(event.code))
            sys.stdout.flush()
        logger.info("QR code {}/{} (valid {:.0f}s): {}", event.index + 1, event.total, event.timeout, event.code)

    @client.on(events.PairingCode)
    def show_code(event: events.PairingCode) -> None:
        logger.info(
            "pairing code for +{}: {}  (WhatsApp → Linked devices → Link with phone number)",
            config.phone_number,
            event.display,
        )

    @client.on(events.PairSuccess)
    def paired(event: events.PairSuccess) -> None:
        logger.info("linked to {}", event.me_id)

    @client.on(events.Connected)
    def connected(event: events.Connected) -> None:
        logger.info("bot online as {}", event.me_id)

    if config.reject_calls:  # BOT_REJECT_CALLS=on: a bot cannot answer, so the caller hears "declined" at once

        @client.on(events.CallOffered)
        async def reject(event: events.CallOffered) -> None:
            try:
                await client.reject_call(event)
            except WhatsAppError as exc:
                logger.warning("call {} could not be rejected: {}", event.call_id, exc)
                return
            logger.info("call from {} rejected (BOT_REJECT_CALLS=on)", event.caller.to_non_ad())

    @client.on(events.OfflineSyncCompleted)
    def offline_done(event: events.OfflineSyncCompleted) -> None:
        logger.debug("offline backlog done ({} stanzas)", event.count)

    return client


def attach_plugins(config: BotConfig, client: Client) -> Dispatcher:
    """A Dispatcher over the routers of the plugin packages (BOT_PLUGINS), subscribed to the client."""
    dispatcher = Dispatcher(
        client,
        prefixes=config.command_prefixes,
        stale_after=config.stale_after,
        max_concurrency=config.max_concurrency,
        handler_timeout=config.handler_timeout,
        read_receipts=config.read_receipts,
        self_commands=config.self_commands,
    )
    loaded = load_plugins(*config.plugin_packages)
    dispatcher.include_routers(*(plugin.router for plugin in loaded))
    # !help, !id, !status, F.owner/F.admin, BOT_ERROR_REPLY; chat and user state kept in the session store
    install(dispatcher, owners=config.owners, error_reply=config.error_reply, state_store=client.auth)
    if loaded:
        logger.info("plugins loaded: {}", ", ".join(plugin.name for plugin in loaded))
    return dispatcher.attach()


def build_bot(config: BotConfig, auth: AuthState, media: MediaOptions) -> tuple[Client, Dispatcher]:
    """The client and its plugins as the daemon builds them, on another server (the sandbox's)."""
    client = build_client(config, auth, media, terminal_qr=False)
    return client, attach_plugins(config, client)


async def _wait_lease_lost(store: storage.SessionStore) -> None:
    await store.lease_lost.wait()


async def run_bot(config: BotConfig, reset_session: bool = False) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    reloading: set[asyncio.Task[object]] = set()  # strong references: a reload task is not collected midway

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        if signum == signal.SIGHUP:
            if dispatcher is None or stop.is_set():
                logger.info("SIGHUP received: no plugins to reload yet (or stopping); ignored")
                return
            logger.info("SIGHUP received: reloading the plugins; the connection stays")
            task: asyncio.Task[object] = loop.create_task(reload_plugins(dispatcher, config.plugin_packages))
            reloading.add(task)
            task.add_done_callback(reloading.discard)
            return
        signals_seen += 1
        name = signal.Signals(signum).name
        if signals_seen == 1:
            logger.info("{} received: finishing the running handlers, then closing the connection (the session "
                        "stays linked)", name)
            stop.set()
        else:
            logger.info("{} received again; already stopping", name)

    def handler(signum: int, frame: object) -> None:
        # Plain signal handlers (not loop.add_signal_handler) stay installed after the loop closes,
        # so a second SIGTERM during the final flush is still harmless.
        if not loop.is_closed():
            loop.call_soon_threadsafe(on_signal, signum)

    # SIGHUP is the daemons' "reload your configuration": here the plugins, on the same connection.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, handler)

    cfg = store_config(config)
    if reset_session:
        logger.warning("--reset-session: deleting stored session {!r}; the bot will pair anew", config.session_id)
        # Logged out first, the phone forgets this device; otherwise its entry would stay there as a ghost.
        if await bot_device.logout(cfg, lambda auth: build_client(config, auth)) is bot_device.Outcome.UNREACHABLE:
            logger.warning("--reset-session: deleting the stored session anyway; {}", bot_device.STAYS_LINKED)
        await storage.reset_session(cfg)

    # open_store waits for MongoDB when it holds the only copy (a redeploy during a database restart): a stop
    # signal meanwhile ends the process at once, with nothing written.
    opening = asyncio.ensure_future(storage.open_store(cfg))
    stop_waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({opening, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
    stop_waiter.cancel()
    if not opening.done():
        opening.cancel()
        await asyncio.gather(opening, return_exceptions=True)
        logger.info("stopped while waiting for MongoDB (nothing was written)")
        return EXIT_OK
    store = opening.result()
    client: Client | None = None
    dispatcher: Dispatcher | None = None
    monitor: storage.SessionMonitor | None = None  # connection history + SESSION_WEBHOOK_URL
    status: StatusServer | None = None  # PORT / STATUS_PORT
    handler_grace = config.shutdown_grace
    try:
        lease = asyncio.ensure_future(store.acquire_lease())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({lease, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not lease.done():
            lease.cancel()
            stopper.cancel()
            return EXIT_OK
        stopper.cancel()
        lease.result()

        client = build_client(config, store)
        monitor = storage.SessionMonitor(cfg)
        monitor.attach(client, store)
        dispatcher = attach_plugins(config, client)  # before start: not even the first message is missed
        log_start(config, store.creds.paired, client.versions.current, [r.name for r in dispatcher.sub_routers])
        if config.status_port is not None:  # before start: the first QR is on the page too
            board = StatusBoard(config.session_id, Path(config.auth_dir) / config.session_id)
            board.attach(client, dispatcher)
            status = StatusServer(board, config.status_port, config.status_token)
            try:
                await status.start()
            except OSError as exc:
                logger.error("status page: cannot listen on port {}: {}", config.status_port, exc.strerror or exc)
                status = None
                return EXIT_CRASH
        await client.start()
        stopped = asyncio.ensure_future(stop.wait())
        client_ended = asyncio.ensure_future(client.wait())
        lease_lost = asyncio.ensure_future(_wait_lease_lost(store))
        waiters = (stopped, client_ended, lease_lost)
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            if waiter not in done:
                waiter.cancel()
        if lease_lost in done:
            logger.error("another instance took the session lease; stopping without touching the session")
            handler_grace = 0.0  # a reply would advance ratchets the other instance now owns
            return EXIT_OK
        if client_ended in done and stopped not in done:
            reason = client_ended.result()
            if reason.kind in (DisconnectKind.REPLACED, DisconnectKind.CLOSED_BY_USER):
                return EXIT_OK
            if reason.kind in (DisconnectKind.OUTDATED, DisconnectKind.FATAL, DisconnectKind.TEMPORARY_BAN):
                return EXIT_REFUSED
            return EXIT_CRASH
        return EXIT_OK
    finally:
        # Handlers first, while the socket is open for their replies; then the socket; then the store.
        if dispatcher is not None:
            await dispatcher.drain(grace=handler_grace)
        if client is not None:
            await client.close(timeout=SHUTDOWN_BUDGET / 2)
        if dispatcher is not None:
            await dispatcher.close(grace=1.0)  # the Disconnected/Stopped handlers
        if status is not None:
            await status.stop()
        # The last history entries and webhook posts (1 s at most), alongside the store's close: no extra time.
        monitor_closed = asyncio.ensure_future(monitor.aclose(timeout=1.0)) if monitor is not None else None
        try:
            await asyncio.wait_for(store.close(), SHUTDOWN_BUDGET / 2)
        except Exception as exc:
            logger.error("store did not close cleanly: {!r}", exc)
        if monitor_closed is not None:
            await monitor_closed
        logger.info("stopped")


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    args = parse_args(argv)
    try:
        config = BotConfig.from_env()
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return EXIT_CONFIG
    if args.sandbox:
        # Standard output is the conversation; the log goes to stderr, quiet unless LOG_LEVEL asks for more.
        level = config.log_level if os.environ.get("LOG_LEVEL") else "WARNING"
        configure_logging(level, config.log_format, sys.stderr)
        try:
            return asyncio.run(sandbox.run_sandbox(config, build_bot))
        except KeyboardInterrupt:
            return EXIT_OK
    configure_logging(config.log_level, config.log_format)
    for name in config.unknown_variables:
        logger.warning("{} is set but no BOT_* variable has that name (a typo?); ignored", name)
    for old, new in config.deprecated_variables:
        logger.warning("{} is deprecated: rename it {} (same format; when both are set, {} is used)", old, new, new)
    if (problem := check_auth_dir(config.auth_dir)) is not None:
        sys.stderr.write(f"configuration error: AUTH_DIR: {problem}\n")
        return EXIT_CONFIG
    try:
        if args.export_session or args.import_session or args.import_baileys:
            return asyncio.run(session_tool(config, args))
        if args.logout or args.devices:
            command = bot_device.logout if args.logout else bot_device.list_devices
            outcome = asyncio.run(command(store_config(config), lambda auth: build_client(config, auth)))
            return EXIT_CRASH if outcome is bot_device.Outcome.UNREACHABLE else EXIT_OK
        return asyncio.run(run_bot(config, reset_session=args.reset_session))
    except KeyboardInterrupt:
        return EXIT_OK
    except WrongEncryptionKeyError as exc:  # configuration, not a crash: a restart would fail the same way
        logger.error("bot crashed: {}: {} (a configuration error: set the key this session was written with)",
                     type(exc).__name__, exc)
        return EXIT_CONFIG
    except WhatsAppError as exc:  # storage corruption, wrong encryption key, ...: say what, no traceback
        logger.error("bot crashed: {}: {}", type(exc).__name__, exc)
        return EXIT_CRASH
    except Exception:
        logger.exception("bot crashed")
        return EXIT_CRASH
    finally:
        # Interpreter shutdown resets Python-level handlers to the default (die); a late second
        # SIGTERM must not turn a clean exit 0 into "killed by signal".
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
