"""The bot side of messaging: plugins answering real Baileys clients, isolation of failing plugins, and the
dispatcher's guarantees (per-chat order, bounded concurrency, timeouts, stale backlog commands)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import plugins
from plugins import CommandHandler, Context, Dispatcher, F, MessageHandler
from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import PEOPLE, paired_baileys, paired_python, pn
from tests.test_bot_process import QR_LINE, BotProcess, stop_gracefully
from whatsapp.jid import JID
from whatsapp.messages import MessageReceived
from whatsapp.proto import e2e_pb2
from whatsapp.testing import EmulatedServer


def ping_handler() -> CommandHandler:
    import plugins.ping

    return next(c for c in plugins.registered_commands() if c.plugin == "ping" and c.name == "ping")


def received(text: str, chat: str = "1@s.whatsapp.net", *, group: bool = False, from_me: bool = False,
             age: float = 0.0, message_id: str = "X") -> MessageReceived:
    message = e2e_pb2.Message(conversation=text)
    chat_jid = JID.parse(chat)
    return MessageReceived(chat=chat_jid, sender=JID("1", "s.whatsapp.net", 2), id=message_id,
                           timestamp=int(time.time() - age), push_name=None, from_me=from_me, is_group=group,
                           offline=age > 0, message=message)


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None]] = []

    async def send_text(self, jid: object, text: str, *, quoted: MessageReceived | None = None) -> None:
        self.sent.append((str(jid), text, quoted.id if quoted else None))

    def add_handler(self, *args: object) -> None:
        pass


# ---- the dispatcher on its own (no network) ----------------------------------------------------------------


async def test_commands_filters_and_prefixes() -> None:
    client = FakeClient()
    seen: list[str] = []

    async def links(ctx: Context) -> None:
        seen.append(f"link:{ctx.text}")

    async def echo(ctx: Context) -> None:
        await ctx.send(" ".join(ctx.args))

    dispatcher = Dispatcher(
        client,
        [ping_handler(), CommandHandler("t", "echo", ("say",), echo, prefixes=("/",))],
        [MessageHandler("t", links, F.text & F.group & F.regex(r"https?://") & ~F.from_me)],
        prefixes=("!", "."),
    )
    await dispatcher.process(received("!ping", message_id="a"))
    await dispatcher.process(received(".PING", message_id="b"))
    await dispatcher.process(received("ping", message_id="c"))  # no prefix
    await dispatcher.process(received("/say hello there"))
    await dispatcher.process(received("!say not with this prefix"))
    await dispatcher.process(received("see https://x.example", "1-2@g.us", group=True))
    await dispatcher.process(received("see https://x.example", "3@s.whatsapp.net"))  # private: filtered out
    await dispatcher.process(received("!ping", from_me=True))  # our own message: ignored
    assert client.sent == [("1@s.whatsapp.net", "pong", "a"), ("1@s.whatsapp.net", "pong", "b"),
                           ("1@s.whatsapp.net", "hello there", None)]
    assert seen == ["link:see https://x.example"]


async def test_stale_backlog_commands_are_skipped_unless_allowed() -> None:
    client = FakeClient()
    ran: list[str] = []

    async def fresh_only(ctx: Context) -> None:
        ran.append("fresh_only")

    async def any_age(ctx: Context) -> None:
        ran.append("any_age")

    dispatcher = Dispatcher(client, [CommandHandler("t", "a", (), fresh_only), CommandHandler("t", "b", (), any_age,
                                                                                             allow_stale=True)],
                            stale_after=60)
    await dispatcher.process(received("!a", age=600))
    await dispatcher.process(received("!b", age=600))
    await dispatcher.process(received("!a", age=5))
    assert ran == ["any_age", "fresh_only"]


async def test_per_chat_order_bounded_concurrency_and_timeouts() -> None:
    client = FakeClient()
    order: list[str] = []
    running = 0
    peak = 0

    async def slow(ctx: Context) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(0.05 if ctx.text != "hang" else 10)
        finally:
            running -= 1
        order.append(f"{ctx.chat.user}:{ctx.text}")

    dispatcher = Dispatcher(client, [], [MessageHandler("t", slow)], max_concurrency=2, handler_timeout=0.3)
    for chat in ("1", "2", "3"):
        for i in range(3):
            dispatcher.feed(received(str(i), f"{chat}@s.whatsapp.net"))
    dispatcher.feed(received("hang", "4@s.whatsapp.net"))
    dispatcher.feed(received("after", "4@s.whatsapp.net"))
    await asyncio.wait_for(dispatcher.idle(), 5)
    for chat in ("1", "2", "3"):
        assert [o for o in order if o.startswith(f"{chat}:")] == [f"{chat}:0", f"{chat}:1", f"{chat}:2"]
    assert peak == 2
    assert "4:after" in order and "4:hang" not in order  # the hung handler was cut off, the chat went on
    assert dispatcher.failures == 1


# ---- against real Baileys clients --------------------------------------------------------------------------


@pytest.mark.node
@pytest.mark.slow
async def test_ping_answers_by_pn_and_by_lid_and_survives_a_broken_plugin(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")

    async def broken_command(ctx: Context) -> None:
        raise RuntimeError("plugin bug")

    async def broken_watcher(ctx: Context) -> None:
        raise RuntimeError("another plugin bug")

    dispatcher = plugins.attach(
        py.client, [],
        commands=[ping_handler(), CommandHandler("broken", "crash", (), broken_command)],
        message_handlers=[MessageHandler("broken", broken_watcher, F.text)],
    )
    try:
        py_lid = f"{emulator.account(PEOPLE['py'][0]).lid}@lid"
        for target in (pn("py"), py_lid, pn("py")):
            await alice.command("send_text", jid=target, text="!crash")
            asked = (await alice.command("send_text", jid=target, text="!ping"))["id"]
            await py.message(asked)
            answer = await alice.wait_for("message", lambda e: e["text"] == "pong" and not e["fromMe"])
            assert answer["from"].split("@")[0] in (PEOPLE["py"][0], emulator.account(PEOPLE["py"][0]).lid)
        assert dispatcher.failures >= 6  # each "!crash" and each watcher call failed, in isolation

        # In a group the answer goes to the group, quoting the question.
        gid = (await alice.command("create_group", subject="Bots", participants=[pn("py")]))["id"]
        asked = (await alice.command("send_text", jid=gid, text="!ping"))["id"]
        await py.message(asked)
        answer = await alice.wait_for("message", lambda e: e["text"] == "pong" and e["from"] == gid)
        assert not answer["fromMe"]
        assert py.client.connected and not py.failures
    finally:
        await dispatcher.close()
        await py.close()


@pytest.mark.node
@pytest.mark.slow
async def test_bot_process_answers_ping(emulator: EmulatedServer, make_baileys: HarnessFactory,
                                        tmp_path: Path) -> None:
    import os

    phone = PEOPLE["py"][0]
    emulator.create_account(phone, push_name="Bot")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "MONGODB", "SESSION_", "PHONE_NUMBER",
                                                                    "BOT_"))}
    env.update(WA_URL=emulator.url, WA_ROOT_KEY=emulator.root_public_key.hex(), AUTH_DIR=str(tmp_path / "bot"),
               SESSION_ID="test", LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    bot = await BotProcess(env).start()
    try:
        qr = (await bot.wait_line(QR_LINE)).group(3)
        await emulator.account(phone).phone.scan_qr(qr)
        await bot.wait_line("uploaded 812 prekeys")
        alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
        asked = (await alice.command("send_text", jid=pn("py"), text="!ping"))["id"]
        answer = await alice.wait_for("message", lambda e: e["text"] == "pong" and not e["fromMe"], timeout=20)
        assert answer["from"].split("@")[0] in (phone, emulator.account(phone).lid)
        await alice.wait_for("update", lambda e: e["id"] == asked and (e["status"] or 0) >= 3)
        await bot.wait_line(f"message {asked} received")
        await bot.wait_line("sent to")
        assert not any("!ping" in line for line in bot.lines)  # no message body at INFO
        await stop_gracefully(bot)
    finally:
        await bot.kill()


def test_bot_config_reads_the_dispatcher_settings() -> None:
    from botconfig import BotConfig, ConfigError

    config = BotConfig.from_env({"BOT_PREFIXES": "! /", "BOT_STALE_AFTER": "60", "BOT_MAX_CONCURRENCY": "3",
                                 "BOT_HANDLER_TIMEOUT": "2.5"})
    assert config.command_prefixes == ("!", "/") and config.stale_after == 60
    assert config.max_concurrency == 3 and config.handler_timeout == 2.5
    assert BotConfig.from_env({}).command_prefixes == ("!",)
    for bad in ({"BOT_STALE_AFTER": "soon"}, {"BOT_MAX_CONCURRENCY": "0"}, {"BOT_PREFIXES": "toolong"}):
        with pytest.raises(ConfigError) as error:
            BotConfig.from_env(bad)
        assert error.value.variable == next(iter(bad))
