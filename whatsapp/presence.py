"""Our presence and push name, and what follows from them (docs/protocol.md §Presence and push name).

- The push name is what contacts see as our name. It is learned from the account (our own messages from
  other devices carry it as `notify`, as Baileys `src/Socket/chats.ts` reads it; history sync lists it,
  whatsapp/history.py; app state later), kept in `Credentials.push_name`; a configured one (WA_PUSH_NAME)
  overrides it. It never goes into the ClientPayload.
- `<presence type="available|unavailable" name=…>` is sent only with a name: without one contacts see
  "-", and neither reference client sends it (Baileys `sendPresenceUpdate`, whatsmeow `presence.go`).
  It is sent after login and again when a name is first learned.
- `<ib><unified_session id/></ib>` after login, after pairing and with every "available" (Baileys
  `src/Socket/socket.ts`, whatsmeow `client.go`): the id is the server's time in ms plus 3 days, modulo a week.
- Delivery receipts are `type="inactive"` while we are not available (whatsmeow `receipt.go`
  sendMessageReceipt, Baileys `messages-recv.ts`): `receipts_active()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable

from loguru import logger

from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.context import Context
from whatsapp.errors import ConnectionGone, SocketClosed
from whatsapp.events import MessageReceived

WEEK_MS = 7 * 24 * 3600 * 1000
UNIFIED_OFFSET_MS = 3 * 24 * 3600 * 1000
PRESENCE_TYPES = ("available", "unavailable")


def unified_session_id(server_ms: int) -> str:
    return str((server_ms + UNIFIED_OFFSET_MS) % WEEK_MS)


def unified_session_node(server_ms: int) -> Node:
    return Node("ib", {}, [Node("unified_session", {"id": unified_session_id(server_ms)})])


def presence_node(kind: str, name: str) -> Node:
    # '@' would make the name read as a JID (Baileys strips it the same way).
    attrs: dict[str, AttrValue] = {"name": name.replace("@", ""), "type": kind}
    return Node("presence", attrs)


def server_offset(node: Node, wall: float) -> float:
    """Seconds the server's clock (`t` of `<success>`/`<pair-success>`) is ahead of ours; 0 when unknown."""
    t = node.attr_int("t")
    return float(t) - wall if t is not None and t > 0 else 0.0


class Presence:
    """`wanted`: the presence to announce after login ("available", "unavailable" or None for none);
    `override`: a configured push name that wins over the learned one."""

    def __init__(self, ctx: Context, wanted: str | None = "available", override: str | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.wanted = wanted if wanted in PRESENCE_TYPES else None
        self.override = override or None
        self._wall = wall
        self.offset = 0.0  # server clock minus ours, in seconds
        self.available = False  # the last presence we sent said available
        self._announced = False  # this connection sent its presence
        self._logged_in = False  # a connection logged in (and `announce` ran or runs)
        self._warned = False

    @property
    def push_name(self) -> str | None:
        return self.override or self.ctx.auth.creds.push_name

    def receipts_active(self) -> bool:
        return self.available

    def server_ms(self) -> int:
        return int((self._wall() + self.offset) * 1000)

    def on_login(self, success: Node) -> None:
        """A new connection logged in: nothing announced on it yet."""
        self.offset = server_offset(success, self._wall())
        self.available = False
        self._announced = False
        self._logged_in = True

    async def announce(self) -> None:
        """After login: unified_session, then our presence if we have a name to send it with."""
        await self.ctx.send(unified_session_node(self.server_ms()))
        await self._send_presence()

    async def _send_presence(self) -> None:
        if self.wanted is None or self._announced:
            return
        name = self.push_name
        if not name:
            if not self._warned:
                self._warned = True
                logger.warning("no push name known yet: presence not sent and receipts stay inactive until one "
                               "is learned (set WA_PUSH_NAME to choose one)")
            return
        if self.wanted == "available":
            await self.ctx.send(unified_session_node(self.server_ms()))
        await self.ctx.send(presence_node(self.wanted, name))
        self._announced = True
        self.available = self.wanted == "available"
        logger.debug("presence {} sent as {!r}", self.wanted, name)

    async def set(self, kind: str) -> None:
        """Announce `kind` ("available" or "unavailable") now, and after every later login."""
        if kind not in PRESENCE_TYPES:
            raise ValueError(f"presence must be one of {', '.join(PRESENCE_TYPES)}, got {kind!r}")
        self.wanted = kind
        self._announced = False
        await self._send_presence()

    async def learn_push_name(self, name: str) -> None:
        """Our push name as the account says it is: stored, and the presence sent if it was waiting for one."""
        auth = self.ctx.auth
        if not name or name == auth.creds.push_name or not auth.creds.paired:
            return
        async with self.ctx.locks.creds, auth.transaction() as tx:
            tx.set_creds(dataclasses.replace(auth.creds, push_name=name))
        logger.info("push name learned from the account")
        if self._logged_in and not self._announced:
            with contextlib.suppress(ConnectionGone, SocketClosed):  # the next login announces it
                await self._send_presence()

    async def on_message(self, event: MessageReceived) -> None:
        """Our own messages from other devices carry our push name as `notify`."""
        if event.from_me and event.push_name:
            await self.learn_push_name(event.push_name)
