"""Registration and pairing on the server side: QR refs for a registering connection, and the two stages
of "link with phone number" (`<iq xmlns="md"><link_code_companion_reg stage=…>`).

The phone (phone.py) drives the other half: it finds a registration by the ref it scanned
(`find_registration`) or the pending pairing-code request of its number (`pending_link_code`). The flow
follows whatsmeow `pair.go` (pair-device, pair-success) and `pair-code.go` (companion_hello,
companion_finish, the primary_hello notification).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from loguru import logger

from whatsapp.binary import Node
from whatsapp.errors import PairingError, WhatsAppError
from whatsapp.jid import SERVER_JID
from whatsapp.testing.connection import ClientConnection, Registration
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.errors import IQError
from whatsapp.testing.settings import BackgroundTasks, ServerSettings
from whatsapp.testing.state import Account, Device, ServerState

if TYPE_CHECKING:
    from whatsapp.testing.client_payload import ParsedClientPayload
    from whatsapp.testing.phone_link_code import PrimaryHello


class LinkingPhone(Protocol):
    """The phone-side steps of a pairing-code link (phone.PrimaryPhone)."""

    def finish_link_code(self, session: LinkCodeSession, wrapped_key_bundle: bytes,
                         companion_identity: bytes) -> bytes:
        """Validate companion_finish's key bundle; the derived adv secret (PairingError if bad)."""
        ...

    async def complete_link_code(self, session: LinkCodeSession, adv_secret: bytes) -> None:
        """pair-success / pair-device-sign with the companion; resolves `session.done`."""


def _new_future() -> asyncio.Future[Device]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class LinkCodeSession:
    """A companion's pending "link with phone number" request (companion_hello received)."""

    ref: bytes
    account: Account
    connection: ClientConnection
    wrapped_companion_ephemeral: bytes
    platform_id: str
    platform_display: str
    primary: PrimaryHello | None = None  # set once the code was typed on the phone
    phone: LinkingPhone | None = None  # the phone the code was typed on
    done: asyncio.Future[Device] = field(default_factory=_new_future)

    def code_entered(self, phone: LinkingPhone, hello: PrimaryHello) -> None:
        self.phone = phone
        self.primary = hello

    def fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


class Pairing:
    """QR registration and pairing-code requests of one server."""

    def __init__(self, state: ServerState, settings: ServerSettings, background: BackgroundTasks,
                 connections: Callable[[], Iterable[ClientConnection]]) -> None:
        self.state = state
        self.settings = settings
        self._background = background
        self._connections = connections
        self.link_code_sessions: dict[bytes, LinkCodeSession] = {}  # by link_code_pairing_ref

    def install(self, handlers: Handlers) -> None:
        handlers.iq("md", "set", "link_code_companion_reg")(self._iq_link_code)

    @property
    def pair_timeout(self) -> float:
        return self.settings.pair_timeout

    # -- QR -------------------------------------------------------------------------------------

    async def begin_registration(self, connection: ClientConnection, payload: ParsedClientPayload) -> None:
        reg = payload.registration
        assert reg is not None
        timings = self.settings.qr_timings
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
        await connection.send_request(
            Node(
                "iq",
                {"type": "set", "xmlns": "md", "id": connection.next_iq_id(), "from": SERVER_JID},
                [Node("pair-device", {}, [Node("ref", {}, ref) for ref in refs])],
            )
        )
        connection.spawn(self._expire_refs(connection, connection.registration))
        logger.info("emulator: connection #{} registering, {} QR refs issued", connection.id, len(refs))
        self.state.emit("registration", connection=connection, data={"refs": [r.decode() for r in refs]})

    async def _expire_refs(self, connection: ClientConnection, registration: Registration) -> None:
        grace = self.settings.qr_timings.close_grace
        await asyncio.sleep(max(0.0, registration.ref_deadlines[-1] + grace - time.monotonic()))
        if not registration.pairing and not connection.closed.is_set():
            # As the real server: when the last ref expires the unpaired connection is dropped.
            await connection.close("QR refs ran out")

    def registering_connections(self) -> list[ClientConnection]:
        return [c for c in self._connections() if c.registration is not None and not c.closed.is_set()]

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

    # -- pairing code ---------------------------------------------------------------------------

    def pending_link_code(self, account: Account) -> LinkCodeSession | None:
        """The newest pairing-code request for `account` whose code was not typed yet, on a live connection."""
        sessions = [s for s in self.link_code_sessions.values()
                    if s.account is account and s.primary is None and not s.connection.closed.is_set()]
        return sessions[-1] if sessions else None

    def forget(self, connection: ClientConnection) -> None:
        """Drop the pairing-code requests of a closed connection."""
        for ref, session in list(self.link_code_sessions.items()):
            if session.connection is connection:
                del self.link_code_sessions[ref]

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
            self._link_code_finish(connection, connection.registration, reg_node)
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
        self.state.emit("pairing_code_requested", account=account, connection=connection, data={"ref": ref})
        return Node("link_code_companion_reg", {}, [Node("link_code_pairing_ref", {}, ref)])

    def _link_code_finish(self, connection: ClientConnection, registration: Registration, reg_node: Node) -> None:
        ref = _child_content(reg_node, "link_code_pairing_ref") or b""
        session = self.link_code_sessions.get(ref)
        if session is None or session.connection is not connection:
            raise IQError(404, "item-not-found: unknown link_code_pairing_ref")
        phone = session.phone
        if session.primary is None or phone is None:
            raise IQError(400, "bad-request: the code was not entered on the phone yet")
        bundle = _child_content(reg_node, "link_code_pairing_wrapped_key_bundle") or b""
        identity = _child_content(reg_node, "companion_identity_public") or b""
        try:
            if identity != registration.identity_public:
                raise PairingError("companion_identity_public differs from the registered identity key")
            adv_secret = phone.finish_link_code(session, bundle, identity)
        except WhatsAppError as exc:
            del self.link_code_sessions[ref]
            logger.warning("emulator: pairing code finish rejected: {}", exc)
            self.state.emit("pair_failed", account=session.account, connection=connection, data={"why": str(exc)})
            session.fail(exc)
            raise IQError(401, "not-authorized: key bundle rejected") from None
        del self.link_code_sessions[ref]
        # The result of companion_finish goes out first (the caller sends it); pair-success follows.
        # Not tied to the connection's tasks: the link ends by closing that connection (515).
        self._background.start(phone.complete_link_code(session, adv_secret))


def _child_content(node: Node, tag: str) -> bytes | None:
    child = node.child(tag)
    return child.content_bytes if child is not None else None
