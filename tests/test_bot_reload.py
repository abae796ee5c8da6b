"""SIGHUP reloads the plugins of `python bot.py` on the same connection: an edited plugin answers anew, the
emulator sees no new login, and a plugin that no longer imports keeps the previous set (one log line)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from loguru import logger

from tests.messaging_support import paired_python
from tests.test_bot_process import ONLINE, PHONE, QR_LINE, bot_env, bots, launch, server, stop_gracefully
from whatsapp.events import MessageReceived
from whatsapp.testing import EmulatedServer

__all__ = ["bot_env", "bots", "server"]  # the fixtures, shared with tests/test_bot_process.py

PLUGIN = '''
from whatsapp.bot import Context, Router

router = Router()


@router.command("ver")
async def ver(ctx: Context) -> None:
    """Which version of this plugin runs."""
    await ctx.reply({reply!r})
'''


async def test_sighup_reloads_an_edited_plugin_without_a_new_login_and_keeps_the_old_set_on_failure(
    server: EmulatedServer, bot_env: dict[str, str], bots: list, tmp_path: Path  # type: ignore[type-arg]
) -> None:
    package = tmp_path / "hotplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    plugin = package / "hot.py"
    plugin.write_text(PLUGIN.format(reply="first"))
    path = os.pathsep.join(p for p in (str(tmp_path), bot_env.get("PYTHONPATH", "")) if p)
    logins: list[str] = []
    sink = logger.add(lambda m: logins.append(m.record["message"]), level="INFO",
                      filter=lambda r: " logged in" in r["message"] and r["message"].startswith("emulator:"))
    try:
        bot = await launch(bots, {**bot_env, "PYTHONPATH": path, "BOT_PLUGINS": "plugins hotplugins"})
        await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
        await bot.wait_line("uploaded 812 prekeys")
        alice = await paired_python(server, name="alice")
        to = f"{PHONE}@s.whatsapp.net"
        try:
            await alice.client.send_text(to, "!ver")
            await alice.wait(MessageReceived, lambda e: e.text == "first", timeout=15)
            bot_logins = len([line for line in logins if PHONE in line])

            plugin.write_text(PLUGIN.format(reply="the second version"))  # another size: the .pyc is stale
            mark = len(bot.lines)
            bot.send_signal(signal.SIGHUP)
            await bot.wait_line("plugins reloaded: .*hot", start=mark)
            await alice.client.send_text(to, "!ver")
            await alice.wait(MessageReceived, lambda e: e.text == "the second version", timeout=15)
            await alice.client.send_text(to, "!ping")  # the other plugins were reloaded too, and still answer
            await alice.wait(MessageReceived, lambda e: e.text == "pong", timeout=15)

            plugin.write_text("this is not python (\n")
            mark = len(bot.lines)
            bot.send_signal(signal.SIGHUP)
            failed = await bot.wait_line("plugin reload failed", start=mark)
            assert "plugin hot: SyntaxError" in failed.string
            await asyncio.sleep(0.3)
            assert "Traceback" not in "\n".join(bot.lines[mark:]), bot.tail()
            await alice.client.send_text(to, "!ver")
            await alice.wait(MessageReceived, lambda e: e.text == "the second version", timeout=15)
        finally:
            await alice.close()
        assert len([line for line in logins if PHONE in line]) == bot_logins, logins
        assert sum(ONLINE in line for line in bot.lines) == 1, bot.tail()
        await stop_gracefully(bot)
    finally:
        logger.remove(sink)
