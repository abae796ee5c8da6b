"""Login: a companion's login payload answered with `<success>` or `<failure reason=…>`, then the offline
backlog and `<ib><offline count=N/>` (whatsmeow `connectionevents.go` handles success, failure and the
offline marker; Baileys `src/Socket/socket.ts` the same as `CB:success`, `CB:failure`, `CB:ib,,offline`).
"""

from __future__ import annotations

import time

from loguru import logger

from whatsapp.binary import Node
from whatsapp.testing.client_payload import ParsedClientPayload
from whatsapp.testing.connection import ClientConnection
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.settings import ServerSettings
from whatsapp.testing.state import Device, ServerState


class Login:
    """Decides what a connecting client is told before its stanzas are routed."""

    def __init__(self, state: ServerState, settings: ServerSettings, handlers: Handlers) -> None:
        self.state = state
        self.settings = settings
        self.handlers = handlers

    async def refuse_outdated(self, connection: ClientConnection, payload: ParsedClientPayload) -> bool:
        """`<failure reason="405">` for a client older than `min_version`; True when refused."""
        floor = self.settings.min_version
        if floor is None or payload.version >= floor:
            return False
        version = ".".join(map(str, payload.version))
        await self.send_failure(connection, "405", {"location": "emu"}, f"client version {version} is outdated", None)
        return True

    async def refuse_registration(self, connection: ClientConnection, payload: ParsedClientPayload) -> bool:
        """`<failure reason="400">` (whatsmeow `types/events`: ConnectFailureGeneric) for a registration whose
        signed prekey does not verify under its identity key: no peer could ever start a session with it."""
        registration = payload.registration
        if registration is None or registration.signed_prekey_valid():
            return False
        await self.send_failure(connection, "400", {}, "registration's signed-prekey signature is invalid", None)
        return True

    async def login(self, connection: ClientConnection, payload: ParsedClientPayload) -> bool:
        """Answer a login payload; True when it succeeded (the connection's stanzas are then routed)."""
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
        if why is not None or device is None:
            await self.send_failure(connection, "401", {}, f"{phone}:{device_id}: {why}", device)
            return False
        if device.pending_failure is not None:
            reason, attrs = device.pending_failure
            if not device.pending_failure_sticky:
                device.pending_failure = None
            await self.send_failure(connection, reason, attrs, "injected failure", device)
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
        await connection.send_node(Node("success", {
            "t": str(int(time.time())),
            "props": "1",
            "abprops": "1",
            "location": "emu",
            "creation": str(int(device.linked_at)),
            "lid": device.lid_jid,
        }))
        logger.info("emulator: {} logged in on connection #{}", device.jid, connection.id)
        self.state.emit("logged_in", connection=connection, device=device, account=device.account)
        edge_routing = self.settings.edge_routing
        if edge_routing:
            await connection.send_node(Node("ib", {}, [
                Node("edge_routing", {}, [Node("routing_info", {}, edge_routing)]),
            ]))
        connection.spawn(self._after_login(connection))
        return True

    async def _after_login(self, connection: ClientConnection) -> None:
        """Offline backlog (the login hooks), then the end-of-backlog marker."""
        context = HandlerContext(self.state, connection)
        delivered = 0
        for hook in self.handlers.login_hooks:
            try:
                delivered += await hook(context) or 0
            except Exception as exc:
                logger.exception("emulator: login hook failed: {}", exc)
        await connection.send_node(Node("ib", {}, [Node("offline", {"count": str(delivered)})]))
        self.state.emit("offline_done", connection=connection, device=connection.device, data={"count": delivered})

    async def send_failure(
        self, connection: ClientConnection, reason: str, attrs: dict[str, str], why: str, device: Device | None
    ) -> None:
        logger.info("emulator: login refused on connection #{} (reason {}): {}", connection.id, reason, why)
        await connection.send_node(Node("failure", {"reason": str(reason), **attrs}))
        self.state.emit("login_failed", connection=connection, device=device,
                        data={"reason": str(reason), "why": why})
        await connection.close(f"failure {reason}")
