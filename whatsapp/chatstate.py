"""Typing indicators and contacts' presence, both ways (whatsmeow `presence.go`, Baileys `src/Socket/chats.ts`).

- Out: `<chatstate to=CHAT><composing/></chatstate>`, `<composing media="audio"/>` for recording a voice
  note, `<paused/>` when we stop. The apps drop a composing state after about 25 s without a new one, so a
  long `typing()` block repeats it every REFRESH seconds.
- Out: `<presence type="subscribe" to=USER>` (with the contact's `<tctoken>` when we hold one) asks the
  server for that user's presence; our own available/unavailable is whatsapp/presence.py.
- In: `<chatstate from=USER|GROUP [participant]><composing|paused/></chatstate>` and `<presence from
  [type="unavailable"] [last]>` become `PresenceUpdate` events (state composing, recording, paused,
  available, unavailable). Neither stanza is acknowledged (neither reference client acks them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from loguru import logger

from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.errors import TransportError
from whatsapp.events import PresenceUpdate
from whatsapp.jid import JID
from whatsapp.router import Route, StanzaRouter

CHAT_STATES = ("composing", "recording", "paused")
REFRESH = 10.0  # seconds between composing repeats while a typing() block runs
Tokens = Callable[[JID], Awaitable[list[Node]]]


def chatstate_node(chat: JID, state: str) -> Node:
    if state not in CHAT_STATES:
        raise ValueError(f"chat state must be one of {', '.join(CHAT_STATES)}, got {state!r}")
    child = Node("composing", {"media": "audio"}) if state == "recording" else Node(state, {})
    return Node("chatstate", {"to": chat.to_non_ad()}, [child])


def parse_chatstate(node: Node) -> PresenceUpdate | None:
    source = node.try_attr_jid("from")
    if source is None or len(node.children) != 1:
        return None
    child = node.children[0]
    state = "recording" if child.tag == "composing" and child.attr_str("media") == "audio" else child.tag
    sender = node.try_attr_jid("participant") if source.is_group else source
    return PresenceUpdate(source.to_non_ad(), sender or source, state, None, node)


def parse_presence(node: Node) -> PresenceUpdate | None:
    source = node.try_attr_jid("from")
    if source is None:
        return None
    last = node.attr_str("last")
    last_seen = int(last) if last and last.isdigit() else None
    state = "unavailable" if node.attr_str("type") == "unavailable" else "available"
    return PresenceUpdate(source.to_non_ad(), source, state, last_seen, node)


class ChatPresence:
    def __init__(self, ctx: Context, tokens: Tokens | None = None, refresh: float = REFRESH) -> None:
        self.ctx = ctx
        self.tokens = tokens
        self.refresh = refresh

    def install(self, router: StanzaRouter) -> None:
        router.add(Route("chatstate", self.on_chatstate))
        router.add(Route("presence", self.on_presence))

    async def on_chatstate(self, node: Node) -> None:
        event = parse_chatstate(node)
        if event is None:
            logger.debug("chat state without sender or state: {}", node)
            return
        await self.ctx.emit(event)

    async def on_presence(self, node: Node) -> None:
        event = parse_presence(node)
        if event is not None:
            await self.ctx.emit(event)

    async def send_state(self, chat: JID, state: str) -> None:
        await self.ctx.send(chatstate_node(chat, state))

    async def subscribe(self, jid: JID) -> None:
        user = jid.to_non_ad()
        tokens = [n for n in await self.tokens(user) if n.tag == "tctoken"] if self.tokens and user.is_user else []
        await self.ctx.send(Node("presence", {"type": "subscribe", "to": user}, tokens or None))

    @contextlib.asynccontextmanager
    async def typing(self, chat: JID, state: str = "composing") -> AsyncIterator[None]:
        """Composing (or recording) in `chat` while the block runs, repeated every `refresh` s; paused after.

        A lost connection never fails the block: the indicator is a courtesy, the work is what counts."""
        async def keep() -> None:
            while True:
                await self.send_state(chat, state)
                await asyncio.sleep(self.refresh)

        task = asyncio.create_task(keep(), name=f"typing {chat}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TransportError):
                await task
            with contextlib.suppress(TransportError):
                await self.send_state(chat, "paused")
