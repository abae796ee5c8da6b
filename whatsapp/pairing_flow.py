"""Pairing as the connection lives it: QRs on a timer, the pairing code, the verified pair-success.

The decisions are in `whatsapp.pairing.PairingSession` (pure); this module sends what it says,
runs the QR rotation on the context's clock, and raises the events (`QR`, `PairingCode`,
`PairSuccess`, `PairError`, `PasskeyRequired`). Pairing credentials are committed in one
transaction BEFORE the reply is sent: the server answers the reply with the 515 restart, and the
reconnect that follows must find durable credentials (docs/protocol.md §Restart after pairing).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from loguru import logger

from whatsapp import events
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.errors import DecodeError, PairingError, PairRejected
from whatsapp.pair_code import start_companion
from whatsapp.pairing import FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT, PairingSession, QrRotation, companion_hello_iq
from whatsapp.payload import DeviceConfig
from whatsapp.presence import server_offset, unified_session_node
from whatsapp.qr import qr_for_credentials
from whatsapp.reconnect import DisconnectReason
from whatsapp.router import Route, StanzaRouter


@dataclass(frozen=True, slots=True)
class PairingConfig:
    phone_number: str | None = None  # link with a code typed on this phone instead of a QR
    qr_timeouts: tuple[float, float] = (FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT)
    device: DeviceConfig = field(default_factory=DeviceConfig)  # its client type goes into the QR and the code


class PairingFlow:
    def __init__(self, ctx: Context, config: PairingConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.session = PairingSession()
        self._qr_task: asyncio.Task[None] | None = None

    def install(self, router: StanzaRouter) -> None:
        router.add(Route("iq", self.on_pair_device, child="pair-device"))
        router.add(Route("iq", self.on_pair_success, child="pair-success"))
        router.add(Route("notification", self.on_link_code, type="link_code_companion_reg"))
        router.add(Route("notification", self.on_passkey_request, type="passkey_prologue_request"))

    def reset(self) -> None:
        """A new connection starts a new pairing (its tasks were cancelled with the old one)."""
        self.session = PairingSession()
        self._qr_task = None

    async def on_pair_device(self, node: Node) -> None:
        first, following = self.config.qr_timeouts
        reply, rotation = self.session.on_pair_device(node, first, following)
        await self.ctx.send(reply)
        self._cancel_qr()
        self._qr_task = self.ctx.spawn(self._rotate_qr(rotation), "QR rotation")
        if self.config.phone_number:
            self.ctx.spawn(self._request_pairing_code(self.config.phone_number), "pairing code request")

    async def _rotate_qr(self, rotation: QrRotation) -> None:
        show = not self.config.phone_number  # with a pairing code, the refs only keep the attempt alive
        while (step := rotation.next()) is not None:
            if show:
                code = qr_for_credentials(step.ref, self.ctx.auth.creds, self.config.device.web_client_type)
                await self.ctx.emit(events.QR(code, step.index, step.total, step.timeout))
            await self.ctx.clock.sleep(step.timeout)
        self.ctx.control.end(DisconnectReason.qr_exhausted())

    def _cancel_qr(self) -> None:
        if self._qr_task is not None:
            self._qr_task.cancel()
            self._qr_task = None

    async def _request_pairing_code(self, phone_number: str) -> None:
        hello = await asyncio.to_thread(start_companion)  # PBKDF2 with 131072 rounds: keep the loop free
        self.session.code_requested(hello)
        iq = companion_hello_iq(
            self.ctx.new_id(),
            phone_number,
            hello,
            self.ctx.auth.creds,
            self.config.device.web_client_type,
            self.config.device.platform_display,
        )
        code = self.session.on_hello_answer(await self.ctx.query(iq))
        await self.ctx.emit(events.PairingCode(code))

    async def on_link_code(self, node: Node) -> None:
        phone_number = self.config.phone_number
        if not phone_number or self.session.hello is None:
            logger.warning("link_code_companion_reg notification without a pairing code request; ignored")
            return
        session, creds, iq_id = self.session, self.ctx.auth.creds, self.ctx.new_id()
        # The key bundle derivation is CPU work (HKDF, AES-GCM): off the loop.
        step = await asyncio.to_thread(session.on_link_code, node, creds, phone_number, iq_id)
        self.ctx.spawn(self.ctx.query(step.finish_iq), "companion_finish")

    async def on_pair_success(self, node: Node) -> None:
        try:
            outcome = self.session.on_pair_success(node, self.ctx.auth.creds)
        except PairRejected as exc:
            logger.error("{}; nothing was stored", exc)
            await self.ctx.send(exc.reply)
            await self.ctx.emit(events.PairError(str(exc)))
            return
        except (PairingError, DecodeError) as exc:
            logger.error("pair-success unreadable ({}); nothing was stored", exc)
            await self.ctx.emit(events.PairError(str(exc)))
            return
        self._cancel_qr()
        # Durable BEFORE the reply: the reconnect after the 515 that answers it must find these.
        async with self.ctx.auth.transaction() as tx:
            tx.set_creds(outcome.creds)
            for key_type, key_id, value in outcome.keys:
                tx.set(key_type, key_id, value)
        await self.ctx.send(outcome.reply)
        # As both references do once paired (whatsapp/presence.py); the server's clock is pair-success's `t`.
        await self.ctx.send(unified_session_node(int((time.time() + server_offset(node, time.time())) * 1000)))
        self.ctx.control.reset_backoff()
        logger.info("paired as {} (platform {}); waiting for the restart", outcome.creds.me_id, outcome.platform)
        await self.ctx.emit(
            events.PairSuccess(outcome.creds.me_id or "", outcome.creds.me_lid, outcome.platform, outcome.business_name)
        )

    async def on_passkey_request(self, node: Node) -> None:
        logger.error("the server asks for a passkey to link this device; link by QR instead")
        await self.ctx.emit(events.PasskeyRequired())
