"""The simulated primary phone of an emulated account.

It does what the user's phone does when linking a companion: scan the QR the companion shows, or
accept the pairing code typed for its number; sign the companion's ADV device identity with the
account key (HMAC keyed by the adv secret); check the companion's device signature for real; list and
unlink companions. The crypto is the phone's own (phone_adv.py, phone_link_code.py), independent of the
companion's modules it talks to.

The phone holds no state of its own: its keys are `account.phone_keys` (records.py), so a restarted
server builds a new phone over the same account. It reaches the server only through `Pairing`
(find a registration, a pending pairing-code request) and `ServerState`.
"""

from __future__ import annotations

import asyncio
import time

from loguru import logger

from whatsapp.binary import Node
from whatsapp.errors import PairingError
from whatsapp.jid import JID, SERVER_JID
from whatsapp.testing.connection import ClientConnection, Registration
from whatsapp.testing.errors import ConnectionDropped, UnknownTarget
from whatsapp.testing.pairing import LinkCodeSession, Pairing
from whatsapp.testing.phone_adv import check_device_signature, issue_identity, read_qr
from whatsapp.testing.phone_inbox import PhoneInbox
from whatsapp.testing.phone_link_code import primary_finish, primary_hello
from whatsapp.testing.state import Account, Device, ServerState, SignedPreKey


