"""The bot side of messaging: plugins answering real Baileys clients, and isolation of failing plugins.
(The dispatcher's own guarantees are tested without a network in tests/test_bot_dispatcher.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import plugins.ping
from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import PEOPLE, paired_baileys, paired_python, pn
from tests.test_bot_process import QR_LINE, BotProcess, stop_gracefully
from whatsapp.bot import Context, Dispatcher, F, Router
from whatsapp.testing import EmulatedServer

# ---- against real Baileys clients --------------------------------------------------------------------------


@pytest.mark.node
@pytest.mark.slow
async def test_ping_answers_by_pn_and_by_lid_and_survives_a_broken_plugin(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")

    broken = Router(name="broken")

    @broken.command("crash")
    async def broken_command(ctx: Context) -> None:
        raise RuntimeError("plugin bug")

    @broken.message(F.text)
    async def broken_watcher(ctx: Context) -> None:
        raise RuntimeError("another plugin bug")

    dispatcher = Dispatcher(py.client)
    dispatcher.include_routers(plugins.ping.router, broken)
    dispatcher.attach()
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
