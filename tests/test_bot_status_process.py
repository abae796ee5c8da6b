"""`python bot.py` with STATUS_PORT against the emulator: the pairing page, /healthz, /metrics, the token, !help."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp

from botmetrics import png_matrix, qr_matrix
from botstatus import QR_FILE
from tests.messaging_support import paired_python
from tests.test_bot_process import ONLINE, PHONE, QR_LINE, bot_env, bots, launch, server, stop_gracefully
from whatsapp.events import MessageReceived
from whatsapp.testing import EmulatedServer

__all__ = ["bot_env", "bots", "server"]  # the fixtures, shared with tests/test_bot_process.py
TOKEN = "t0ken-for-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metric(text: str, name: str) -> float:
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(f"{name} ")))


async def test_status_page_during_pairing_and_after_login_and_help(
    server: EmulatedServer, bot_env: dict[str, str], bots: list, tmp_path: Path  # type: ignore[type-arg]
) -> None:
    port = free_port()
    bot = await launch(bots, {**bot_env, "STATUS_PORT": str(port), "STATUS_TOKEN": TOKEN})
    logged_qr = (await bot.wait_line(QR_LINE)).group(3)
    await bot.wait_line("status page on")
    assert TOKEN not in "\n".join(bot.lines)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 401
        for _ in range(50):  # the page shows the QR of the log (or the next one, 20 s later)
            async with http.get(f"{base}/", params={"token": TOKEN}) as response:
                page = await response.text()
            if 'data-code="' in page:
                break
            await asyncio.sleep(0.1)
        shown = page.split('data-code="')[1].split('"')[0]
        assert shown == logged_qr and 'http-equiv="refresh"' in page
        async with http.get(f"{base}/qr.png", headers=auth) as response:
            assert png_matrix(await response.read()) == qr_matrix(logged_qr)
        qr_file = Path(bot_env["AUTH_DIR"]) / "test" / QR_FILE
        assert png_matrix(qr_file.read_bytes()) == qr_matrix(logged_qr)
        async with http.get(f"{base}/healthz", headers=auth) as response:
            assert response.status == 200 and (await response.json())["status"] == "pairing"

        await server.account(PHONE).phone.scan_qr(logged_qr)
        await bot.wait_line(ONLINE)
        await bot.wait_line("uploaded 812 prekeys")
        async with http.get(f"{base}/healthz", headers=auth) as response:
            health = await response.json()
            assert response.status == 200 and health["status"] == "connected" and health["connected"] is True
            assert health["session"] == "test" and health["version"] and health["uptime"] > 0
        assert not qr_file.exists()
        async with http.get(f"{base}/metrics", headers=auth) as response:
            before = await response.text()

        alice = await paired_python(server, name="alice")
        try:
            await alice.client.send_text(f"{PHONE}@s.whatsapp.net", "!ping")
            await alice.wait(MessageReceived, lambda e: e.text == "pong", timeout=15)
            await alice.client.send_text(f"{PHONE}@s.whatsapp.net", "!help")
            listing = await alice.wait(MessageReceived, lambda e: (e.text or "").startswith("Commands:"), timeout=15)
            assert "!ping — Answers pong: the bot is alive." in (listing.text or "")
        finally:
            await alice.close()
        async with http.get(f"{base}/metrics", headers=auth) as response:
            after = await response.text()
        for name in ("wabot_messages_received_total", "wabot_messages_sent_total", "wabot_handler_seconds_count"):
            assert metric(after, name) >= metric(before, name) + 2, name
        assert metric(after, "wabot_up") == 1
    await stop_gracefully(bot)