class PrimaryPhone:
    """Device 0 of an account, driven by tests: `await account.phone.scan_qr(qr)`."""

    def __init__(self, account: Account, state: ServerState, pairing: Pairing) -> None:
        self.account = account
        self._state = state
        self._pairing = pairing
        self.inbox = PhoneInbox(account, state)

    def __repr__(self) -> str:
        return f"PrimaryPhone({self.account.phone_number})"

    # -- QR -------------------------------------------------------------------------------------

    async def scan_qr(self, qr: str) -> Device:
        """Scan a companion's QR string; returns the linked device once its pair-device-sign checked out.

        Raises PairingError for an unknown/expired ref, keys that do not match the registering
        connection, or a companion whose reply does not verify (then nothing is linked).
        """
        data = read_qr(qr)
        connection = self._pairing.find_registration(data.ref)
        if connection is None:
            raise PairingError(f"QR ref {data.ref[:12]!r}… is unknown or expired")
        registration = connection.registration
        assert registration is not None
        if data.noise_public != connection.client_static or data.identity_public != registration.identity_public:
            raise PairingError("QR keys do not match the connection that was given this ref")
        return await self._link(connection, registration, data.adv_secret)

    # -- pairing code ---------------------------------------------------------------------------

    async def enter_pairing_code(self, code: str, *, wait: bool = True, timeout: float = 30.0) -> Device | None:
        """Type the code a companion displays for this phone number.

        Sends the primary_hello notification; when `wait`, returns the device once the companion's
        companion_finish was validated and pair-success/pair-device-sign completed (PairingError if not).
        """
        session = self._pairing.pending_link_code(self.account)
        if session is None:
            raise PairingError(f"no pairing code request is pending for {self.account.phone_number}")
        hello = primary_hello(code, session.wrapped_companion_ephemeral)
        session.code_entered(self, hello)
        notification = Node(
            "notification",
            {
                "from": SERVER_JID,
                "type": "link_code_companion_reg",
                "id": session.connection.next_iq_id(),
                "t": str(int(time.time())),
            },
            [
                Node("link_code_companion_reg", {}, [
                    Node("link_code_pairing_ref", {}, session.ref),
                    Node("primary_identity_pub", {}, self.account.identity.public),
                    Node("link_code_pairing_wrapped_primary_ephemeral_pub", {}, hello.wrapped_ephemeral),
                ]),
            ],
        )
        await session.connection.send_node(notification)
        logger.info("emulator: phone {} entered a pairing code", self.account.phone_number)
        if not wait:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(session.done), timeout)
        except TimeoutError:
            raise PairingError(f"the companion did not finish pairing within {timeout}s") from None

    def finish_link_code(self, session: LinkCodeSession, wrapped_key_bundle: bytes, companion_identity: bytes) -> bytes:
        """Validate companion_finish's key bundle; return the derived adv secret (PairingError if bad)."""
        assert session.primary is not None
        return primary_finish(session.primary, self.account.identity, wrapped_key_bundle, companion_identity)

    async def complete_link_code(self, session: LinkCodeSession, adv_secret: bytes) -> None:
        registration = session.connection.registration
        assert registration is not None
        try:
            device = await self._link(session.connection, registration, adv_secret)
        except BaseException as exc:
            session.fail(exc if isinstance(exc, Exception) else PairingError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        if not session.done.done():
            session.done.set_result(device)

    # -- the link itself ------------------------------------------------------------------------

    async def _link(self, connection: ClientConnection, registration: Registration, adv_secret: bytes) -> Device:
        if registration.pairing:
            raise PairingError("this companion is already being linked")
        registration.pairing = True
        account = self.account
        device = account.new_companion()
        try:
            signed = issue_identity(
                account.identity, registration.identity_public, adv_secret,
                raw_id=account.phone_keys.raw_id, key_index=device.key_index,
            )
            children = [
                Node("device-identity", {}, signed.device_identity),
                Node("platform", {"name": account.platform}),
                Node("device", {"jid": device.jid, "lid": device.lid_jid}),
            ]
            if account.business_name:
                children.append(Node("biz", {"name": account.business_name}))
            request = Node(
                "iq",
                {"type": "set", "xmlns": "md", "from": SERVER_JID, "t": str(int(time.time()))},
                [Node("pair-success", {}, children)],
            )
            reply = await connection.query(request, timeout=self._pairing.pair_timeout)
            if reply.attr_str("type") == "error":
                error = reply.child("error")
                detail = f"{error.attr_str('code')} {error.attr_str('text')}" if error else "no detail"
                raise PairingError(f"the companion rejected pair-success: {detail}")
            sign_node = reply.child("pair-device-sign")
            identity_node = sign_node.child("device-identity") if sign_node else None
            reply_identity = identity_node.content_bytes if identity_node else None
            if not reply_identity:
                raise PairingError("pair-device-sign reply has no device-identity")
            check_device_signature(reply_identity, account.identity.public, registration.identity_public,
                                   signed.details)
        except (PairingError, ConnectionDropped, TimeoutError) as exc:
            account.discard_companion(device)
            registration.pairing = False
            logger.warning("emulator: linking a companion to {} failed: {}", account.phone_number, exc)
            self._state.emit("pair_failed", account=account, connection=connection, data={"why": str(exc)})
            if isinstance(exc, PairingError) and not connection.closed.is_set():
                await connection.close_with_stream_error("401")
            raise PairingError(str(exc)) from exc
        except BaseException:
            account.discard_companion(device)
            registration.pairing = False
            raise
        props = registration.device_props
        device.identity_public = registration.identity_public
        device.noise_public = connection.client_static
        device.registration_id = registration.registration_id
        device.signed_prekey = SignedPreKey(
            registration.signed_prekey_id, registration.signed_prekey_public, registration.signed_prekey_signature
        )
        device.adv_identity = reply_identity
        device.platform = props.os or None
        device.platform_type = props.platformType
        device.push_name = registration.push_name
        device.linked_at = time.time()
        logger.info("emulator: {} linked as {} ({})", account.phone_number, device.jid, device.platform)
        self._state.emit("paired", account=account, device=device, connection=connection)
        # The companion must reconnect and log in with its new identity.
        await connection.close_with_stream_error("515")
        await self.notify_device_change("add", device)
        return device

    async def notify_device_change(self, change: str, device: Device) -> None:
        """`<notification type="devices"><add|remove><device jid key-index/></..>` to every other online device,
        as WhatsApp tells contacts and sibling devices so their cached device lists (usync) stay right."""
        stamp = str(int(time.time()))
        for other in list(self._state.all_devices()):
            connection = other.connection
            if connection is None or other is device:
                continue
            await connection.send_node(Node(
                "notification",
                {"from": self.account.jid, "type": "devices", "id": connection.next_iq_id(), "t": stamp},
                [Node(change, {}, [Node("device", {"jid": device.jid, "key-index": str(device.key_index)})])],
            ))

    # -- linked devices -------------------------------------------------------------------------

    def linked_devices(self) -> list[Device]:
        """The companions currently linked (not the phone itself)."""
        return self.account.companions()

    async def unlink(self, device: Device | JID | str | int, *, notify_self: bool = True) -> Device:
        """Unlink a companion as the phone's "Log out" does: it is told `device_removed` (401) if online and
        every later login fails 401. `notify_self=False` skips the stream error (the device logged itself out).
        """
        target = self._resolve(device)
        if target.removed:
            return target
        target.removed = True
        logger.info("emulator: {} unlinked", target.jid)
        self._state.emit("unlinked", account=self.account, device=target)
        connection = target.connection
        if connection is not None and notify_self:
            await connection.close_with_stream_error("401", conflict="device_removed")
        await self.notify_device_change("remove", target)
        return target

    async def receive(self, node: Node) -> None:
        """A stanza routed to device 0: a message is decrypted and checked (phone_inbox.py), the rest dropped."""
        self.inbox.receive(node)

    def _resolve(self, device: Device | JID | str | int) -> Device:
        if isinstance(device, Device):
            found: Device | None = device
        elif isinstance(device, int):
            found = self.account.devices.get(device)
        else:
            found = self._state.device_for(device)
        if found is None or found.account is not self.account or found.is_primary:
            raise UnknownTarget(f"{device!r} is not a companion of {self.account.phone_number}")
        return found
