"""The emulated WhatsApp server: an asyncio WebSocket server speaking the real wire protocol.

    async with EmulatedServer() as server:
        account = server.create_account("15550001111")
        # point a client at server.url, trusting server.root_public_key
        qr = ...                                    # the QR string the client shows
        device = await account.phone.scan_qr(qr)    # pair-success, pair-device-sign, 515
        await server.wait_for(lambda ev: ev.kind == "logged_in" and ev.device is device)

The core here handles the connection lifecycle (Noise, registration and QR refs, pairing-code stages,
login, prekeys, pings, passive/active, presence, faults). Message routing plugs in through
`whatsapp.testing.dispatch.Handlers` (see that module). It never decrypts end-to-end content.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from whatsapp import xeddsa
from whatsapp.binary import Node
from whatsapp.certs import CertificateAuthority
from whatsapp.errors import WhatsAppError
from whatsapp.jid import JID, SERVER_JID
from whatsapp.key_nodes import encode_key_id, key_type_node, registration_node, signed_key_node
from whatsapp.keys import KeyPair, prefixed
from whatsapp.payload import ParsedClientPayload, parse_client_payload
from whatsapp.testing.connection import HANDSHAKE_TIMEOUT, ClientConnection, Registration
from whatsapp.testing.dispatch import PLUGIN_MODULES, HandlerContext, Handlers, IQError
from whatsapp.testing.faults import Faults
from whatsapp.testing.phone import LinkCodeSession, PrimaryPhone
from whatsapp.testing.state import Account, Device, PreKey, ServerEvent, ServerState, SignedPreKey

DEFAULT_PATH = "/ws/chat"


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


class EmulatedServer:
    """An in-process WhatsApp server on 127.0.0.1; use as `async with EmulatedServer() as server`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ca: CertificateAuthority | None = None,
        qr_timings: QRTimings | None = None,
        plugins: tuple[str, ...] | None = None,
        pair_timeout: float = 15.0,
        first_frame_delay: float = 0.05,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        edge_routing: bytes | None = b"\x08\x08\x08\x02",
        state: ServerState | None = None,
        min_version: tuple[int, int, int] | None = None,
    ) -> None:
        """`state` and `ca` taken from a stopped server make a "restarted" one: same accounts, devices
        and root key, so linked clients log straight back in (pass its `port` too to keep the URL)."""
        self.host = host
        self.port = port
        self.state = state or ServerState()
        self.ca = ca or CertificateAuthority()
        self.noise_key = KeyPair.generate()
        self.cert_chain = self.ca.issue_chain(self.noise_key.public)
        self.qr_timings = qr_timings or QRTimings()
        self.pair_timeout = pair_timeout
        # Baileys 6.7 switches its Noise state to transport keys in an un-awaited async step after sending
        # clientFinish; a frame arriving before that (loopback is fast, real networks are not) is lost and
        # every later one fails to decrypt. A real server is always a network round trip away: so is this one.
        self.first_frame_delay = first_frame_delay
        self.handshake_timeout = handshake_timeout
        # Sent as <ib><edge_routing> after login; clients echo it in an "ED" prefix when they reconnect
        # (ClientConnection.routing_info). None sends nothing.
        self.edge_routing = edge_routing
        # Clients announcing an older WA Web version get <failure reason="405"> (client outdated).
        self.min_version = min_version
        self.handlers = Handlers()
        self.faults = Faults(self)
        self.connections: set[ClientConnection] = set()
        self.link_code_sessions: dict[bytes, LinkCodeSession] = {}  # by link_code_pairing_ref
        self._server: Server | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._register_core_handlers()
        for account in self.state.accounts.values():
            if account.phone is not None:
                account.phone.server = self
        for module_name in PLUGIN_MODULES if plugins is None else plugins:
            self._install_plugin(module_name)

    def __repr__(self) -> str:
        return f"EmulatedServer({self.url if self._server else 'not started'})"

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
        logger.info("emulator: listening on {} (root key {})", self.url, self.root_public_key.hex())

    async def stop(self) -> None:
        if self._server is None:
            return
        for connection in list(self.connections):
            connection.abort("server stopping")
        for task in list(self._background):
            task.cancel()
        self._server.close()
        await self._server.wait_closed()
        self._server = None
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
        account.phone = PrimaryPhone(self, account)
        logger.info("emulator: account {} created (lid {})", phone, account.lid)
        return account

    def account(self, phone: str) -> Account:
        return self.state.accounts[phone]

    async def wait_for(
        self, predicate: Callable[[ServerEvent], bool], timeout: float = 30.0, *, past: bool = True
    ) -> ServerEvent:
        return await self.state.events.wait_for(predicate, timeout, past=past)

    async def wait_for_event(
        self, kind: str, device: Device | None = None, timeout: float = 30.0, *, past: bool = True
    ) -> ServerEvent:
        """Shorthand: the first event of `kind` (for `device`, when given)."""
        return await self.wait_for(
            lambda ev: ev.kind == kind and (device is None or ev.device is device), timeout, past=past
        )

    def emit(self, kind: str, **kwargs: Any) -> ServerEvent:
        return self.state.emit(kind, **kwargs)

    async def send_to(self, target: Device | JID | str, node: Node) -> bool:
        """Send a stanza to a device if it is online; False (nothing sent) otherwise."""
        device = target if isinstance(target, Device) else self.state.device_for(target)
        if device is None or device.connection is None:
            return False
        await device.connection.send_node(node)
        return True

    def connections_of(self, device: Device) -> list[ClientConnection]:
        return [c for c in self.connections if c.device is device and not c.closed.is_set()]

    def registering_connections(self) -> list[ClientConnection]:
        return [c for c in self.connections if c.registration is not None and not c.closed.is_set()]

    def find_registration(self, ref: str | bytes) -> ClientConnection | None:
        """The registering connection that was given `ref`, if that ref is still valid."""
        ref_bytes = ref.encode() if isinstance(ref, str) else ref
        now = time.monotonic()
        for connection in self.registering_connections():
            registration = connection.registration
            assert registration is not None
            if ref_bytes in registration.refs:
                index = registration.refs.index(ref_bytes)
                if now <= registration.ref_deadlines[index]:
                    return connection
        return None

    # -- plugins --------------------------------------------------------------------------------

    def _install_plugin(self, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the plugin exists but one of its imports is missing: surface it
                raise
            logger.debug("emulator: plugin {} not present", module_name)
            return
        module.install(self.handlers)

    # -- one connection -------------------------------------------------------------------------

    def _check_path(self, connection: ServerConnection, request: Any) -> Any:
        if request.path.split("?", 1)[0] != DEFAULT_PATH:
            return connection.respond(404, f"only {DEFAULT_PATH} is served\n")
        return None

    async def _serve(self, websocket: ServerConnection) -> None:
        connection = ClientConnection(self, websocket)
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
            raw_payload = await asyncio.wait_for(connection.handshake(), self.handshake_timeout)
            payload = parse_client_payload(raw_payload)
        except (WhatsAppError, TimeoutError) as exc:
            logger.warning("emulator: connection #{} handshake failed: {}", connection.id, exc)
            await connection.close(f"handshake failed: {exc}", code=1002)
            return
        connection.payload = payload
        if self.first_frame_delay:
            await asyncio.sleep(self.first_frame_delay)
        self.emit("connected", connection=connection, data={"registration": payload.is_registration})
        if self.min_version is not None and payload.version < self.min_version:
            version = ".".join(map(str, payload.version))
            await self._send_failure(connection, "405", {"location": "emu"}, f"client version {version} is outdated",
                                     None)
            return
        if payload.is_registration:
            await self._begin_registration(connection, payload)
        elif not await self._login(connection, payload):
            return
        await self._read_loop(connection)

    async def _read_loop(self, connection: ClientConnection) -> None:
        context = HandlerContext(self, connection)
        stanzas = connection.stanzas()
        while True:
            try:
                node = await anext(stanzas)
            except StopAsyncIteration:
                return
            except (WhatsAppError, ValueError) as exc:
                # One client's garbage closes that client only.
                logger.warning("emulator: connection #{} sent a malformed frame, closing it: {}", connection.id, exc)
                await connection.close(f"malformed frame: {exc}", code=1002)
                return
            self.emit("stanza", connection=connection, device=connection.device, data={"node": node})
            await self._dispatch(context, node)

    async def _dispatch(self, context: HandlerContext, node: Node) -> None:
        connection = context.connection
        if node.tag == "iq":
            iq_type = node.attr_str("type") or ""
            if iq_type in ("result", "error"):
                if not connection.resolve_reply(node):
                    logger.debug("emulator: unsolicited iq {} id={} ignored", iq_type, node.attr_str("id"))
                return
            await self._answer_iq(context, node, iq_type)
            return
        handler = self.handlers.stanza_handlers.get(node.tag)
        if handler is None:
            logger.debug("emulator: no handler for <{}> from #{}", node.tag, connection.id)
            return
        try:
            await handler(context, node)
        except Exception as exc:
            logger.exception("emulator: handler for <{}> failed: {}", node.tag, exc)

    async def _answer_iq(self, context: HandlerContext, node: Node, iq_type: str) -> None:
        iq_id = node.attr_str("id") or ""
        xmlns = node.attr_str("xmlns") or ""
        children = node.children
        first = children[0].tag if children else None
        handler = self.handlers.find_iq(xmlns, iq_type, first)
        result: Any = None
        if handler is None:
            # Every IQ gets an answer: Baileys' init queries and keep-alives fail otherwise.
            logger.debug("emulator: unhandled iq xmlns={} type={} child={}: empty result", xmlns, iq_type, first)
        else:
            try:
                result = await handler(context, node)
            except IQError as exc:
                await context.connection.send_node(iq_error(iq_id, exc.code, exc.text))
                return
            except Exception as exc:
                logger.exception("emulator: iq handler xmlns={} failed: {}", xmlns, exc)
                await context.connection.send_node(iq_error(iq_id, "500", "internal-server-error"))
                return
        if isinstance(result, Node) and result.tag == "iq":
            await context.connection.send_node(result)
            return
        content = [result] if isinstance(result, Node) else (list(result) if result else None)
        await context.connection.send_node(iq_result(iq_id, content))

    async def _cleanup(self, connection: ClientConnection) -> None:
        connection.mark_closed(connection.close_reason or "closed")
        for task in list(connection.tasks):
            task.cancel()
        device = connection.device
        if device is not None and device.connection is connection:
            device.connection = None
        if connection.registration is not None:
            for ref, session in list(self.link_code_sessions.items()):
                if session.connection is connection:
                    del self.link_code_sessions[ref]
        context = HandlerContext(self, connection)
        for hook in self.handlers.close_hooks:
            try:
                await hook(context)
            except Exception as exc:
                logger.exception("emulator: close hook failed: {}", exc)
        self.connections.discard(connection)
        logger.info("emulator: connection #{} closed ({})", connection.id, connection.close_reason)
        self.emit("closed", connection=connection, device=device, account=device.account if device else None,
                  data={"reason": connection.close_reason})

    def spawn(self, connection: ClientConnection, coro: Any) -> asyncio.Task[Any]:
        """Run `coro` tied to the connection's life (cancelled when it closes)."""
        task = asyncio.get_running_loop().create_task(coro)
        connection.tasks.add(task)
        task.add_done_callback(connection.tasks.discard)
        return task

    def background(self, coro: Any) -> asyncio.Task[Any]:
        """Run `coro` until it ends or the server stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- registration ---------------------------------------------------------------------------

    async def _begin_registration(self, connection: ClientConnection, payload: ParsedClientPayload) -> None:
        reg = payload.registration
        assert reg is not None
        if not reg.signed_prekey_valid():
            logger.warning("emulator: connection #{} registers with a bad signed-prekey signature", connection.id)
        timings = self.qr_timings
        refs = [b"2@" + base64.b64encode(os.urandom(33)) for _ in range(timings.ref_count)]
        connection.registration = Registration(
            identity_public=reg.identity_public,
            registration_id=reg.registration_id,
            signed_prekey_id=reg.signed_prekey_id,
            signed_prekey_public=reg.signed_prekey_public,
            signed_prekey_signature=reg.signed_prekey_signature,
            device_props=reg.device_props,
            refs=refs,
            ref_deadlines=timings.deadlines(time.monotonic()),
            push_name=payload.push_name,
        )
        await connection.send_node(
            Node(
                "iq",
                {"type": "set", "xmlns": "md", "id": connection.next_iq_id(), "from": SERVER_JID},
                [Node("pair-device", {}, [Node("ref", {}, ref) for ref in refs])],
            )
        )
        self.spawn(connection, self._expire_refs(connection))
        logger.info("emulator: connection #{} registering, {} QR refs issued", connection.id, len(refs))
        self.emit("registration", connection=connection, data={"refs": [r.decode() for r in refs]})

    async def _expire_refs(self, connection: ClientConnection) -> None:
        registration = connection.registration
        assert registration is not None
        await asyncio.sleep(max(0.0, registration.ref_deadlines[-1] + self.qr_timings.close_grace - time.monotonic()))
        if not registration.pairing and not connection.closed.is_set():
            # As the real server: when the last ref expires the unpaired connection is dropped.
            await connection.close("QR refs ran out")

    # -- login ----------------------------------------------------------------------------------

    async def _login(self, connection: ClientConnection, payload: ParsedClientPayload) -> bool:
        phone = str(payload.username)
        device_id = payload.device or 0
        account = self.state.accounts.get(phone)
        device = account.devices.get(device_id) if account else None
        why = None
        if device is None:
            why = "unknown device"
        elif device.removed:
            why = "device was unlinked"
        elif device.is_primary:
            why = "device 0 is the phone; companions only"
        elif device.noise_public != connection.client_static:
            why = "noise key differs from the one that paired"
        if why is not None:
            await self._send_failure(connection, "401", {}, f"{phone}:{device_id}: {why}", device)
            return False
        assert device is not None
        if device.pending_failure is not None:
            reason, attrs = device.pending_failure
            if not device.pending_failure_sticky:
                device.pending_failure = None
            await self._send_failure(connection, reason, attrs, "injected failure", device)
            return False
        previous = device.connection
        if previous is not None and previous is not connection:
            # The newer login wins; the older connection learns it was replaced (Baileys: 440).
            logger.info("emulator: {} logged in again: replacing connection #{}", device.jid, previous.id)
            await previous.close_with_stream_error(conflict="replaced")
        device.connection = connection
        connection.device = device
        device.last_login = time.time()
        if payload.push_name:
            device.push_name = payload.push_name
        now = int(time.time())
        await connection.send_node(
            Node(
                "success",
                {
                    "t": str(now),
                    "props": "1",
                    "abprops": "1",
                    "location": "emu",
                    "creation": str(int(device.linked_at)),
                    "lid": device.lid_jid,
                },
            )
        )
        logger.info("emulator: {} logged in on connection #{}", device.jid, connection.id)
        self.emit("logged_in", connection=connection, device=device, account=device.account)
        if self.edge_routing:
            await connection.send_node(Node("ib", {}, [
                Node("edge_routing", {}, [Node("routing_info", {}, self.edge_routing)]),
            ]))
        self.spawn(connection, self._after_login(connection))
        return True

    async def _after_login(self, connection: ClientConnection) -> None:
        """Offline backlog (routing's hooks), then the end-of-backlog marker."""
        context = HandlerContext(self, connection)
        delivered = 0
        for hook in self.handlers.login_hooks:
            try:
                delivered += await hook(context) or 0
            except Exception as exc:
                logger.exception("emulator: login hook failed: {}", exc)
        await connection.send_node(Node("ib", {}, [Node("offline", {"count": str(delivered)})]))
        self.emit("offline_done", connection=connection, device=connection.device, data={"count": delivered})

    async def _send_failure(
        self, connection: ClientConnection, reason: str, attrs: dict[str, str], why: str, device: Device | None
    ) -> None:
        logger.info("emulator: login refused on connection #{} (reason {}): {}", connection.id, reason, why)
        await connection.send_node(Node("failure", {"reason": str(reason), **attrs}))
        self.emit("login_failed", connection=connection, device=device, data={"reason": str(reason), "why": why})
        await connection.close(f"failure {reason}")

    # -- core IQ handlers -----------------------------------------------------------------------

    def _register_core_handlers(self) -> None:
        h = self.handlers
        h.iq("encrypt", "get", "count")(self._iq_prekey_count)
        h.iq("encrypt", "set", "registration")(self._iq_prekey_upload)
        h.iq("encrypt", "get", "digest")(self._iq_digest)
        h.iq("encrypt", "set", "rotate")(self._iq_rotate)
        h.iq("passive", "set")(self._iq_passive)
        h.iq("w:p")(_empty_result)
        h.iq("md", "set", "remove-companion-device")(self._iq_remove_companion)
        h.iq("md", "set", "link_code_companion_reg")(self._iq_link_code)
        h.stanza("presence")(self._presence)
        h.stanza("ib")(_ignore)

    @staticmethod
    def _logged_in(context: HandlerContext) -> Device:
        if context.device is None:
            raise IQError(401, "not-authorized")
        return context.device

    async def _iq_prekey_count(self, context: HandlerContext, node: Node) -> Node:
        device = self._logged_in(context)
        return Node("count", {"value": str(len(device.prekeys))})

    async def _iq_prekey_upload(self, context: HandlerContext, node: Node) -> None:
        device = self._logged_in(context)
        try:
            registration_id = int.from_bytes(_child_bytes(node, "registration", 4), "big")
            key_type = _child_bytes(node, "type", 1)
            identity = _child_bytes(node, "identity", 32)
            signed = _parse_signed_prekey(_required_child(node, "skey"))
            list_node = node.child("list")
            keys = [
                PreKey(int.from_bytes(_child_bytes(k, "id", 3), "big"), _child_bytes(k, "value", 32))
                for k in (list_node.children_by_tag("key") if list_node else [])
            ]
        except ValueError as exc:
            raise IQError(400, f"bad-request: {exc}") from None
        if key_type != b"\x05":
            raise IQError(400, "bad-request: key type must be 0x05")
        if identity != device.identity_public:
            raise IQError(406, "not-acceptable: identity key differs from the paired one")
        if not xeddsa.verify(identity, prefixed(signed.public), signed.signature):
            raise IQError(406, "not-acceptable: bad signed prekey signature")
        device.registration_id = registration_id
        device.signed_prekey = signed
        device.add_prekeys(keys)
        logger.info("emulator: {} uploaded {} prekeys (now {})", device.jid, len(keys), len(device.prekeys))
        self.emit("prekeys_uploaded", connection=context.connection, device=device, account=device.account,
                  data={"count": len(keys), "total": len(device.prekeys)})

    async def _iq_digest(self, context: HandlerContext, node: Node) -> Node:
        device = self._logged_in(context)
        if device.signed_prekey is None or device.identity_public is None or device.registration_id is None:
            raise IQError(404, "item-not-found")
        spk = device.signed_prekey
        return Node(
            "digest",
            {},
            [
                key_type_node(),
                registration_node(device.registration_id),
                Node("identity", {}, device.identity_public),
                signed_key_node(spk.key_id, spk.public, spk.signature),
                Node("list", {}, [Node("id", {}, encode_key_id(k)) for k in device.prekeys]),
            ],
        )

    async def _iq_rotate(self, context: HandlerContext, node: Node) -> None:
        device = self._logged_in(context)
        rotate = node.child("rotate")
        try:
            signed = _parse_signed_prekey(_required_child(rotate, "skey") if rotate else None)
        except ValueError as exc:
            raise IQError(400, f"bad-request: {exc}") from None
        if device.identity_public and not xeddsa.verify(device.identity_public, prefixed(signed.public),
                                                         signed.signature):
            raise IQError(406, "not-acceptable: bad signed prekey signature")
        device.signed_prekey = signed

    async def _iq_passive(self, context: HandlerContext, node: Node) -> None:
        self._logged_in(context)
        child = node.children[0].tag if node.children else "passive"
        context.connection.active = child == "active"

    async def _iq_remove_companion(self, context: HandlerContext, node: Node) -> None:
        device = self._logged_in(context)
        remove = node.child("remove-companion-device")
        target_jid = remove.attr_jid("jid") if remove else None
        target = self.state.device_for(target_jid) if target_jid else None
        if target is None or target.account is not device.account or target.is_primary:
            raise IQError(404, "item-not-found")
        await device.account.phone.unlink(target, notify_self=target is not device)

    async def _iq_link_code(self, context: HandlerContext, node: Node) -> Node | None:
        reg_node = node.child("link_code_companion_reg")
        assert reg_node is not None
        stage = reg_node.attr_str("stage")
        connection = context.connection
        if connection.registration is None:
            raise IQError(400, "bad-request: not a registering connection")
        if stage == "companion_hello":
            return self._link_code_hello(connection, reg_node)
        if stage == "companion_finish":
            await self._link_code_finish(connection, reg_node)
            return None
        raise IQError(400, f"bad-request: unknown stage {stage!r}")

    def _link_code_hello(self, connection: ClientConnection, reg_node: Node) -> Node:
        jid = reg_node.attr_jid("jid")
        account = self.state.account_for(jid) if jid else None
        wrapped = _child_content(reg_node, "link_code_pairing_wrapped_companion_ephemeral_pub")
        noise_public = _child_content(reg_node, "companion_server_auth_key_pub")
        display = (_child_content(reg_node, "companion_platform_display") or b"").decode(errors="replace")
        if account is None:
            raise IQError(404, "item-not-found: no account with that phone number")
        if wrapped is None or len(wrapped) != 80 or noise_public != connection.client_static:
            raise IQError(400, "bad-request: malformed companion_hello")
        if not display or "(" not in display or not display.endswith(")"):
            raise IQError(400, "bad-request: companion_platform_display must read 'Browser (OS)'")
        ref = b"2@" + base64.b64encode(os.urandom(24))
        self.link_code_sessions[ref] = LinkCodeSession(
            ref=ref, account=account, connection=connection, wrapped_companion_ephemeral=wrapped,
            platform_id=(_child_content(reg_node, "companion_platform_id") or b"").decode(errors="replace"),
            platform_display=display,
        )
        logger.info("emulator: pairing code requested for {} on connection #{}", account.phone_number, connection.id)
        self.emit("pairing_code_requested", account=account, connection=connection, data={"ref": ref})
        return Node("link_code_companion_reg", {}, [Node("link_code_pairing_ref", {}, ref)])

    async def _link_code_finish(self, connection: ClientConnection, reg_node: Node) -> None:
        ref = _child_content(reg_node, "link_code_pairing_ref") or b""
        session = self.link_code_sessions.get(ref)
        if session is None or session.connection is not connection:
            raise IQError(404, "item-not-found: unknown link_code_pairing_ref")
        if session.primary is None:
            raise IQError(400, "bad-request: the code was not entered on the phone yet")
        bundle = _child_content(reg_node, "link_code_pairing_wrapped_key_bundle") or b""
        identity = _child_content(reg_node, "companion_identity_public") or b""
        assert connection.registration is not None
        try:
            if identity != connection.registration.identity_public:
                raise WhatsAppError("companion_identity_public differs from the registered identity key")
            adv_secret = session.account.phone.finish_link_code(session, bundle, identity)
        except WhatsAppError as exc:
            del self.link_code_sessions[ref]
            logger.warning("emulator: pairing code finish rejected: {}", exc)
            self.emit("pair_failed", account=session.account, connection=connection, data={"why": str(exc)})
            session.done.set_exception(exc) if not session.done.done() else None
            raise IQError(401, "not-authorized: key bundle rejected") from None
        del self.link_code_sessions[ref]
        # The result of companion_finish goes out first (the caller sends it); pair-success follows.
        # Not tied to the connection's tasks: the link ends by closing that connection (515).
        self.background(session.account.phone.complete_link_code(session, adv_secret))

    async def _presence(self, context: HandlerContext, node: Node) -> None:
        device = context.device
        if device is None:
            return
        name = node.attr_str("name")
        if name:
            device.push_name = name
            device.account.push_name = name
        context.connection.available = node.attr_str("type", "available") != "unavailable"


async def _empty_result(context: HandlerContext, node: Node) -> None:
    return None


async def _ignore(context: HandlerContext, node: Node) -> None:
    return None


def iq_result(iq_id: str, content: list[Node] | None = None) -> Node:
    return Node("iq", {"id": iq_id, "type": "result", "from": SERVER_JID}, content)


def iq_error(iq_id: str, code: str, text: str) -> Node:
    return Node("iq", {"id": iq_id, "type": "error", "from": SERVER_JID}, [Node("error", {"code": code, "text": text})])


def _child_content(node: Node, tag: str) -> bytes | None:
    child = node.child(tag)
    return child.content_bytes if child is not None else None


def _required_child(node: Node | None, tag: str) -> Node:
    child = node.child(tag) if node is not None else None
    if child is None:
        raise ValueError(f"missing <{tag}>")
    return child


def _child_bytes(node: Node, tag: str, length: int) -> bytes:
    data = _required_child(node, tag).content_bytes
    if data is None or len(data) != length:
        raise ValueError(f"<{tag}> must hold {length} bytes")
    return data


def _parse_signed_prekey(skey: Node | None) -> SignedPreKey:
    if skey is None:
        raise ValueError("missing <skey>")
    return SignedPreKey(
        key_id=int.from_bytes(_child_bytes(skey, "id", 3), "big"),
        public=_child_bytes(skey, "value", 32),
        signature=_child_bytes(skey, "signature", 64),
    )
