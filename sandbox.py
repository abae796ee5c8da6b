"""`python bot.py --sandbox`: talk to your bot offline, with your own plugins, in one command.

The emulated server runs in this process; the bot (built exactly as bot.py builds it) is linked to it by
the emulated phone, without a QR; you are a contact whose messages are the lines of standard input (a
terminal or a pipe), and what the bot sends you is printed on standard output: text, media as the path of
the saved file, reactions and receipts as short lines. The session lives in a temporary folder removed at
the end and MongoDB is never used, so a sandbox cannot touch a real session.

Slash commands say what a line cannot: `/image PATH`, `/group NAME` (a group with the bot and a second
contact; `/private` goes back), `/help`, `/quit`. End of input ends the sandbox once the bot answered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import mimetypes
import shlex
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from loguru import logger

import storage
from botconfig import BotConfig
from whatsapp import events
from whatsapp.auth import AuthState
from whatsapp.bot import Dispatcher
from whatsapp.client import Client
from whatsapp.errors import WhatsAppError
from whatsapp.jid import JID
from whatsapp.media_http import MediaOptions
from whatsapp.testing.contact import Contact
from whatsapp.testing.server import EmulatedServer

BOT_PHONE, BOT_NAME = "15550000001", "Bot"
YOU_PHONE, YOU_NAME = "15550000002", "You"
FRIEND_PHONE, FRIEND_NAME = "15550000003", "Sam"
QUIET = 0.4  # seconds without output after the bot handled a line: its answer is complete
ANSWER_TIMEOUT = 15.0
HELP = """sandbox commands:
  /image PATH     send an image (also /document PATH)
  /group NAME     talk in a new group with the bot and Sam; /private goes back to the private chat
  /help           this text
  /quit           stop (so does the end of input)
anything else is sent to the bot as a text message"""

BuildBot = Callable[[BotConfig, AuthState, MediaOptions], tuple[Client, Dispatcher]]


def sandbox_config(config: BotConfig, server: EmulatedServer, auth_dir: Path) -> BotConfig:
    """The user's configuration pointed at the in-process emulator, with nothing that reaches outside."""
    return dataclasses.replace(
        config, wa_url=server.url, wa_root_key=server.root_public_key, auth_dir=str(auth_dir), mongodb_uri=None,
        mongodb_db=None, session_encryption_key=None, session_webhook_url=None, phone_number=None,
        wa_version=None, wa_version_url=None, push_name=BOT_NAME,
    )


