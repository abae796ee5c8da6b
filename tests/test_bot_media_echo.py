"""The built-in media_echo plugin against a real Baileys client: an image comes back with its dimensions,
byte-identical; a corrupt one gets a short answer and one warning line, and the bot carries on."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from loguru import logger

import plugins.media_echo
from tests.media_support import baileys_with_media, jpeg_header, png, write
from whatsapp.bot import Dispatcher
from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.baileys import HarnessFactory
from whatsapp.testing.harness.peers import paired_python, pn

pytestmark = [pytest.mark.node, pytest.mark.slow]


def test_describe_reads_the_dimensions_from_the_header() -> None:
    assert plugins.media_echo.describe(png(640, 480), "image/png").startswith("640×480 image/png")
    assert plugins.media_echo.describe(jpeg_header(30, 20), None).startswith("30×20 image")
    assert plugins.media_echo.describe(b"garbage", "image/heic").startswith("unknown size image/heic")


async def test_media_echo_sends_the_image_back_with_its_dimensions(
        emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path) -> None:
    bot = await paired_python(emulator, name="py")
    alice = await baileys_with_media(emulator, make_baileys, tmp_path, "alice", "baileys")
    dispatcher = Dispatcher(bot.client)
    dispatcher.include_routers(plugins.media_echo.router)
    dispatcher.attach()
    try:
        image = png(120, 80)
        await alice.command("send_media", jid=pn("py"), kind="image", path=str(write(tmp_path, "i.png", image)),
                                   mimetype="image/png", timeout=60)
        echo = await alice.wait_for("message", lambda e: not e["fromMe"] and (e["media"] or {}).get("kind") == "image",
                                    timeout=30)
        assert echo["media"]["caption"].startswith("120×80 image/png")
        got = await alice.command("download_media", id=echo["id"], path=str(tmp_path / "echo.png"), timeout=60)
        assert got["sha256"] == hashlib.sha256(image).hexdigest()

        # A damaged blob: one warning from the library, a short answer, and the bot still answers the next one.
        lines: list[str] = []
        sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")
        emulator.media.corrupt_next_upload()
        try:
            await alice.command("send_media", jid=pn("py"), kind="image", path=str(write(tmp_path, "j.png", png())),
                                mimetype="image/png", timeout=60)
            answer = await alice.wait_for("message", lambda e: not e["fromMe"] and "could not" in (e["text"] or ""),
                                          timeout=30)
        finally:
            logger.remove(sink)
        assert "MediaIntegrityError" in answer["text"]
        assert sum("MAC" in line for line in lines) == 1, lines
        again = png(7, 9)
        await alice.command("send_media", jid=pn("py"), kind="image", path=str(write(tmp_path, "k.png", again)),
                            mimetype="image/png", timeout=60)
        await alice.wait_for("message", lambda e: not e["fromMe"] and ((e["media"] or {}).get("caption") or "")
                             .startswith("7×9"), timeout=30)
        assert bot.client.connected and dispatcher.failures == 0
    finally:
        await dispatcher.close()
        await bot.close()
