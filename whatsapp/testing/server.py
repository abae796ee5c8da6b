"""The emulated WhatsApp server: an asyncio WebSocket server speaking the real wire protocol.

    async with EmulatedServer() as server:
        account = server.create_account("15550001111")
        # point a client at server.url, trusting server.root_public_key
        qr = ...                                    # the QR string the client shows
        device = await account.phone.scan_qr(qr)    # pair-success, pair-device-sign, 515
        await server.wait_for(lambda ev: ev.kind == "logged_in" and ev.device is device)

This module owns the pieces and the life of each connection (handshake, then registration or login,
then the read loop); each protocol concern lives in its own module, built here over the one
`ServerState`:

    connection.py   Noise responder, framing, stanza I/O      pairing.py   QR refs, pairing-code stages
    login.py        <success>/<failure>, offline marker        phone.py     the simulated primary phone
    dispatch.py     the handler table (tag, xmlns/type/child)  prekeys.py   count, upload, digest, rotate
    upkeep.py       pings, passive, logout                     messaging.py routing handlers over routing.py
    presence.py     presence, subscriptions and their relay    calls.py     call offers, rejects
    notices.py      identity-change and block-list notices
    faults.py       stream errors, drops, silences on demand   state.py     accounts, devices, groups, events
    media_host.py   HTTPS media hosts, media_conn              media_retry.py the phone's media re-uploads
    phone_history.py the phone's history sync, hist_sync receipts
    strict.py       "unmodelled" reports                       account_iqs.py  AB props, blocklist, privacy

The server never decrypts end-to-end content (the simulated phone decrypts what is addressed to it).
A logged-in connection silent for `idle_timeout` seconds is closed; `add_tap` watches every stanza.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from whatsapp.binary import Node
from whatsapp.errors import WhatsAppError
from whatsapp.jid import JID
from whatsapp.keys import KeyPair
from whatsapp.testing import strict
from whatsapp.testing.account_iqs import install as install_account_iqs
from whatsapp.testing.app_state import AppStateServer
from whatsapp.testing.calls import CallService
from whatsapp.testing.certauthority import CertificateAuthority
from whatsapp.testing.client_payload import parse_client_payload
from whatsapp.testing.connection import ClientConnection, StanzaTap
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.events import EventPredicate, ServerEvent
from whatsapp.testing.faults import Faults
from whatsapp.testing.login import Login
from whatsapp.testing.media_host import MediaHost
from whatsapp.testing.media_retry import PhoneMedia
from whatsapp.testing.messaging import install as install_messaging
from whatsapp.testing.pairing import Pairing
from whatsapp.testing.phone import PrimaryPhone
from whatsapp.testing.phone_history import PhoneHistory
from whatsapp.testing.prekeys import install as install_prekeys
from whatsapp.testing.presence import PresenceService
from whatsapp.testing.privacy import install as install_privacy
from whatsapp.testing.profile import install as install_profile
from whatsapp.testing.routing import Router
from whatsapp.testing.settings import (
    DEFAULT_EDGE_ROUTING,
    DEFAULT_GROUP_ADDRESSING,
    DEFAULT_MIN_VERSION,
    HANDSHAKE_TIMEOUT,
    IDLE_TIMEOUT,
    BackgroundTasks,
    QRTimings,
    ServerSettings,
)
from whatsapp.testing.state import Account, Device, ServerState
from whatsapp.testing.upkeep import install as install_upkeep

DEFAULT_PATH = "/ws/chat"

__all__ = ["DEFAULT_PATH", "EmulatedServer", "QRTimings"]


class EmulatedServer:
    """An in-process WhatsApp server on 127.0.0.1; use as `async with EmulatedServer() as server`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ca: CertificateAuthority | None = None,
        qr_timings: QRTimings | None = None,
        pair_timeout: float = 15.0,
        first_frame_delay: float = 0.0,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        idle_timeout: float | None = IDLE_TIMEOUT,
        edge_routing: bytes | None = DEFAULT_EDGE_ROUTING,
        state: ServerState | None = None,
        min_version: tuple[int, int, int] | None = DEFAULT_MIN_VERSION,
        group_addressing_mode: str = DEFAULT_GROUP_ADDRESSING,
    ) -> None:
        """`state` and `ca` taken from a stopped server make a "restarted" one: same accounts, devices
        and root key, so linked clients log straight back in (pass its `port` too to keep the URL)."""
        self.host = host
        self.port = port
        self.state = state or ServerState()
        self.ca = ca or CertificateAuthority()
        self.noise_key = KeyPair.generate()
        self.cert_chain = self.ca.issue_chain(self.noise_key.public)
        self.settings = ServerSettings(
            qr_timings=qr_timings or QRTimings(), pair_timeout=pair_timeout, first_frame_delay=first_frame_delay,
            handshake_timeout=handshake_timeout, edge_routing=edge_routing, min_version=min_version,
            idle_timeout=idle_timeout,
        )
        self.connections: set[ClientConnection] = set()
        self.taps: list[StanzaTap] = []  # shared with every connection (add_tap)
        self.handlers = Handlers()
        self.router = Router(self.state, group_addressing_mode, self.settings)
        self.faults = Faults(self._live_connection)
        self._background = BackgroundTasks()
        self.pairing = Pairing(self.state, self.settings, self._background, lambda: self.connections)
        self.login = Login(self.state, self.settings, self.handlers)
        self._server: Server | None = None
        install_account_iqs(self.handlers, self.settings)  # first: a concern module may replace one of these
        install_profile(self.handlers)
        install_prekeys(self.handlers)
        install_upkeep(self.handlers)
        self.presence = PresenceService(self.state)  # presence, subscriptions and their relay (presence.py)
        self.presence.install(self.handlers)
        self.calls = CallService(self.state)  # a contact's call offer, a companion's reject (calls.py)
        self.calls.install(self.handlers)
        install_privacy(self.handlers)
        self.pairing.install(self.handlers)
        install_messaging(self.handlers, self.router)
        # Media: the HTTPS hosts and media_conn (media_host.py), the phone's re-uploads (media_retry.py).
        self.media = MediaHost(self.state)
        self.media.install(self.handlers)
        self.phone_media = PhoneMedia(self.state, self.media)
        self.phone_media.install(self.handlers)  # after messaging: it takes server-error receipts first
        # The phone's history sync to new companions and their hist_sync receipts (phone_history.py).
        self.phone_history = PhoneHistory(self.state, self.settings, self.media)
        self.phone_history.install(self.handlers)
        # App-state collections, uploads, server_sync and the phone's key shares (app_state.py).
        self.app_state = AppStateServer(self.state, self.settings, self.phone_history)
        self.app_state.install(self.handlers)
        strict.announce(self.state)  # open strictness watches (strict.py) hear this server's reports
        # The phones of a restarted server's accounts act on this server from now on.
        for account in self.state.accounts.values():
            self._attach_phone(account)

    def __repr__(self) -> str:
        return f"EmulatedServer({self.url if self._server else 'not started'})"

    # -- settings (also on `settings`; a test may change them on a running server) ---------------

    @property
    def qr_timings(self) -> QRTimings:
        return self.settings.qr_timings

    @qr_timings.setter
    def qr_timings(self, value: QRTimings) -> None:
        self.settings.qr_timings = value

    @property
    def edge_routing(self) -> bytes | None:
        return self.settings.edge_routing

    @edge_routing.setter
    def edge_routing(self, value: bytes | None) -> None:
        self.settings.edge_routing = value

    @property
    def group_addressing_mode(self) -> str:
        """The addressing mode ("lid" or "pn") groups created from now on get."""
        return self.router.groups.addressing_mode

    @group_addressing_mode.setter
    def group_addressing_mode(self, mode: str) -> None:
        self.router.groups.addressing_mode = mode

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await serve(
            self._serve,
            self.host,
            self.port,
            max_size=None,  # history and app-state frames exceed websockets' 1 MiB default
            ping_interval=None,  # liveness is the protocol's own w:p pings, as with the real server
            process_request=self._check_path,
        )
        self.port = self._server.sockets[0].getsockname()[1] if self.port == 0 else self.port
        await self.media.start()
        logger.info("emulator: listening on {} (root key {})", self.url, self.root_public_key.hex())

    async def stop(self) -> None:
        if self._server is None:
            return
        for connection in list(self.connections):
            connection.abort("server stopping")
        self._background.cancel_all()
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        await self.media.stop()
        logger.info("emulator: stopped")

    async def __aenter__(self) -> EmulatedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{DEFAULT_PATH}"

    @property
    def root_public_key(self) -> bytes:
        """The CA root clients under test must trust instead of WhatsApp's."""
        return self.ca.root_public_key

    # -- accounts and events --------------------------------------------------------------------

    def create_account(self, phone: str, *, push_name: str | None = None, lid: str | None = None) -> Account:
        """A new account with a simulated primary phone (`account.phone`) that can link companions."""
        account = self.state.add_account(phone, lid=lid, push_name=push_name)
        self._attach_phone(account)
        logger.info("emulator: account {} created (lid {})", phone, account.lid)
        return account

    def _attach_phone(self, account: Account) -> None:
        account.attached_phone = PrimaryPhone(account, self.state, self.pairing)

    def account(self, phone: str) -> Account:
        return self.state.accounts[phone]

    def phone(self, phone: str) -> PrimaryPhone:
        """The simulated primary phone of an account (also `account.phone`)."""
        phone_object = self.state.accounts[phone].attached_phone
        assert isinstance(phone_object, PrimaryPhone)
        return phone_object

    async def wait_for(self, predicate: EventPredicate, timeout: float = 30.0, *, past: bool = True) -> ServerEvent:
        return await self.state.events.wait_for(predicate, timeout, past=past)

    async def wait_for_event(
        self, kind: str, device: Device | None = None, timeout: float = 30.0, *, past: bool = True
    ) -> ServerEvent:
        """Shorthand: the first event of `kind` (for `device`, when given)."""
        return await self.wait_for(
            lambda ev: ev.kind == kind and (device is None or ev.device is device), timeout, past=past
        )

    async def send_to(self, target: Device | JID | str, node: Node) -> bool:
        """Send a stanza to a device if it is online; False (nothing sent) otherwise."""
        device = target if isinstance(target, Device) else self.state.device_for(target)
        if device is None or device.connection is None:
            return False
        await device.connection.send_node(node)
        return True

    def add_tap(self, tap: StanzaTap) -> Callable[[], None]:
        """Watch every stanza on every connection, both ways: `tap(connection, "in" | "out", node)` is called
        with each one the server decodes from a client or sends to it. Returns a function that removes the tap.

        A tap sees the wire from the server's side, so recording what a client sends needs no hook in the
        client (the wire-conformance test records Baileys and our client this way)."""
        self.taps.append(tap)
        return lambda: self.taps.remove(tap) if tap in self.taps else None

    def connections_of(self, device: Device) -> list[ClientConnection]:
        return [c for c in self.connections if c.device is device and not c.closed.is_set()]

    def registering_connections(self) -> list[ClientConnection]:
        return self.pairing.registering_connections()

    def find_registration(self, ref: str | bytes) -> ClientConnection | None:
        """The registering connection that was given `ref`, if that ref is still valid."""
        return self.pairing.find_registration(ref)

    def _live_connection(self, device: Device) -> ClientConnection | None:
        return next((c for c in self.connections if c is device.connection), None)

    # -- one connection -------------------------------------------------------------------------

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] != DEFAULT_PATH:
            return connection.respond(404, f"only {DEFAULT_PATH} is served\n")
        return None

    async def _serve(self, websocket: ServerConnection) -> None:
        connection = ClientConnection(websocket, self.state.next_connection_id(), self.noise_key, self.cert_chain,
                                      self.taps)
        self.connections.add(connection)
        try:
            await self._run_connection(connection)
        except ConnectionClosed:
            connection.mark_closed("client closed the connection")
        except Exception as exc:  # a bug in the emulator must not take the other connections down
            logger.exception("emulator: connection #{} crashed: {}", connection.id, exc)
            connection.mark_closed(f"emulator error: {exc}")
        finally:
            await self._cleanup(connection)

    async def _run_connection(self, connection: ClientConnection) -> None:
        try:
            raw_payload = await asyncio.wait_for(connection.handshake(), self.settings.handshake_timeout)
            payload = parse_client_payload(raw_payload)
        except (WhatsAppError, TimeoutError) as exc:
            logger.warning("emulator: connection #{} handshake failed: {}", connection.id, exc)
            await connection.close(f"handshake failed: {exc}", code=1002)
            return
        connection.payload = payload
        if self.settings.first_frame_delay:
            await asyncio.sleep(self.settings.first_frame_delay)
        self.state.emit("connected", connection=connection, data={"registration": payload.is_registration})
        if await self.login.refuse_outdated(connection, payload):
            return
        if await self.login.refuse_registration(connection, payload):
            return
        if payload.is_registration:
            await self.pairing.begin_registration(connection, payload)
        elif not await self.login.login(connection, payload):
            return
        await self._read_loop(connection)

    async def _read_loop(self, connection: ClientConnection) -> None:
        context = HandlerContext(self.state, connection)
        stanzas = connection.stanzas()
        while True:
            idle = self.settings.idle_timeout if connection.registration is None else None
            try:
                async with asyncio.timeout(idle):
                    node = await anext(stanzas)
            except StopAsyncIteration:
                return
            except TimeoutError:
                logger.info("emulator: connection #{} silent for {}s, closing it", connection.id, idle)
                await connection.close(f"idle for {idle}s")
                return
            except (WhatsAppError, ValueError) as exc:
                # One client's garbage closes that client only.
                logger.warning("emulator: connection #{} sent a malformed frame, closing it: {}", connection.id, exc)
                await connection.close(f"malformed frame: {exc}", code=1002)
                return
            self.state.emit("stanza", connection=connection, device=connection.device, data={"node": node})
            await self.handlers.dispatch(context, node)

    async def _cleanup(self, connection: ClientConnection) -> None:
        connection.mark_closed(connection.close_reason or "closed")
        for task in list(connection.tasks):
            task.cancel()
        device = connection.device
        if device is not None and device.connection is connection:
            device.connection = None
        if connection.registration is not None:
            self.pairing.forget(connection)
        context = HandlerContext(self.state, connection)
        for hook in self.handlers.close_hooks:
            try:
                await hook(context)
            except Exception as exc:
                logger.exception("emulator: close hook failed: {}", exc)
        self.connections.discard(connection)
        logger.info("emulator: connection #{} closed ({})", connection.id, connection.close_reason)
        self.state.emit("closed", connection=connection, device=device, account=device.account if device else None,
                        data={"reason": connection.close_reason})

    def emit(self, kind: str, *, device: Device | None = None, account: Account | None = None,
             connection: ClientConnection | None = None, data: dict[str, Any] | None = None) -> ServerEvent:
        """Record a server event (tests and handlers may add their own kinds)."""
        return self.state.emit(kind, device=device, account=account, connection=connection, data=data)
