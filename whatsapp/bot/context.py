"""What a handler gets: the event, the client, per-router state, data from middlewares, ways to answer.

Every handler takes one argument. A command or message handler gets a `Context` (the message, the
parsed command, `reply`/`send`); a `router.on(EventType)` handler gets an `EventContext[EventType]`.

`ctx.state` is a dict private to the handler's router within one Dispatcher (so two bots in one
process never see each other's state, and a reloaded plugin keeps its state: it is keyed by the
router's name). `ctx.chat_state` and `ctx.user_state` are the same per chat and per user (the account,
whichever device wrote): in memory, at most `Scopes.MAX_KEYS` chats (or users) per router, the least
recently used forgotten first; with `install(..., state_store=)` (bot.py) also in the session store, read
before and written after the handlers (whatsapp/bot/persist.py). `ctx.data` is filled by middlewares for
the handlers they wrap, as aiogram's data.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar, overload

from whatsapp.compose import derived_message_id
from whatsapp.events import Event, MessageReceived
from whatsapp.jid import JID
from whatsapp.media_message import MediaInfo
from whatsapp.media_send import MediaSpec
from whatsapp.messages import SendResult
from whatsapp.upload import MediaSource

if TYPE_CHECKING:  # for annotations only: at run time a handler uses nothing but the methods it calls
    from whatsapp.client import Client

E_co = TypeVar("E_co", bound=Event, covariant=True)


class Scopes:
    """Per-Dispatcher state: one dict per owner (a router's name, a middleware object)."""

    MAX_KEYS = 10_000  # chats (or users) kept per owner: a bot in many chats stays bounded

    def __init__(self) -> None:
        self._scopes: dict[Hashable, dict[str, object]] = {}
        self._keyed: dict[Hashable, OrderedDict[str, dict[str, object]]] = {}

    def get(self, owner: Hashable) -> dict[str, object]:
        return self._scopes.setdefault(owner, {})

    def keyed(self, owner: Hashable, key: str) -> dict[str, object]:
        """The dict of `key` (a chat, a user) for `owner`; the least recently used key goes beyond MAX_KEYS."""
        entries = self._keyed.setdefault(owner, OrderedDict())
        if key in entries:
            entries.move_to_end(key)
            return entries[key]
        entries[key] = {}
        while len(entries) > self.MAX_KEYS:
            entries.popitem(last=False)
        return entries[key]

    def holders(self, kind: str, key: str) -> dict[str, dict[str, object]]:
        """Every router's dict of `key` for `kind` ("chat", "user") held in memory now, by router name;
        creates none (what the persistent state saves after a handler)."""
        return {owner[1]: entries[key] for owner, entries in self._keyed.items()
                if isinstance(owner, tuple) and len(owner) == 2 and owner[0] == kind and key in entries}


@dataclass(slots=True, eq=False)
class EventContext(Generic[E_co]):
    """An event on its way to a `router.on` handler."""

    client: Client
    event: E_co
    scopes: Scopes = field(default_factory=Scopes)
    router: str = ""  # name of the router whose handler (or middleware) runs
    data: dict[str, object] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, object]:
        """This router's state in this Dispatcher."""
        return self.scopes.get(("router", self.router))


@dataclass(slots=True, eq=False)
class Context(EventContext[MessageReceived]):
    """A received message on its way to a command or message handler."""

    command: str | None = None  # the command in the message, as typed (lower case); None when it holds none
    args: list[str] = field(default_factory=list)  # words after the command
    prefix: str | None = None  # the prefix the command was typed with
    # Messages sent in answer to this event so far, shared by every handler's copy of the context: the n-th
    # one gets the id derived from (event, n), so answering again after a crash is the same message.
    answers: list[int] = field(default_factory=lambda: [0])

    @property
    def text(self) -> str | None:
        return self.event.text

    @property
    def chat_state(self) -> dict[str, object]:
        """This router's state for this chat (bounded; persisted when the bot has a state store)."""
        return self.scopes.keyed(("chat", self.router), str(self.event.chat.to_non_ad()))

    @property
    def user_state(self) -> dict[str, object]:
        """This router's state for the sender's account, in any chat (bounded; persisted likewise)."""
        return self.scopes.keyed(("user", self.router), f"{self.event.sender.user}@{self.event.sender.server}")

    @property
    def chat(self) -> JID:
        return self.event.chat

    @property
    def sender(self) -> JID:
        return self.event.sender

    def answer_id(self) -> str:
        """The id of the next message sent in answer to this event (whatsapp/compose.py derived_message_id)."""
        event = self.event
        n = self.answers[0]
        self.answers[0] = n + 1
        return derived_message_id(event.stable_id or f"{event.chat}|{event.sender}|{event.id}", n)

    async def reply(self, text: str) -> SendResult:
        """Answer in the same chat, quoting the message."""
        return await self.client.send_text(self.event.chat, text, quoted=self.event, message_id=self.answer_id())

    def typing(self, state: str = "composing") -> AbstractAsyncContextManager[None]:
        """`async with ctx.typing(): ...`: "typing…" (or "recording" a voice note) in this chat while it runs."""
        return self.client.typing(self.event.chat, state)

    async def react(self, emoji: str) -> SendResult:
        """React to the message with `emoji` ("" removes the reaction)."""
        return await self.client.send_reaction(self.event, emoji)

    async def send(self, text: str, to: JID | str | None = None) -> SendResult:
        """Send a plain message to this chat (or to `to`)."""
        return await self.client.send_text(to if to is not None else self.event.chat, text,
                                           message_id=self.answer_id())

    # ---- media (whatsapp/media_send.py, whatsapp/media_service.py) ----------------------------------

    @property
    def media(self) -> MediaInfo | None:
        """The message's attachment (type, mimetype, size, caption, ...), or None."""
        return self.event.media

    @overload
    async def download(self, path: None = None) -> bytes: ...

    @overload
    async def download(self, path: Path | str) -> Path: ...

    async def download(self, path: Path | str | None = None) -> bytes | Path:
        """The attachment, checked and decrypted (bytes, or written to `path`); over BOT_MAX_DOWNLOAD_MB it
        raises MediaTooLarge, like every failure a `whatsapp.errors.MediaError`."""
        return await self.event.download(path)

    async def reply_media(self, source: MediaSource, spec: MediaSpec) -> SendResult:
        """Answer with a file (bytes or a path) in the same chat, quoting the message."""
        return await self.client.send_media(self.event.chat, source, spec, quoted=self.event,
                                            message_id=self.answer_id())

    async def reply_image(self, source: MediaSource, caption: str | None = None, *,
                          view_once: bool = False) -> SendResult:
        return await self.reply_media(source, MediaSpec("image", caption=caption, view_once=view_once))

    async def reply_video(self, source: MediaSource, caption: str | None = None, *, gif: bool = False) -> SendResult:
        return await self.reply_media(source, MediaSpec("video", caption=caption, gif=gif))

    async def reply_audio(self, source: MediaSource, *, voice: bool = False) -> SendResult:
        """Audio; `voice=True` sends it as a voice note (Ogg Opus)."""
        return await self.reply_media(source, MediaSpec("audio", ptt=voice))

    async def reply_document(self, source: MediaSource, file_name: str | None = None,
                             caption: str | None = None) -> SendResult:
        return await self.reply_media(source, MediaSpec("document", file_name=file_name, caption=caption))

    async def reply_sticker(self, source: MediaSource) -> SendResult:
        return await self.reply_media(source, MediaSpec("sticker"))
