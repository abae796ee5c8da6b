"""The asyncio client: one connection supervisor per client, stanza routing, pairing, login upkeep.

    client = Client(auth_state, url=..., phone_number=None)

    @client.on(events.QR)
    async def show(event): print(event.code)

    await client.start()          # returns at once; the supervisor connects and reconnects
    reason = await client.wait()  # until a disconnect after which reconnecting would be wrong
    await client.close()          # closes the socket (never logs out)

    @client.on(MessageReceived)   # whatsapp.messages (also reachable as events.MessageReceived)
    async def got(msg): await client.send_text(msg.chat, "hi", quoted=msg)

    await client.send_text("15551234567@s.whatsapp.net" | "…@lid" | "…@g.us", "text")  # -> SendResult
    await client.send_message(jid, e2e_pb2.Message(...))                               # raises SendError

Design (field-notes §2.3 (b)–(h)):
- Exactly one supervisor task per client (`start()` is single-flight); every connection gets a new
  `WASocket`, and the old one is torn down (tasks cancelled, IQs failed, socket closed) first.
- Stanzas are processed one at a time in arrival order. Work that must wait for the server (IQ
  answers) runs in per-connection tasks, so the reader never waits on itself.
- Decisions live in sans-I/O modules: `reconnect` (policy), `pairing`, `prekeys`, `keepalive`.
- Pairing credentials are committed in one transaction before the reply is sent, so the 515 restart
  that follows always reconnects with durable credentials.
- Messages: `receive.Receiver` decrypts inline in the reader (stanza order is session order) and
  queues the events; a separate pump task delivers them, so a handler that sends and awaits the
  server's ack never blocks the reader that must read it. `send.Sender` encrypts and sends. One
  Signal lock serializes every session/sender-key change of both.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from loguru import logger

from whatsapp import events
from whatsapp.addressing import store_mapping
from whatsapp.auth import AuthState, ConnectionStatus
from whatsapp.binary import Node
from whatsapp.certs import WA_ROOT_PUBLIC_KEY
from whatsapp.errors import DecodeError, HandshakeError, PairingError, WhatsAppError
from whatsapp.iq import DEFAULT_IQ_TIMEOUT, ConnectionGone, IqTimeout, IqTracker, check_iq_result
from whatsapp.jid import JID, SERVER_JID
from whatsapp.keepalive import KeepaliveFailed, KeepaliveTiming, run_keepalive
from whatsapp.messages import MessageReceived, SendResult
from whatsapp.pair_code import CompanionHello, start_companion
from whatsapp.pairing import (
    FIRST_QR_TIMEOUT,
    NEXT_QR_TIMEOUT,
    PairRejected,
    companion_hello_iq,
    handle_link_code_notification,
    handle_pair_success,
    pairing_ref_from_hello_result,
    parse_pair_device,
    qr_schedule,
    result_iq,
)
from whatsapp.payload import DeviceConfig, build_client_payload
from whatsapp.prekeys import count_iq, mark_uploaded, parse_count, plan_upload, prepare_upload, upload_iq
from whatsapp.proto import e2e_pb2
from whatsapp.qr import qr_for_credentials
from whatsapp.receive import Receiver
from whatsapp.reconnect import (
    Action,
    Decision,
    DisconnectKind,
    DisconnectReason,
    ReconnectPolicy,
    reason_from_failure,
    reason_from_stream_error,
)
from whatsapp.send import GroupInfo, Sender, text_message
from whatsapp.socket import DEFAULT_CONNECT_TIMEOUT, SocketClosed, WASocket
from whatsapp.tasks import cancel_and_wait

DEFAULT_URL = "wss://web.whatsapp.com/ws/chat"
Sleep = Callable[[float], Awaitable[None]]


def build_ack(node: Node, me_id: str | None = None) -> Node:
    """`<ack id to class [type] [participant] [recipient]>` for a receipt/notification/message/call."""
    attrs: dict[str, Any] = {"id": node.attr_str("id", ""), "to": node.attrs.get("from", SERVER_JID), "class": node.tag}
    for name in ("participant", "recipient", "type"):
        if node.attrs.get(name) is not None:
            attrs[name] = node.attrs[name]
    if node.tag == "message" and me_id:
        attrs["from"] = me_id
    return Node("ack", attrs)


@dataclasses.dataclass(slots=True)
class _PairingState:
    """Per-connection pairing data (a new connection starts a new pairing)."""

    hello: CompanionHello | None = None
    ref: bytes | None = None
    adv_secret: bytes | None = None  # from the pairing-code exchange; keys pair-success's HMAC


class Client:
    def __init__(
        self,
        auth: AuthState,
        *,
        url: str = DEFAULT_URL,
        root_public_key: bytes = WA_ROOT_PUBLIC_KEY,
        device: DeviceConfig | None = None,
        phone_number: str | None = None,
        presence: str | None = "available",
        policy: ReconnectPolicy | None = None,
        keepalive: KeepaliveTiming | None = None,
        qr_timeouts: tuple[float, float] = (FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT),
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        iq_timeout: float = DEFAULT_IQ_TIMEOUT,
        offline_timeout: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.auth = auth
        self.url = url
        self.root_public_key = root_public_key
        self.device = device or DeviceConfig()
        self.phone_number = phone_number
        self.presence = presence
        self.policy = policy or ReconnectPolicy(rng=rng)
        self.keepalive_timing = keepalive or KeepaliveTiming()
        self.qr_timeouts = qr_timeouts
        self.connect_timeout = connect_timeout
        self.iq_timeout = iq_timeout
        self.offline_timeout = offline_timeout
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.bus = events.EventBus()
        self.on = self.bus.on
        self.add_handler = self.bus.add_handler

        self.connected = False  # logged in on the current connection
        self.attempts = 0  # connection attempts made by this client (diagnostics, tests)
        self.history: list[tuple[DisconnectReason, Decision]] = []  # (reason, decision) per ended connection
        self._supervisor: asyncio.Task[DisconnectReason] | None = None
        self._stop_requested = False
        self._stop_event: asyncio.Event | None = None
        self._socket: WASocket | None = None
        self._end: asyncio.Future[DisconnectReason] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._iq = IqTracker()
        self._pairing = _PairingState()
        self._offline_done = False
        self._qr_task: asyncio.Task[Any] | None = None
        self._prekey_lock = asyncio.Lock()
        # One lock over every Signal record change (decrypt and encrypt): a ratchet is never advanced
        # by two operations at once, whichever address (PN or LID) they came in by.
        self._signal_lock = asyncio.Lock()
        # Held (briefly, never across a network wait) by whatever allocates prekey ids from the
        # credentials: the upload batch and a retry receipt's fresh key never get the same id.
        self._creds_lock = asyncio.Lock()
        self._events: asyncio.Queue[events.Event] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self.receiver = Receiver(auth, self.send_node, self._queue_event, self._signal_lock, self._creds_lock)
        self.sender = Sender(self, self._signal_lock)
        self.dispatcher: Any = None  # the bot's plugin dispatcher, when one is attached (bot.py)

    # ---- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection supervisor; a second call while it runs does nothing (single flight)."""
        if self._supervisor is not None and not self._supervisor.done():
            return
        self._stop_requested = False
        self._stop_event = asyncio.Event()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._pump_events(), name="whatsapp-message-events")
        self._supervisor = asyncio.create_task(self._supervise(), name="whatsapp-supervisor")

    async def wait(self) -> DisconnectReason:
        """Until the supervisor stops; returns the reason it stopped."""
        if self._supervisor is None:
            raise RuntimeError("client was not started")
        return await asyncio.shield(self._supervisor)

    async def run(self) -> DisconnectReason:
        await self.start()
        return await self.wait()

    async def close(self, timeout: float = 8.0) -> None:
        """Close the connection and stop reconnecting. Never logs out; safe to call twice."""
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()
        self._finish(DisconnectReason.closed_by_user())
        supervisor = self._supervisor
        if supervisor is None or supervisor.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(supervisor), timeout)
        except TimeoutError:
            logger.warning("connection did not close within {:.0f}s; cancelling", timeout)
            await cancel_and_wait(supervisor, "the connection supervisor")

    @property
    def running(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    async def _supervise(self) -> DisconnectReason:
        reason = DisconnectReason.closed_by_user()
        try:
            while not self._stop_requested:
                was_paired = self.auth.creds.paired
                reason = await self._connect_once()
                if not was_paired and reason.kind is DisconnectKind.LOGGED_OUT:
                    # A registering connection has no session to lose: the server refused this
                    # pairing attempt (e.g. after we rejected a forged pair-success). Retry later.
                    reason = DisconnectReason(DisconnectKind.TRANSIENT, reason.code, f"pairing refused ({reason.text})")
                if self._stop_requested and reason.kind is not DisconnectKind.LOGGED_OUT:
                    reason = DisconnectReason.closed_by_user()
                decision = self.policy.decide(reason)
                self.history.append((reason, decision))
                logger.log(decision.level, decision.message)
                await self._set_status(ConnectionStatus.CLOSED)
                if decision.clear_session:
                    await self.auth.clear()
                    await self._set_status(ConnectionStatus.LOGGED_OUT)
                await self.bus.emit(events.Disconnected(reason, decision))
                await self._emit_specific(reason)
                if decision.action is Action.STOP:
                    break
                if decision.delay > 0 and not await self._wait_delay(decision.delay):
                    reason = DisconnectReason.closed_by_user()
                    break
        finally:
            await self._drain_events()
            await self.bus.emit(events.Stopped(reason))
        return reason

    async def _queue_event(self, event: events.Event) -> None:
        self._events.put_nowait(event)

    async def _pump_events(self) -> None:
        """Message events reach handlers in arrival order but off the reader: a handler that sends (and
        waits for the server's ack) must never block the loop that reads that ack."""
        while True:
            event = await self._events.get()
            try:
                await self.bus.emit(event)
            finally:
                self._events.task_done()

    async def _drain_events(self, timeout: float = 5.0) -> None:
        if self._pump is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._events.join()
        await cancel_and_wait(self._pump, "the event pump")
        self._pump = None

    async def _emit_specific(self, reason: DisconnectReason) -> None:
        kind = reason.kind
        if kind is DisconnectKind.LOGGED_OUT:
            await self.bus.emit(events.LoggedOut(reason))
        elif kind is DisconnectKind.REPLACED:
            await self.bus.emit(events.Replaced(reason))
        elif kind is DisconnectKind.TEMPORARY_BAN:
            await self.bus.emit(events.TemporaryBan(reason.ban_code, reason.expires_in))
        elif kind is DisconnectKind.OUTDATED:
            await self.bus.emit(events.ClientOutdated(reason))

    async def _wait_delay(self, delay: float) -> bool:
        """Sleep `delay` (through the injectable sleep); False when close() interrupted it."""
        assert self._stop_event is not None
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

    # ---- one connection ---------------------------------------------------------------------------------

    def _finish(self, reason: DisconnectReason) -> None:
        """End the current connection with `reason`; the first reason given wins."""
        if self._end is not None and not self._end.done():
            self._end.set_result(reason)

    async def _connect_once(self) -> DisconnectReason:
        loop = asyncio.get_running_loop()
        self._end = loop.create_future()
        self._pairing = _PairingState()
        self.attempts += 1
        creds = self.auth.creds
        mode = "login" if creds.paired else "registration"
        await self.bus.emit(events.Connecting(self.attempts))
        await self._set_status(ConnectionStatus.CONNECTING)
        logger.debug("connecting to {} ({})", self.url, mode)
        try:
            payload = build_client_payload(creds, self.device).SerializeToString()
            socket = await WASocket.connect(
                self.url,
                creds.noise_key,
                payload,
                root_public_key=self.root_public_key,
                routing_info=creds.routing_info,
                timeout=self.connect_timeout,
            )
        except asyncio.CancelledError:
            raise
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

    async def _teardown(self, socket: WASocket, reader: asyncio.Task[Any]) -> None:
        self.connected = False
        tasks = [reader, *self._tasks]
        if self._qr_task is not None:
            tasks.append(self._qr_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._qr_task = None
        self._iq.fail_all(ConnectionGone("connection closed"))
        await socket.close()
        self._socket = None

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task that belongs to the current connection (cancelled when it ends); errors are logged."""
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
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
                self._finish(DisconnectReason.connection_closed(str(exc)))
                return
            except Exception as exc:  # anything else from the transport: this connection is unusable
                self._finish(DisconnectReason.network(exc))
                return
            try:
                await self._handle(node)
            except asyncio.CancelledError:
                raise
            except (ConnectionGone, SocketClosed):
                self._finish(DisconnectReason.connection_closed("socket closed while handling a stanza"))
                return
            except Exception:
                logger.exception("handling <{}> failed; continuing", node.tag)

    # ---- sending ------------------------------------------------------------------------------------------

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
            async with asyncio.timeout(timeout if timeout is not None else self.iq_timeout):
                response = await future
        except TimeoutError:
            raise IqTimeout(f"no answer to <{node.tag} id={request_id}>") from None
        finally:
            self._iq.forget(request_id)
        return check_iq_result(response)

    # ---- routing ------------------------------------------------------------------------------------------

    async def _handle(self, node: Node) -> None:
        tag = node.tag
        if tag == "iq":
            await self._handle_iq(node)
        elif tag == "ack":
            self._iq.resolve(node)
        elif tag == "success":
            await self._on_success(node)
        elif tag == "failure":
            self._finish(reason_from_failure(node))
        elif tag == "stream:error":
            self._finish(reason_from_stream_error(node))
        elif tag == "xmlstreamend":
            self._finish(DisconnectReason.connection_closed("server ended the stream"))
        elif tag == "ib":
            await self._on_ib(node)
        elif tag == "notification":
            await self._on_notification(node)
        elif tag == "message":
            if self.auth.creds.paired:
                await self.receiver.handle(node)
        elif tag in ("receipt", "call"):
            await self.send_node(build_ack(node, self.auth.creds.me_id))
            if tag == "receipt" and node.attr_str("type") == "retry" and node.child("retry") is not None:
                self._spawn(self.sender.handle_retry(node), "retry receipt")
            await self.bus.emit(events.NodeReceived(node))
        else:
            await self.bus.emit(events.NodeReceived(node))

    async def _handle_iq(self, node: Node) -> None:
        kind = node.attr_str("type")
        if kind in ("result", "error"):
            if not self._iq.resolve(node):
                logger.debug("answer to an unknown or expired iq {}", node.attr_str("id"))
            return
        if node.child("pair-device") is not None:
            await self._on_pair_device(node)
        elif node.child("pair-success") is not None:
            await self._on_pair_success(node)
        elif node.attr_str("xmlns") == "urn:xmpp:ping":
            await self.send_node(result_iq(node))
        else:
            logger.debug("unhandled server iq {}", node)

    async def _on_ib(self, node: Node) -> None:
        for child in node.children:
            if child.tag == "offline":
                count = child.attr_int("count", 0) or 0
                self._offline_done = True
                logger.info("offline backlog delivered ({} stanzas)", count)
                await self.bus.emit(events.OfflineSyncCompleted(count))
            elif child.tag == "offline_preview":
                counts = {k: int(v) for k, v in child.attrs.items() if isinstance(v, str) and v.isdigit()}
                await self.bus.emit(events.OfflineSyncPreview(counts))
                await self.send_node(Node("ib", {}, [Node("offline_batch", {"count": "100"})]))
            elif child.tag == "edge_routing":
                routing = child.child("routing_info")
                value = routing.content_bytes if routing is not None else None
                if value and value != self.auth.creds.routing_info:
                    async with self.auth.transaction() as tx:
                        tx.set_creds(dataclasses.replace(self.auth.creds, routing_info=value))
            elif child.tag == "downgrade_webclient":
                self._finish(DisconnectReason.multidevice_mismatch())

    async def _on_notification(self, node: Node) -> None:
        await self.send_node(build_ack(node, self.auth.creds.me_id))
        kind = node.attr_str("type")
        if kind == "encrypt" and node.child("count") is not None:
            count = parse_count(node)
            logger.info("server reports {} prekeys left", count)
            self._spawn(self._ensure_prekeys(count), "prekey refill")
        elif kind == "link_code_companion_reg":
            await self._on_link_code(node)
        elif kind == "devices":
            await self._on_devices_notification(node)
        elif kind == "w:gp2":
            group = node.attrs.get("from")
            if isinstance(group, JID):
                self.sender.forget_group(group)
            await self.bus.emit(events.NodeReceived(node))
        elif kind == "passkey_prologue_request":
            logger.error("the server asks for a passkey to link this device; link by QR instead")
            await self.bus.emit(events.PasskeyRequired())
        else:
            await self.bus.emit(events.NodeReceived(node))

    async def _on_devices_notification(self, node: Node) -> None:
        """A contact (or we) linked or removed a device: its cached device list is stale."""
        for name in ("from", "lid"):
            jid = node.try_attr_jid(name)
            if jid is not None and jid.user:
                await self.sender.invalidate_devices(jid)
        await self.bus.emit(events.NodeReceived(node))

    # ---- messaging ----------------------------------------------------------------------------------------

    async def send_message(self, jid: JID | str, message: e2e_pb2.Message) -> SendResult:
        """Encrypt and send a `Message` to a user (PN or LID) or a group; waits for the server's ack.

        Raises SendError (server refused it, e.g. 463), ConnectionGone (not connected) or IqTimeout.
        """
        if not self.connected:
            raise ConnectionGone("not connected")
        target = JID.parse(jid) if isinstance(jid, str) else jid
        return await self.sender.send(target, message)

    async def send_text(self, jid: JID | str, text: str, *, quoted: MessageReceived | None = None) -> SendResult:
        """Send a text; with `quoted`, as a reply quoting that received message."""
        return await self.send_message(jid, text_message(text, quoted))

    async def group_metadata(self, jid: JID | str, *, refresh: bool = False) -> GroupInfo:
        target = JID.parse(jid) if isinstance(jid, str) else jid
        return await self.sender.group_info(target, refresh=refresh)

    # ---- pairing ------------------------------------------------------------------------------------------

    async def _on_pair_device(self, node: Node) -> None:
        await self.send_node(result_iq(node))
        refs = parse_pair_device(node)
        if self._qr_task is not None:
            self._qr_task.cancel()
        # Guarded like the other per-connection tasks: teardown gathers it with return_exceptions,
        # so an unguarded failure would vanish without a log line.
        self._qr_task = asyncio.create_task(self._guard(self._rotate_qr(refs), "QR rotation"), name="whatsapp-qr")
        if self.phone_number:
            self._spawn(self._request_pairing_code(self.phone_number), "pairing code request")

    async def _rotate_qr(self, refs: list[bytes]) -> None:
        schedule = qr_schedule(len(refs), *self.qr_timeouts)
        show = not self.phone_number
        for index, (ref, timeout) in enumerate(zip(refs, schedule, strict=True)):
            if show:
                code = qr_for_credentials(ref, self.auth.creds, self.device.web_client_type)
                await self.bus.emit(events.QR(code, index, len(refs), timeout))
            await asyncio.sleep(timeout)
        self._finish(DisconnectReason.qr_exhausted())

    async def _request_pairing_code(self, phone_number: str) -> None:
        hello = await asyncio.to_thread(start_companion)  # PBKDF2 with 131072 rounds: keep the loop free
        self._pairing.hello = hello
        iq = companion_hello_iq(
            self._iq.next_id(),
            phone_number,
            hello,
            self.auth.creds,
            self.device.web_client_type,
            self.device.platform_display,
        )
        answer = await self.query(iq)
        self._pairing.ref = pairing_ref_from_hello_result(answer)
        await self.bus.emit(events.PairingCode(hello.code))

    async def _on_link_code(self, node: Node) -> None:
        hello = self._pairing.hello
        if hello is None or not self.phone_number:
            logger.warning("link_code_companion_reg notification without a pairing code request; ignored")
            return
        step = await asyncio.to_thread(
            handle_link_code_notification,
            node,
            hello,
            self._pairing.ref,
            self.auth.creds,
            self.phone_number,
            self._iq.next_id(),
        )
        self._pairing.adv_secret = step.adv_secret
        self._spawn(self.query(step.finish_iq), "companion_finish")

    async def _on_pair_success(self, node: Node) -> None:
        creds = self.auth.creds
        if self._pairing.adv_secret is not None:
            creds = dataclasses.replace(creds, adv_secret_key=self._pairing.adv_secret)
        try:
            outcome = handle_pair_success(node, creds)
        except PairRejected as exc:
            logger.error("{}; nothing was stored", exc)
            await self.send_node(exc.reply)
            await self.bus.emit(events.PairError(str(exc)))
            return
        except (PairingError, DecodeError) as exc:
            logger.error("pair-success unreadable ({}); nothing was stored", exc)
            await self.bus.emit(events.PairError(str(exc)))
            return
        if self._qr_task is not None:
            self._qr_task.cancel()
            self._qr_task = None
        # Durable BEFORE the reply: the server answers the reply with the 515 restart, and the
        # reconnect that follows must find these credentials (field-notes §2.3 (b), (d)).
        async with self.auth.transaction() as tx:
            tx.set_creds(outcome.creds)
            for key_type, key_id, value in outcome.keys:
                tx.set(key_type, key_id, value)
        await self.send_node(outcome.reply)
        self.policy.on_open()
        logger.info("paired as {} (platform {}); waiting for the restart", outcome.creds.me_id, outcome.platform)
        await self.bus.emit(
            events.PairSuccess(outcome.creds.me_id or "", outcome.creds.me_lid, outcome.platform, outcome.business_name)
        )

    # ---- logged in ----------------------------------------------------------------------------------------

    async def _on_success(self, node: Node) -> None:
        creds = self.auth.creds
        if not creds.paired:
            logger.warning("ignored <success> on a connection that is not paired")
            return
        lid = node.attr_str("lid")
        if lid and lid != creds.me_lid:
            await self._record_lid(lid)
        self.connected = True
        self.policy.on_open()
        await self._set_status(ConnectionStatus.OPEN)
        logger.info("connection open as {}", self.auth.creds.me_id)
        socket = self._socket
        assert socket is not None
        self._offline_done = False
        self._spawn(self._keepalive(socket), "keepalive")
        self._spawn(self._after_login(), "post-login setup")
        self._spawn(self._offline_watchdog(), "offline backlog watchdog")
        await self.bus.emit(events.Connected(self.auth.creds.me_id, self.auth.creds.me_lid))

    async def _offline_watchdog(self) -> None:
        """The end-of-backlog marker can go missing (Baileys #2810): don't let the app wait forever."""
        await asyncio.sleep(self.offline_timeout)
        if not self._offline_done:
            self._offline_done = True
            logger.warning(
                "no end-of-backlog marker within {:.0f}s; treating the backlog as done", self.offline_timeout
            )
            await self.bus.emit(events.OfflineSyncCompleted(0, timed_out=True))

    async def _record_lid(self, lid: str) -> None:
        creds = self.auth.creds
        try:
            lid_jid = JID.parse(lid)
            me = JID.parse(creds.me_id or "")
        except DecodeError:
            logger.warning("server sent an unreadable lid {!r}", lid)
            return
        async with self.auth.transaction() as tx:
            tx.set_creds(dataclasses.replace(creds, me_lid=lid))
            store_mapping(tx, me.user, lid_jid.user)
        logger.debug("own LID recorded")

    async def _after_login(self) -> None:
        try:
            await self._ensure_prekeys(None)
        except WhatsAppError as exc:
            logger.warning("prekey check failed: {}", exc)
        await self.query(Node("iq", {"to": SERVER_JID, "xmlns": "passive", "type": "set"}, [Node("active")]))
        if self.presence in ("available", "unavailable"):
            attrs: dict[str, Any] = {"type": self.presence}
            name = self.auth.creds.push_name or self.device.push_name
            if name:
                attrs["name"] = name
            await self.send_node(Node("presence", attrs))

    async def _ensure_prekeys(self, server_count: int | None) -> None:
        async with self._prekey_lock:  # one check/upload at a time: ids and counts stay consistent
            if server_count is None:
                server_count = parse_count(await self.query(count_iq(self._iq.next_id())))
            plan = plan_upload(self.auth.creds, server_count)
            if not plan.generate and not plan.reuse_ids:
                logger.debug("server has {} prekeys; enough", server_count)
                return
            async with self._creds_lock:
                upload = await prepare_upload(self.auth, plan)
            await self.query(upload_iq(self._iq.next_id(), self.auth.creds, upload.keys))
            async with self._creds_lock:
                await mark_uploaded(self.auth, upload)
            first = upload.keys[0][0] if upload.keys else 0
            logger.info("uploaded {} prekeys (server had {})", len(upload.keys), server_count)
            await self.bus.emit(events.PrekeysUploaded(len(upload.keys), first))

    async def _keepalive(self, socket: WASocket) -> None:
        async def ping(timeout: float) -> None:
            iq = Node("iq", {"id": self._iq.next_id(), "to": SERVER_JID, "type": "get", "xmlns": "w:p"}, [Node("ping")])
            try:
                await self.query(iq, timeout)
            except (IqTimeout, ConnectionGone, SocketClosed):
                raise
            except WhatsAppError:
                pass  # an error answer still proves the server is alive

        try:
            await run_keepalive(ping, lambda: socket.last_received, self.keepalive_timing, rng=self._rng)
        except KeepaliveFailed as exc:
            self._finish(DisconnectReason.keepalive_timeout(exc.detail))
