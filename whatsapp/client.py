"""The client: a small facade over one module per concern (docs/architecture.md).

    from whatsapp import Client, MemoryAuthState, events

    client = Client(MemoryAuthState())          # or a durable store from the `storage` package

    @client.on(events.QR)
    def show(event: events.QR) -> None: print(event.code)

    @client.on(events.MessageReceived)
    async def got(msg: events.MessageReceived) -> None:
        await client.send_text(msg.chat, "hi", quoted=msg)    # -> SendResult, or raises SendError

    await client.start()          # returns at once; the supervisor connects and reconnects
    reason = await client.wait()  # until a disconnect after which reconnecting would be wrong
    await client.close()          # closes the socket (never logs out)

The Client owns the lifecycle and the public methods; the work is done by the modules it composes:
the connection supervisor (whatsapp/connection.py), the stanza router (whatsapp/router.py) filled
by pairing (pairing_flow.py), login upkeep (upkeep.py), notifications, receipts, calls and the
receiver (receive.py), plus the sender (send.py) and history sync (history.py). Each gets a narrow `Context`
(whatsapp/context.py), never the Client, so no module below imports this one.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import overload

from loguru import logger

from whatsapp import events
from whatsapp.abprops import ServerProps, fetch_props
from whatsapp.appstate import AppStateSync
from whatsapp.auth import AuthState
from whatsapp.binary import Node
from whatsapp.calls import Calls
from whatsapp.certs import WA_ROOT_PUBLIC_KEY
from whatsapp.chatstate import ChatPresence
from whatsapp.client_groups import GroupMethods
from whatsapp.client_interactions import InteractionMethods
from whatsapp.client_status import StatusMethods
from whatsapp.client_users import UserMethods
from whatsapp.compose import text_message
from whatsapp.connection import Connection, ConnectionConfig
from whatsapp.contacts import ContactStore
from whatsapp.context import Clock, Context, Locks, Sleep, SystemClock
from whatsapp.devices import DeviceDirectory
from whatsapp.errors import ConnectionGone, WhatsAppError
from whatsapp.eventbus import E, EventBus, HandlerResult, Unsubscribe
from whatsapp.eventlog import EventLog, Release
from whatsapp.events import Event, MessageReceived
from whatsapp.fanout import Fanout
from whatsapp.group_admin import GroupAdmin
from whatsapp.groups import GroupDirectory
from whatsapp.history import HistorySyncer
from whatsapp.inbox import Inbox
from whatsapp.interactions import Interactions
from whatsapp.iq import DEFAULT_IQ_TIMEOUT
from whatsapp.jid import JID
from whatsapp.keepalive import KeepaliveTiming
from whatsapp.linked import AccountDevice, LinkedDevice
from whatsapp.media_http import DOWNLOAD_CAP, MediaOptions
from whatsapp.media_message import Downloadable
from whatsapp.media_send import MediaSpec
from whatsapp.media_service import MediaService
from whatsapp.message_kinds import LinkPreview, with_link_preview
from whatsapp.messages import SendResult
from whatsapp.notifications import Notifications
from whatsapp.pairing import FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT
from whatsapp.pairing_flow import PairingConfig, PairingFlow
from whatsapp.payload import DeviceConfig
from whatsapp.presence import Presence
from whatsapp.proto import e2e_pb2
from whatsapp.receipts import Receipts
from whatsapp.receive import Receiver
from whatsapp.reconnect import Decision, DisconnectReason, ReconnectPolicy
from whatsapp.resend import Resender
from whatsapp.router import Concern, StanzaRouter
from whatsapp.send import Sender
from whatsapp.sentstore import StoredSent
from whatsapp.socket import DEFAULT_CONNECT_TIMEOUT
from whatsapp.status import as_status
from whatsapp.tasks import cancel_and_wait
from whatsapp.trust import TrustTokens
from whatsapp.upkeep import LoginUpkeep, UpkeepConfig
from whatsapp.upload import MediaSource, UploadResult
from whatsapp.users import Users
from whatsapp.version import VersionPolicy, VersionRenewal, default_version_url

DEFAULT_URL = "wss://web.whatsapp.com/ws/chat"
AUTO_VERSION_URL = "auto"  # `version_url` default: WhatsApp's version page when talking to WhatsApp's server


class Client(InteractionMethods, GroupMethods, UserMethods, StatusMethods):
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
        sleep: Sleep | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        media: MediaOptions | None = None,
        version: tuple[int, int, int] | None = None,
        version_url: str | None = AUTO_VERSION_URL,
        signed_prekey_rotation_days: float = 0.0,
    ) -> None:
        """`auth`: the session (whatsapp.auth.AuthState). `phone_number`: link by pairing code instead of QR.
        `presence`: sent after login ("available", "unavailable", None for none). `clock`: every timer
        (QR rotation, offline watchdog, keepalive); `sleep`: how reconnect delays are waited out
        (default: the clock's). `media`: download cap and TLS trust of the media hosts (whatsapp/media_http.py).
        `version`: announce this WA Web version instead of the newest known; `version_url`: the page the
        current one is read from at start and after a 405 (default: WhatsApp's own for WhatsApp's server,
        none for any other; None never fetches; whatsapp/version.py). `signed_prekey_rotation_days`: a new
        signed prekey that often (0: never, as Baileys; whatsapp/spk_rotation.py).
        The rest are timeouts and the reconnect policy (whatsapp/reconnect.py).
        """
        self.auth = auth
        self.device = device or DeviceConfig()
        self.policy = policy or ReconnectPolicy(rng=rng)
        self.clock: Clock = clock or SystemClock()
        self.bus = EventBus()
        self._supervisor: asyncio.Task[DisconnectReason] | None = None
        locks = Locks()
        # The decrypted-event buffer (whatsapp/eventlog.py): written by the receiver, released by the inbox.
        self._log = EventLog(auth, locks.signal)
        self._inbox = Inbox(self._emit_from_inbox, self._log)
        self._router = StanzaRouter(self._unrouted)
        page = default_version_url(url) if version_url == AUTO_VERSION_URL else version_url
        self.versions = VersionRenewal(auth, VersionPolicy(version, page), base=self.device.version)
        self._connection = Connection(
            ConnectionConfig(url, root_public_key, self.device, connect_timeout, iq_timeout,
                             keepalive or KeepaliveTiming()),
            auth, self.policy, emit=self.bus.emit, clock=self.clock, sleep=sleep, rng=rng,
            on_stanza=self._on_stanza, on_connecting=self._on_connecting, versions=self.versions,
        )
        ctx = Context(link=self._connection, control=self._connection, auth=auth, emit=self.bus.emit,
                      deliver=self._inbox.put, clock=self.clock, locks=locks)
        devices, groups, sent = DeviceDirectory(ctx), GroupDirectory(ctx), StoredSent(auth)
        fanout = Fanout(ctx, devices)
        props, standing = ServerProps(), Presence(ctx, presence, self.device.push_name)
        trust = TrustTokens(ctx, props)
        self._sender = Sender(ctx, fanout, groups, sent, trust)
        self.messages_sent = 0  # messages the server acknowledged (send_message and everything built on it)
        self._groups, self._group_admin = groups, GroupAdmin(ctx, groups)
        self._linked = LinkedDevice(ctx, devices, self.device.os_name)
        self._media = MediaService(ctx, media or MediaOptions(), self.send_message)
        self._pairing = PairingFlow(ctx, PairingConfig(phone_number, qr_timeouts, self.device))
        self._appstate = AppStateSync(ctx, self._download_history, standing.learn_push_name)  # appstate.py
        upkeep = LoginUpkeep(ctx, UpkeepConfig(offline_timeout, signed_prekey_rotation_days), standing,
                             [("server props fetch", lambda: fetch_props(ctx, props)),
                              ("trust token pruning", trust.prune_expired),  # after the props: their window
                              ("app state sync", self._appstate.at_login)])
        self._upkeep = upkeep
        receiver = Receiver(ctx, self._log)
        receiver.receipts_active = standing.receipts_active
        self._presence, self._chat = standing, ChatPresence(ctx, trust.stanza_nodes)
        self._receipts, self._calls = Receipts(ctx, Resender(ctx, fanout, sent)), Calls(ctx)
        self._interactions = Interactions(ctx, sent, self.send_message)
        concerns: tuple[Concern, ...] = (
            self._connection, self._pairing, upkeep, Notifications(ctx, devices, groups, upkeep),
            self._receipts, self._calls, receiver, self._media, trust, self._chat, self._appstate,
        )
        for concern in concerns:
            concern.install(self._router)
        self.bus.add_handler(MessageReceived, standing.on_message)  # our own messages carry our push name
        self._users, self._contacts = Users(ctx), ContactStore(auth)
        self.bus.add_handler(MessageReceived, self._contacts.on_message)  # contacts' push names, kept
        # Our phone's history-sync chunks: tokens, nctSalt, LID mappings, push name (whatsapp/history.py).
        self._history = HistorySyncer(ctx, self._download_history, trust.store_tokens, standing.learn_push_name,
                                      self._log.hold)
        self.bus.add_handler(MessageReceived, self._history.on_message)
        self.bus.add_handler(MessageReceived, self._appstate.on_message)  # our phone's app-state keys
        # At every login, before the offline backlog: the events an earlier run did not finish handling.
        self.bus.add_handler(events.Connected, self._redeliver)

    # ---- events ---------------------------------------------------------------------------------------

    def on(self, event_type: type[E]) -> Callable[[Callable[[E], HandlerResult]], Callable[[E], HandlerResult]]:
        """Decorator: `@client.on(events.MessageReceived)` registers the function for that event class."""
        return self.bus.on(event_type)

    def add_handler(self, event_type: type[E], handler: Callable[[E], HandlerResult]) -> Unsubscribe:
        """Register `handler` for `event_type` (and its subclasses); returns the function that unsubscribes."""
        return self.bus.add_handler(event_type, handler)

    def hold(self, event: MessageReceived) -> Release:
        """For a handler that finishes later than its event's emit: the message stays pending in the
        decrypted-event buffer until `release(handled)` is called; `release(False)` leaves it pending
        for the next login or process (whatsapp/eventlog.py)."""
        return self._log.hold(event)

    async def _redeliver(self, event: events.Connected) -> None:
        await self._log.redeliver(self._inbox.put)

    # ---- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection supervisor; a second call while it runs does nothing (single flight)."""
        if self.running:
            return
        self._connection.begin()
        self._inbox.start()
        self._supervisor = asyncio.create_task(self._run(), name="whatsapp-supervisor")

    async def wait(self) -> DisconnectReason:
        """Until the supervisor stops; returns the reason it stopped."""
        if self._supervisor is None:
            raise RuntimeError("client was not started")
        return await asyncio.shield(self._supervisor)

    async def run(self) -> DisconnectReason:
        """`start()` then `wait()`."""
        await self.start()
        return await self.wait()

    async def close(self, timeout: float = 8.0) -> None:
        """Close the connection and stop reconnecting. Never logs out; safe to call twice."""
        self._connection.stop()
        supervisor = self._supervisor
        if supervisor is not None and not supervisor.done():
            try:
                await asyncio.wait_for(asyncio.shield(supervisor), timeout)
            except TimeoutError:
                logger.warning("connection did not close within {:.0f}s; cancelling", timeout)
                await cancel_and_wait(supervisor, "the connection supervisor")
        await self._media.close()

    async def _run(self) -> DisconnectReason:
        reason = DisconnectReason.closed_by_user()
        try:
            await self.versions.prepare()
            reason = await self._connection.supervise()
        finally:
            # Shutdown order: no new stanzas (the supervisor stopped reading), then the queued message
            # events reach their handlers, then the application hears that we stopped.
            await self._inbox.drain()
            await self._log.flush()  # the handled marks, while the store is still open
            await self.bus.emit(events.Stopped(reason))
        return reason

    @property
    def running(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    @property
    def connected(self) -> bool:
        """Logged in on the current connection."""
        return self._connection.connected

    @property
    def attempts(self) -> int:
        """Connection attempts made by this client (diagnostics)."""
        return self._connection.attempts

    @property
    def history(self) -> deque[tuple[DisconnectReason, Decision]]:
        """(reason, decision) of the most recent ended connections, oldest first (bounded)."""
        return self._connection.history

    # ---- the linked device ----------------------------------------------------------------------------

    async def logout(self) -> DisconnectReason:
        """Unlink this device (the phone stops listing it), close, and clear the stored session (archived
        first by the session stores); the next start pairs anew. Needs a logged-in connection; returns the
        supervisor's final reason. Raises NotPaired, ConnectionGone, IqError or IqTimeout (still linked then)."""
        request = self._linked.removal_request()
        if not self.connected:
            raise ConnectionGone("logout needs a logged-in connection")
        await self._connection.logout(request)
        logger.info("logout acknowledged by the server; clearing the session")
        return await self.wait()

    async def rotate_signed_prekey(self) -> None:
        """Rotate the signed prekey now (whatsapp/spk_rotation.py; the previous one stays in its grace period)."""
        await self._upkeep.rotation.rotate()

    async def account_devices(self) -> list[AccountDevice]:
        """The devices of our account from a fresh usync list (id, platform when known, which one is us)."""
        return await self._linked.devices()

    @property
    def qr_timeouts(self) -> tuple[float, float]:
        return self._pairing.config.qr_timeouts

    # ---- messaging ------------------------------------------------------------------------------------

    async def send_message(self, jid: JID | str, message: e2e_pb2.Message, *,
                           message_id: str | None = None) -> SendResult:
        """Encrypt and send a `Message` to a user (PN or LID) or a group; waits for the server's ack.

        `message_id`: for a message that must be one message however often it is sent (a reply derived from
        the event it answers: `compose.derived_message_id`); a fresh id by default.
        Raises SendError (server refused it, e.g. 463), ConnectionGone (not connected) or IqTimeout.
        """
        if not self.connected:
            raise ConnectionGone("not connected")
        target = JID.parse(jid) if isinstance(jid, str) else jid
        result = await self._sender.send(target, message, message_id)
        self.messages_sent += 1  # acknowledged by the server (the bot's /metrics)
        return result

    async def send_text(self, jid: JID | str, text: str, *, quoted: MessageReceived | None = None,
                        mentions: Sequence[JID] = (), preview: LinkPreview | None = None, expiration: int = 0,
                        message_id: str | None = None) -> SendResult:
        """Send a text; with `quoted`, as a reply quoting that received message (carrying its chat's
        disappearing timer); `mentions`: users named as `@<number>` in the text; `preview`: a link preview
        from the title/description given (nothing is fetched); `expiration`: a disappearing-message timer."""
        message = text_message(text, quoted, mentions, expiration)
        message = with_link_preview(message, preview) if preview is not None else message
        return await self.send_message(jid, message, message_id=message_id)

    # ---- media (whatsapp/media_send.py builds and sends; whatsapp/media_service.py downloads) ------------

    async def send_media(self, jid: JID | str, source: MediaSource, spec: MediaSpec, *,
                         quoted: MessageReceived | None = None, message_id: str | None = None) -> SendResult:
        """Upload `source` (bytes or a file path) and send it as `spec` says; the send_<kind> methods use this.

        Raises MediaUploadError when no media host took it, then what `send_message` raises."""
        target = JID.parse(jid) if isinstance(jid, str) else jid
        return await self._media.sender.send(target, source, spec, quoted, message_id)

    async def send_image(self, jid: JID | str, source: MediaSource, *, caption: str | None = None,
                         quoted: MessageReceived | None = None, view_once: bool = False,
                         mimetype: str | None = None) -> SendResult:
        spec = MediaSpec("image", caption=caption, view_once=view_once, mimetype=mimetype)
        return await self.send_media(jid, source, spec, quoted=quoted)

    async def send_video(self, jid: JID | str, source: MediaSource, *, caption: str | None = None,
                         quoted: MessageReceived | None = None, gif: bool = False, seconds: int | None = None,
                         view_once: bool = False, mimetype: str | None = None) -> SendResult:
        spec = MediaSpec("video", caption=caption, gif=gif, seconds=seconds, view_once=view_once, mimetype=mimetype)
        return await self.send_media(jid, source, spec, quoted=quoted)

    async def send_audio(self, jid: JID | str, source: MediaSource, *, quoted: MessageReceived | None = None,
                         seconds: int | None = None, mimetype: str | None = None) -> SendResult:
        spec = MediaSpec("audio", seconds=seconds, mimetype=mimetype)
        return await self.send_media(jid, source, spec, quoted=quoted)

    async def send_voice(self, jid: JID | str, source: MediaSource, *, quoted: MessageReceived | None = None,
                         seconds: int | None = None, waveform: bytes | None = None,
                         view_once: bool = False) -> SendResult:
        """A voice note (ptt): Ogg Opus audio, shown with a waveform when one is given."""
        spec = MediaSpec("audio", ptt=True, seconds=seconds, waveform=waveform, view_once=view_once)
        return await self.send_media(jid, source, spec, quoted=quoted)

    async def send_document(self, jid: JID | str, source: MediaSource, *, file_name: str | None = None,
                            caption: str | None = None, quoted: MessageReceived | None = None,
                            mimetype: str | None = None) -> SendResult:
        spec = MediaSpec("document", file_name=file_name, caption=caption, mimetype=mimetype)
        return await self.send_media(jid, source, spec, quoted=quoted)

    async def send_sticker(self, jid: JID | str, source: MediaSource, *, quoted: MessageReceived | None = None,
                           animated: bool | None = None) -> SendResult:
        """A WebP sticker; `animated` is read from the file when not given."""
        return await self.send_media(jid, source, MediaSpec("sticker", animated=animated), quoted=quoted)

    async def upload_media(self, source: MediaSource, media_type: str) -> UploadResult:
        """Encrypt and upload a file without sending a message (to build one yourself)."""
        return await self._media.uploader.upload(source, media_type)

    @overload
    async def download_media(self, item: Downloadable, path: None = None, *,
                             max_bytes: int | None = DOWNLOAD_CAP) -> bytes: ...

    @overload
    async def download_media(self, item: Downloadable, path: Path | str, *,
                             max_bytes: int | None = DOWNLOAD_CAP) -> Path: ...

    async def download_media(self, item: Downloadable, path: Path | str | None = None, *,
                             max_bytes: int | None = DOWNLOAD_CAP) -> bytes | Path:
        """Download any media by its keys and path (e.g. a history-sync blob); received messages have
        `await message.download()`, which also recovers expired media through the phone. `max_bytes`:
        this download's cap instead of the client's (`MediaOptions.max_download_bytes`); None for none."""
        return await self._media.downloader.download(item, path, max_bytes=max_bytes)

    async def _download_history(self, item: Downloadable) -> bytes:
        data = await self._media.downloader.download(item)  # no path: the plaintext as bytes
        assert isinstance(data, bytes)
        return data

    # ---- raw stanzas ----------------------------------------------------------------------------------

    async def send_node(self, node: Node) -> None:
        """Send one stanza as is (for protocol features the library does not cover yet)."""
        await self._connection.send_node(node)

    async def query(self, node: Node, timeout: float | None = None) -> Node:
        """Send an IQ and wait for its answer; raises IqError, IqTimeout or ConnectionGone."""
        return await self._connection.query(node, timeout)

    def new_id(self) -> str:
        return self._connection.new_id()

    # ---- wiring -----------------------------------------------------------------------------------------

    async def _on_stanza(self, node: Node) -> None:
        await self._handle(node)

    async def _handle(self, node: Node) -> None:
        """Every stanza the reader decoded, in arrival order (looked up per stanza: tests wrap it)."""
        await self._router.dispatch(node)

    async def _emit_from_inbox(self, event: Event) -> None:
        """The inbox hands events to the application here: media messages learn how to download, and a
        message acting on another one (reaction, edit, revoke, poll vote) is raised typed after the raw one."""
        if isinstance(event, MessageReceived) and (status := as_status(event)) is not None:
            await self.bus.emit(status)  # someone's story: not a chat message for the plugins
            return
        event = self._media.attach(event)
        await self.bus.emit(event)
        if isinstance(event, MessageReceived):
            try:
                derived = await self._interactions.derive(event)
            except WhatsAppError as exc:
                logger.warning("message {}: its interaction could not be read: {}", event.id, exc)
                derived = None
            if derived is not None:
                await self.bus.emit(derived)

    async def _unrouted(self, node: Node) -> None:
        await self.bus.emit(events.NodeReceived(node))

    def _on_connecting(self) -> None:
        self._pairing.reset()

