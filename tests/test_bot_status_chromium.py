"""The pairing page in a real browser: Debian's headless Chromium screenshots `/` while `python bot.py` pairs
with the emulator; the QR read out of the screenshot's pixels is the QR of the string the bot logged.

scripts/test.sh installs Chromium when it is missing (and it can); without it this test fails, never skips:
the issue asks for the page as a browser renders it, not as the HTML says."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp

from botmetrics import qr_matrix
from tests.png_support import decode, qr_modules
from tests.test_bot_process import ONLINE, PHONE, QR_LINE, bot_env, bots, launch, server, stop_gracefully
from tests.test_bot_status_process import TOKEN, free_port
from whatsapp.testing import EmulatedServer

__all__ = ["bot_env", "bots", "server"]  # the fixtures, shared with tests/test_bot_process.py


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, ("chromium is not installed: `apt-get install -y --no-install-recommends chromium` "
                   "(scripts/test.sh does it when run as root)")
    return found


async def screenshot(url: str, out: Path, profile: Path) -> bytes:
    process = await asyncio.create_subprocess_exec(
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={profile}", f"--screenshot={out}", "--window-size=800,700", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0 and out.exists(), err.decode(errors="replace")[-2000:]
    return out.read_bytes()


def parse_metrics(text: str) -> dict[str, float]:
    """The Prometheus text format, strictly: every line a comment (# HELP / # TYPE) or `name[{labels}] value`."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.split()[1] in ("HELP", "TYPE"), line
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


async def test_headless_chromium_shows_the_logged_qr_then_the_connected_state(
    server: EmulatedServer, bot_env: dict[str, str], bots: list, tmp_path: Path  # type: ignore[type-arg]
) -> None:
    chromium()
    port = free_port()
    bot = await launch(bots, {**bot_env, "STATUS_PORT": str(port), "STATUS_TOKEN": TOKEN})
    await bot.wait_line(QR_LINE)
    await bot.wait_line("status page on")
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz", headers=auth) as response:
            assert response.status == 200 and (await response.json())["status"] == "pairing"

        image = decode(await screenshot(f"{base}/?token={TOKEN}", tmp_path / "pairing.png", tmp_path / "profile"))
        # The page shows the QR current when it was served: the logged one, or the next (20 s later).
        logged = [QR_LINE.search(line) for line in bot.lines]
        codes = [match.group(3) for match in logged if match]
        size = len(qr_matrix(codes[0], border=0))
        shown = qr_modules(image, size)
        assert any(shown == qr_matrix(code, border=0) for code in codes), "the screenshot's QR is none logged"
        code = next(code for code in codes if shown == qr_matrix(code, border=0))

        await server.account(PHONE).phone.scan_qr(code)
        await bot.wait_line(ONLINE)
        await bot.wait_line("uploaded 812 prekeys")
        async with http.get(f"{base}/healthz", headers=auth) as response:
            health = await response.json()
            assert response.status == 200 and health["status"] == "connected" and health["connected"] is True
        connected = decode(await screenshot(f"{base}/?token={TOKEN}", tmp_path / "online.png", tmp_path / "profile"))
        try:
            qr_modules(connected, size)
            raise AssertionError("a QR is still on the page after login")
        except AssertionError as error:
            assert "no QR" in str(error)
        async with http.get(f"{base}/metrics", headers=auth) as response:
            assert response.status == 200 and response.content_type == "text/plain"
            samples = parse_metrics(await response.text())
        assert samples["wabot_up"] == 1 and samples['wabot_handler_seconds_bucket{le="+Inf"}'] >= 0
    await stop_gracefully(bot)
