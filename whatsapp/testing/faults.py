"""Faults on demand: what the real server (or the network) does to a client, injected by tests.

    await server.faults.restart_required(device)      # <stream:error code="515"/>
    await server.faults.service_unavailable(device)   # code 503
    await server.faults.device_removed(device)        # code 401 + <conflict type="device_removed"/>
    await server.faults.replaced(device)              # <conflict type="replaced"/> (Baileys: 440)
    server.faults.fail_next_login(device, 403)        # <failure reason="403"/> at the next login
    await server.faults.stream_end(device)            # <xmlstreamend/> and close (Baileys: 428)
    server.faults.silence(device)                     # no more frames either way, socket left open
    server.faults.drop(device)                        # TCP close without a stream error

A target is a Device (its current connection) or a ClientConnection.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from loguru import logger

from whatsapp.binary import Node
from whatsapp.testing.connection import ClientConnection
from whatsapp.testing.errors import UnknownTarget
from whatsapp.testing.noise_responder import frame
from whatsapp.testing.state import Device

Target = Device | ClientConnection


class Faults:
    """`live_connection(device)` is the server's lookup of the connection a device is logged in on."""

    def __init__(self, live_connection: Callable[[Device], ClientConnection | None]) -> None:
        self._live_connection = live_connection

    def _connection(self, target: Target) -> ClientConnection:
        if isinstance(target, ClientConnection):
            return target
        connection = self._live_connection(target)
        if connection is None:
            raise UnknownTarget(f"{target.jid} has no live connection")
        return connection

    async def stream_error(self, target: Target, code: str | int | None, conflict: str | None = None) -> None:
        connection = self._connection(target)
        logger.info("emulator fault: stream error code={} conflict={} on #{}", code, conflict, connection.id)
        await connection.close_with_stream_error(None if code is None else str(code), conflict)

    async def restart_required(self, target: Target) -> None:
        await self.stream_error(target, 515)

    async def service_unavailable(self, target: Target) -> None:
        await self.stream_error(target, 503)

    async def device_removed(self, target: Target) -> None:
        """Only the stream error; `account.phone.unlink(device)` also makes later logins fail."""
        await self.stream_error(target, 401, "device_removed")

    async def replaced(self, target: Target) -> None:
        await self.stream_error(target, None, "replaced")

    async def stream_end(self, target: Target) -> None:
        """`<xmlstreamend/>` then a normal close: the server ending the stream (Baileys: 428, reconnects)."""
        connection = self._connection(target)
        logger.info("emulator fault: xmlstreamend on #{}", connection.id)
        await connection.send_node(Node("xmlstreamend"))
        await connection.close("xmlstreamend")

    def fail_next_login(self, device: Device, reason: int | str = 401, *, sticky: bool = False,
                        **attrs: str) -> None:
        """Answer the device's next login (every later one too if `sticky`) with `<failure reason=..>`.

        402 (temporary ban) gets `code="101"` and an `expire` one hour ahead unless given.
        """
        reason = str(reason)
        if reason == "402":
            attrs.setdefault("code", "101")
            attrs.setdefault("expire", str(3600))
        elif reason == "405":
            attrs.setdefault("location", "emu")
        device.pending_failure = (reason, dict(attrs))
        device.pending_failure_sticky = sticky
        logger.info("emulator fault: next login of {} fails with {} at {}", device.jid, reason, int(time.time()))

    def clear_login_failure(self, device: Device) -> None:
        device.pending_failure = None
        device.pending_failure_sticky = False

    def silence(self, target: Target) -> None:
        connection = self._connection(target)
        connection.silent = True
        logger.info("emulator fault: connection #{} silenced", connection.id)

    def drop(self, target: Target) -> None:
        connection = self._connection(target)
        logger.info("emulator fault: connection #{} dropped", connection.id)
        connection.abort("dropped by fault injection")

    async def send_garbage_frame(self, target: Target, size: int = 40) -> None:
        """A frame that cannot decrypt: the client's transport fails (tests of client-side robustness)."""
        await self._connection(target).send_raw_frame(frame(os.urandom(size)))