class Conversation:
    """The contact's side: prints what the bot sends and knows when an answer is complete."""

    def __init__(self, you: Contact, bot_jid: JID, media_dir: Path, out: TextIO) -> None:
        self.you, self.bot_jid, self.media_dir, self.out = you, bot_jid, media_dir, out
        self.names: dict[str, str] = {bot_jid.user: "bot"}  # phone numbers and LIDs (group senders) -> names
        self.chat: JID = bot_jid
        self.groups: dict[JID, str] = {}
        self._last_output = asyncio.get_running_loop().time()
        self._downloads: set[asyncio.Task[None]] = set()
        you.listeners.append(self._on_event)

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
        self._last_output = asyncio.get_running_loop().time()

    def _where(self, chat: JID) -> str:
        name = self.groups.get(chat.to_non_ad())
        return f"[{name}] " if name else ""

    def _on_event(self, event: events.Event) -> None:
        if isinstance(event, events.ReactionReceived):
            what = f"removed its reaction to {event.target_id}" if event.removed else f"reacted {event.emoji}"
            self.say(f"{self._where(event.message.chat)}{self._who(event.message.sender)} {what}")
        elif isinstance(event, events.Receipt) and not event.from_me and event.type in ("delivered", "read"):
            by = f" by {self._who(event.sender)}" if event.is_group else ""
            self.say(f"{self._where(event.chat)}({event.type}{by})")
        elif isinstance(event, events.MessageReceived) and not event.from_me:
            self._on_message(event)

    def _who(self, sender: JID) -> str:
        return self.names.get(sender.user, sender.user)

    def _on_message(self, event: events.MessageReceived) -> None:
        prefix = f"{self._where(event.chat)}{self._who(event.sender)}: "
        media = event.media
        if media is None:
            if event.text is not None:  # protocol messages (keys, receipts of history) carry no text
                self.say(prefix + event.text)
            return
        task = asyncio.create_task(self._save(event, prefix))
        self._downloads.add(task)
        task.add_done_callback(self._downloads.discard)

    async def _save(self, event: events.MessageReceived, prefix: str) -> None:
        media = event.media
        assert media is not None
        suffix = Path(media.file_name).suffix if media.file_name else None
        suffix = suffix or mimetypes.guess_extension(media.mimetype or "") or ".bin"
        try:
            path = await event.download(self.media_dir / f"{event.id}{suffix}")
        except WhatsAppError as exc:
            self.say(f"{prefix}[{media.type}, not downloaded: {exc}]")
            return
        caption = f" {media.caption}" if media.caption else ""
        self.say(f"{prefix}[{media.type}] {path}{caption}")

    async def settle(self, bot_saw: Callable[[], Awaitable[object]], dispatcher: Dispatcher) -> None:
        """Until the bot received what we sent, its handlers finished, and nothing arrived for QUIET seconds."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                await bot_saw()
                await dispatcher.idle()
                while self._downloads or loop.time() - self._last_output < QUIET:
                    if self._downloads:
                        await asyncio.wait(set(self._downloads))
                    await asyncio.sleep(max(0.05, QUIET - (loop.time() - self._last_output)))
        except TimeoutError:
            self.say(f"(no answer within {ANSWER_TIMEOUT:g}s)")


async def _lines(stdin: TextIO) -> asyncio.StreamReader | None:
    """Standard input as a stream (pipes and terminals); None for a regular file, read directly."""
    reader = asyncio.StreamReader()
    try:
        await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    except (ValueError, OSError):
        return None
    return reader


async def _read_line(reader: asyncio.StreamReader | None, stdin: TextIO) -> str | None:
    raw = await reader.readline() if reader is not None else stdin.readline().encode()
    return raw.decode(errors="replace").rstrip("\r\n") if raw else None


class Sandbox:
    """The emulator, the bot and the contacts; `run` reads lines until /quit or the end of input."""

    def __init__(self, config: BotConfig, build: BuildBot, stdin: TextIO, out: TextIO) -> None:
        self.config, self.build, self.stdin, self.out = config, build, stdin, out
        self.friend: Contact | None = None

    async def run(self) -> int:
        with tempfile.TemporaryDirectory(prefix="wa-sandbox-") as tmp:
            async with EmulatedServer() as server:
                return await self._with_server(server, Path(tmp))

    async def _with_server(self, server: EmulatedServer, tmp: Path) -> int:
        bot_account = server.create_account(BOT_PHONE, push_name=BOT_NAME)
        config = sandbox_config(self.config, server, tmp / "auth")
        store = await storage.open_store(storage.StoreConfig(auth_dir=tmp / "auth", session_id=config.session_id))
        await store.acquire_lease()
        client, dispatcher = self.build(config, store, server.media.client_options(
            max_download_bytes=int(config.max_download_mb * 1024 * 1024)))
        received: dict[str, asyncio.Event] = {}

        def seen(event: events.MessageReceived) -> None:
            received.setdefault(event.id, asyncio.Event()).set()

        scans: list[asyncio.Task[object]] = []

        def scan(event: events.QR) -> None:
            if event.index == 0:  # the emulated phone scans at once, well inside the first QR's validity
                scans.append(asyncio.create_task(bot_account.phone.scan_qr(event.code)))

        client.add_handler(events.MessageReceived, seen)
        client.add_handler(events.QR, scan)
        you: Contact | None = None
        ready = asyncio.Event()  # the bot online with its keys published: a contact's first message needs them
        client.add_handler(events.PrekeysUploaded, lambda _: ready.set())
        try:
            await client.start()
            await asyncio.wait_for(ready.wait(), 60)
            you = await Contact.link(server, YOU_PHONE, YOU_NAME)
            # Media the bot sends is kept after the sandbox ends (the session is not): the paths stay openable.
            media_dir = Path(tempfile.mkdtemp(prefix="wa-sandbox-media-"))
            conversation = Conversation(you, JID(BOT_PHONE, "s.whatsapp.net"), media_dir, self.out)
            conversation.names[bot_account.lid] = "bot"
            conversation.say(f"sandbox: you are +{YOU_PHONE}, the bot is +{BOT_PHONE}; /help lists the commands")
            await self._converse(server, conversation, dispatcher, received)
            return 0
        finally:
            await dispatcher.drain(grace=self.config.shutdown_grace)
            await client.close()
            await dispatcher.close(grace=1.0)
            for contact in (you, self.friend):
                if contact is not None:
                    await contact.close()
            await store.close()

    async def _converse(self, server: EmulatedServer, conversation: Conversation, dispatcher: Dispatcher,
                        received: dict[str, asyncio.Event]) -> None:
        reader = await _lines(self.stdin)
        while (line := await _read_line(reader, self.stdin)) is not None:
            if not line.strip():
                continue
            try:
                message_id = await self._line(server, conversation, line)
            except (WhatsAppError, OSError, ValueError) as exc:
                conversation.say(f"(error: {exc})")
                continue
            if message_id == "quit":
                return
            if message_id:
                flag = received.setdefault(message_id, asyncio.Event())
                await conversation.settle(flag.wait, dispatcher)

    async def _line(self, server: EmulatedServer, conversation: Conversation, line: str) -> str | None:
        """Send one line (or run its slash command); the id of the message sent, "quit", or None."""
        you = conversation.you
        if not line.startswith("/") or line.startswith("//"):
            return (await you.client.send_text(conversation.chat, line.removeprefix("/"))).id
        words = shlex.split(line)
        command, args = words[0].lower(), words[1:]
        if command == "/quit":
            return "quit"
        if command in ("/image", "/document") and len(args) == 1:
            path = Path(args[0]).expanduser()
            if command == "/image":
                result = await you.client.send_image(conversation.chat, path)
            else:
                result = await you.client.send_document(conversation.chat, path, file_name=path.name)
            return result.id
        if command == "/group" and args:
            name = " ".join(args)
            if self.friend is None:
                self.friend = await Contact.link(server, FRIEND_PHONE, FRIEND_NAME)
                friend = server.account(FRIEND_PHONE)
                conversation.names.update({friend.phone_number: FRIEND_NAME, friend.lid: FRIEND_NAME})
            group = await you.create_group(name, [conversation.bot_jid, self.friend.jid])
            conversation.groups[group] = name
            conversation.chat = group
            conversation.say(f"[{name}] group created with the bot and {FRIEND_NAME}; /private goes back")
            return None
        if command == "/private":
            conversation.chat = conversation.bot_jid
            return None
        conversation.say(HELP)
        return None


async def run_sandbox(config: BotConfig, build: BuildBot, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    logger.info("sandbox: emulator in this process, throw-away session, no MongoDB")
    return await Sandbox(config, build, stdin, out).run()
