"""The connection supervisor: connect, read, keep alive, tear down, and reconnect by the policy.

- Exactly one supervisor per client (`Client.start()` is single-flight); every connection gets a
  new `WASocket` (whatsapp/socket.py), and the old one is torn down first: its tasks cancelled, its
  IQs failed with ConnectionGone, its socket closed.
- Stanzas are handled one at a time in arrival order (`on_stanza`, the client's router). Work that
  must wait for the server (IQ answers) runs in per-connection tasks (`spawn`), so the reader
  never waits on itself.
- How a connection ended is a `DisconnectReason`; what to do next is `ReconnectPolicy.decide`
  (whatsapp/reconnect.py, pure). The loop only carries the decision out (delay, clear, stop).
The supervisor is the `Link` and the `Control` of every handler's context (whatsapp/context.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Protocol

from loguru import logger

from whatsapp import events
from whatsapp.auth import AuthState, ConnectionStatus
from whatsapp.binary import Node
from whatsapp.context import Clock, Emit, Sleep
from whatsapp.errors import (
    CertificateError,
    ConnectionGone,
    HandshakeError,
    IqTimeout,
    KeepaliveFailed,
    SocketClosed,
    WhatsAppError,
)
from whatsapp.iq import IqTracker, check_iq_result
from whatsapp.jid import SERVER_JID
from whatsapp.keepalive import KeepaliveTiming, run_keepalive
from whatsapp.pairing import result_iq
from whatsapp.payload import DeviceConfig, build_client_payload
from whatsapp.reconnect import (
    Action,
    Decision,
    DisconnectKind,
    DisconnectReason,
    ReconnectPolicy,
    classify_end,
    reason_from_failure,
    reason_from_stream_error,
)
from whatsapp.router import Route, StanzaHandler, StanzaRouter
from whatsapp.socket import WASocket

HISTORY_SIZE = 100  # (reason, decision) of the last connections, for diagnostics; bounded for a daemon


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    url: str
    root_public_key: bytes
    device: DeviceConfig
    connect_timeout: float
    iq_timeout: float
    keepalive: KeepaliveTiming


class Versions(Protocol):
    """Which WA Web version the next connection announces, and what to do when the server refuses it."""

    @property
    def current(self) -> tuple[int, int, int]: ...

    async def after_refusal(self, reason: DisconnectReason, decision: Decision) -> Decision: ...


def disconnect_events(reason: DisconnectReason, decision: Decision) -> list[events.Event]:
    """The events one ended connection raises: always `Disconnected`, then the specific one if any."""
    raised: list[events.Event] = [events.Disconnected(reason, decision)]
    kind = reason.kind
    if kind is DisconnectKind.LOGGED_OUT:
        raised.append(events.LoggedOut(reason))
    elif kind is DisconnectKind.REPLACED:
        raised.append(events.Replaced(reason))
    elif kind is DisconnectKind.TEMPORARY_BAN:
        raised.append(events.TemporaryBan(reason.ban_code, reason.expires_in))
    elif kind is DisconnectKind.OUTDATED and decision.action is Action.STOP:  # not while a newer one is tried
        raised.append(events.ClientOutdated(reason))
    return raised


class Connection:
    def __init__(
        self,
        config: ConnectionConfig,
        auth: AuthState,
        policy: ReconnectPolicy,
        *,
        emit: Emit,
        clock: Clock,
        on_stanza: StanzaHandler,
        on_connecting: Callable[[], None],
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        versions: Versions | None = None,
    ) -> None:
        self.config = config
        self.auth = auth
        self.policy = policy
        self._emit = emit
        self._clock = clock
        self._certificate_hint_given = False  # the WA_ROOT_KEY hint is logged at the first chain failure only
        self._on_stanza = on_stanza
        self._on_connecting = on_connecting
        self._sleep: Sleep = sleep or clock.sleep  # how a reconnect delay is waited out
        self._rng = rng or random.Random()
        self._versions = versions  # the WA Web version of the next connection, renewed on a 405 (whatsapp/version.py)
        self.connected = False  # logged in on the current connection
        self.attempts = 0  # connection attempts made (diagnostics, tests)
        self.history: deque[tuple[DisconnectReason, Decision]] = deque(maxlen=HISTORY_SIZE)
        self._stop_requested = False
        self._logging_out = False  # our own remove-companion-device is on its way: a logout ends, never re-pairs
        self._stop_event = asyncio.Event()
        self._socket: WASocket | None = None
        self._end: asyncio.Future[DisconnectReason] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._iq = IqTracker()

    def install(self, router: StanzaRouter) -> None:
        router.add(Route("iq", self._resolve, type="result"))
        router.add(Route("iq", self._resolve, type="error"))
        router.add(Route("iq", self._answer_ping, xmlns="urn:xmpp:ping"))
        router.set_default("iq", self._unhandled_iq)
        router.add(Route("ack", self._resolve))
        router.add(Route("failure", self._on_failure))
        router.add(Route("stream:error", self._on_stream_error))
        router.add(Route("xmlstreamend", self._on_stream_end))

    # ---- Link ------------------------------------------------------------------------------------------

    async def send_node(self, node: Node) -> None:
        socket = self._socket
        if socket is None:
            raise ConnectionGone("not connected")
        await socket.send_node(node)

    def new_id(self) -> str:
        return self._iq.next_id()

    async def query(self, node: Node, timeout: float | None = None) -> Node:
        """Send a request and wait for its answer; raises IqError for `type=error`, IqTimeout, ConnectionGone."""
        request_id = node.attr_str("id")
        if not request_id:
            request_id = self._iq.next_id()
            node.attrs["id"] = request_id
        future = self._iq.expect(request_id)
        try:
            await self.send_node(node)
            async with asyncio.timeout(timeout if timeout is not None else self.config.iq_timeout):
                response = await future
        except TimeoutError:
            raise IqTimeout(f"no answer to <{node.tag} id={request_id}>") from None
        finally:
            self._iq.forget(request_id)
        return check_iq_result(response)

    # ---- Control ---------------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[object, object, object], name: str) -> asyncio.Task[None]:
        """A task that belongs to the current connection (cancelled when it ends); errors are logged."""
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def end(self, reason: DisconnectReason) -> None:
        """End the current connection with `reason`; the first reason given wins."""
        if self._end is not None and not self._end.done():
            self._end.set_result(reason)

    def reset_backoff(self) -> None:
        self.policy.on_open()

    async def logged_in(self) -> None:
        socket = self._socket
        if socket is None:
            raise ConnectionGone("not connected")
        self.connected = True
        self.policy.on_open()
        await self._set_status(ConnectionStatus.OPEN)
        self.spawn(self._keepalive(socket), "keepalive")

    # ---- the supervisor --------------------------------------------------------------------------------

    def begin(self) -> None:
        """Arm a new run of `supervise` (before its task starts, so an early `stop` is not lost)."""
        self._stop_requested = False
        self._logging_out = False
        self._stop_event = asyncio.Event()

    def stop(self) -> None:
        """Close the connection and stop reconnecting (also interrupts a backoff wait)."""
        self._stop_requested = True
        self._stop_event.set()
        self.end(DisconnectReason.closed_by_user())

    async def logout(self, request: Node) -> None:
        """Send our own removal IQ and wait for its answer; then end the connection as logged out and stop.

        The flag is up before the IQ leaves: the server answers and hangs up at once (401 device_removed),
        and that end must already count as our logout (clear the session, stop) and not as an unlink from
        the phone after which a daemon pairs again. An IQ that fails leaves the device linked and running."""
        self._logging_out = True
        try:
            await self.query(request)
        except BaseException:
            self._logging_out = False
            raise
        self._stop_requested = True
        self._stop_event.set()
        self.end(DisconnectReason.own_logout())

    async def supervise(self) -> DisconnectReason:
        """Connect, and reconnect as the policy says, until it says stop or `stop()` is called."""
        reason = DisconnectReason.closed_by_user()
        while not self._stop_requested:
            was_paired = self.auth.creds.paired
            ended = await self._connect_once()
            reason = classify_end(ended, was_paired=was_paired, stop_requested=self._stop_requested)
            decision = self.policy.decide(reason)
            if self._logging_out and reason.kind is DisconnectKind.LOGGED_OUT:
                reason = DisconnectReason.own_logout()
                decision = Decision(Action.STOP, 0.0, "INFO", "logged out by this device; session cleared",
                                    clear_session=True)
            if reason.kind is DisconnectKind.OUTDATED and self._versions is not None:
                decision = await self._versions.after_refusal(reason, decision)
            self.history.append((reason, decision))
            logger.log(decision.level, decision.message)
            await self._set_status(ConnectionStatus.CLOSED)
            if decision.clear_session:
                await self.auth.clear()
                await self._set_status(ConnectionStatus.LOGGED_OUT)
            for event in disconnect_events(reason, decision):
                await self._emit(event)
            if decision.action is Action.STOP:
                break
            if decision.delay > 0 and not await self._wait_delay(decision.delay):
                reason = DisconnectReason.closed_by_user()
                break
        return reason

    async def _wait_delay(self, delay: float) -> bool:
        """Sleep `delay` (through the injectable sleep); False when stop() interrupted it."""
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopper = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
        return not self._stop_requested

    async def _set_status(self, status: ConnectionStatus) -> None:
        try:
            await self.auth.set_status(status)
        except Exception as exc:  # a status write is informational; never let it end the connection
            logger.warning("could not record connection status {}: {!r}", status.value, exc)

    # ---- one connection ----------------------------------------------------------------------------------

    async def _connect_once(self) -> DisconnectReason:
        self._end = asyncio.get_running_loop().create_future()
        self._on_connecting()
        self.attempts += 1
        creds = self.auth.creds
        mode = "login" if creds.paired else "registration"
        await self._emit(events.Connecting(self.attempts))
        await self._set_status(ConnectionStatus.CONNECTING)
        logger.debug("connecting to {} ({})", self.config.url, mode)
        try:
            device = self.config.device
            if self._versions is not None:
                device = dataclasses.replace(device, version=self._versions.current)
            payload = build_client_payload(creds, device).SerializeToString()
            socket = await WASocket.connect(
                self.config.url,
                creds.noise_key,
                payload,
                root_public_key=self.config.root_public_key,
                routing_info=creds.routing_info,
                timeout=self.config.connect_timeout,
                clock=self._clock.now,
            )
        except asyncio.CancelledError:
            raise
        except CertificateError as exc:
            # Retried like a network failure (a TLS-intercepting proxy can come and go), but a wrong root key
            # never heals by itself: say what to check, once per process, rather than retry in silence.
            if not self._certificate_hint_given:
                self._certificate_hint_given = True
                logger.error("the server's certificate chain did not verify ({}): check WA_ROOT_KEY (unset for "
                             "WhatsApp; the emulator prints its own root key at start) and WA_URL, or a proxy that "
                             "intercepts the connection; retrying", exc)
            return DisconnectReason.network(f"handshake failed: {exc}")
        except HandshakeError as exc:
            return DisconnectReason.network(f"handshake failed: {exc}")
        except Exception as exc:  # OSError, TimeoutError, websockets.InvalidHandshake/InvalidStatus, ...
            return DisconnectReason.network(exc)
        if self._stop_requested:
            await socket.close()
            return DisconnectReason.closed_by_user()
        self._socket = socket
        logger.debug("noise handshake done ({})", mode)
        reader = asyncio.create_task(self._read_loop(socket), name="whatsapp-reader")
        try:
            return await self._end
        finally:
            await self._teardown(socket, reader)

    async def _teardown(self, socket: WASocket, reader: asyncio.Task[None]) -> None:
        self.connected = False
        tasks = [reader, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._iq.fail_all(ConnectionGone("connection closed"))
        await socket.close()
        self._socket = None

    async def _guard(self, coro: Coroutine[object, object, object], name: str) -> None:
        try:
            await coro
        except (asyncio.CancelledError, ConnectionGone, SocketClosed):
            pass
        except Exception:
            logger.exception("{} failed", name)

    async def _read_loop(self, socket: WASocket) -> None:
        while True:
            try:
                node = await socket.recv_node()
            except SocketClosed as exc:
                self.end(DisconnectReason.connection_closed(str(exc)))
                return
            except Exception as exc:  # anything else from the transport: this connection is unusable
                self.end(DisconnectReason.network(exc))
                return
            try:
                await self._on_stanza(node)
            except asyncio.CancelledError:
                raise
            except (ConnectionGone, SocketClosed):
                self.end(DisconnectReason.connection_closed("socket closed while handling a stanza"))
                return
            except Exception:
                logger.exception("handling <{}> failed; continuing", node.tag)

    async def _keepalive(self, socket: WASocket) -> None:
        async def ping(timeout: float) -> None:
            iq = Node("iq", {"id": self.new_id(), "to": SERVER_JID, "type": "get", "xmlns": "w:p"}, [Node("ping")])
            try:
                await self.query(iq, timeout)
            except (IqTimeout, ConnectionGone, SocketClosed):
                raise
            except WhatsAppError:
                pass  # an error answer still proves the server is alive

        try:
            await run_keepalive(ping, lambda: socket.last_received, self.config.keepalive,
                                sleep=self._clock.sleep, clock=self._clock.now, rng=self._rng)
        except KeepaliveFailed as exc:
            self.end(DisconnectReason.keepalive_timeout(exc.detail))

    # ---- the stanzas that are about the connection itself ----------------------------------------------------

    async def _resolve(self, node: Node) -> None:
        """An IQ answer or an `<ack>`: to whoever waits for it."""
        if not self._iq.resolve(node) and node.tag == "iq":
            logger.debug("answer to an unknown or expired iq {}", node.attr_str("id"))

    async def _answer_ping(self, node: Node) -> None:
        await self.send_node(result_iq(node))

    async def _unhandled_iq(self, node: Node) -> None:
        logger.debug("unhandled server iq {}", node)

    async def _on_failure(self, node: Node) -> None:
        self.end(reason_from_failure(node))

    async def _on_stream_error(self, node: Node) -> None:
        self.end(reason_from_stream_error(node))

    async def _on_stream_end(self, node: Node) -> None:
        self.end(DisconnectReason.connection_closed("server ended the stream"))
