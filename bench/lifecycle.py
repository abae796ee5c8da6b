"""Lifecycle figures, side by side with a Baileys client on the same emulated server.

    .venv/bin/python bench/lifecycle.py [--minutes 5] [--runs 3]

1. Time from process start to "connection open" with a saved session (median of --runs restarts):
   `python bot.py` vs the Baileys harness (`node tests/node/baileys_harness.mjs`, Baileys 7.0.0-rc14).
2. Resident memory (VmRSS) of both processes after --minutes online together.
Both ratios are Python / Baileys. Everything runs on loopback against `whatsapp.testing.EmulatedServer`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loguru import logger  # noqa: E402

from whatsapp.testing import EmulatedServer  # noqa: E402
from whatsapp.testing.harness.baileys import BaileysHarness  # noqa: E402

PY_PHONE = "15550003333"
JS_PHONE = "15550004444"
QR_LINE = re.compile(r"QR code \d+/\d+ \(valid \d+s\): (\S+)")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class PyBot:
    def __init__(self, server: EmulatedServer, auth_dir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "MONGODB", "PHONE_NUMBER"))}
        self.env.update(
            WA_URL=server.url,
            WA_ROOT_KEY=server.root_public_key.hex(),
            AUTH_DIR=str(auth_dir),
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> float:
        started = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "bot.py"),
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,  # the bot logs to stdout (botlog.py)
            stderr=asyncio.subprocess.STDOUT,
        )
        self._tasks = [asyncio.create_task(self._pump())]
        return started

    async def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        while line := await self.proc.stdout.readline():
            await self.lines.put(line.decode(errors="replace"))

    async def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 30) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        async def find() -> re.Match[str]:
            while True:
                if match := regex.search(await self.lines.get()):
                    return match

        return await asyncio.wait_for(find(), timeout)

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 15)
        for task in self._tasks:
            task.cancel()
        self.lines = asyncio.Queue()


async def python_open_times(server: EmulatedServer, auth_dir: Path, runs: int) -> list[float]:
    bot = PyBot(server, auth_dir)
    await bot.start()
    qr = (await bot.wait_for(QR_LINE)).group(1)
    await server.account(PY_PHONE).phone.scan_qr(qr)
    await bot.wait_for("bot online as")
    await bot.stop()
    times = []
    for _ in range(runs):
        started = await bot.start()
        await bot.wait_for("bot online as")
        times.append(time.monotonic() - started)
        await bot.stop()
    return times


async def baileys_open_times(server: EmulatedServer, auth_dir: Path, runs: int) -> list[float]:
    harness = BaileysHarness(server.url, server.root_public_key, auth_dir)
    await harness.start()
    qr = (await harness.wait_for("qr"))["qr"]
    await server.account(JS_PHONE).phone.scan_qr(qr)
    await harness.wait_for("connection", connection="open")
    await harness.stop()
    times = []
    for _ in range(runs):
        harness = BaileysHarness(server.url, server.root_public_key, auth_dir)
        started = time.monotonic()
        await harness.start()
        await harness.wait_for("connection", connection="open", timeout=60)
        times.append(time.monotonic() - started)
        await harness.stop()
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="time online before measuring memory")
    parser.add_argument("--runs", type=int, default=3, help="restarts timed per client")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    async with EmulatedServer() as server:
        server.create_account(PY_PHONE)
        server.create_account(JS_PHONE)
        with tempfile.TemporaryDirectory() as tmp:
            py_dir, js_dir = Path(tmp) / "py", Path(tmp) / "js"
            py_times = await python_open_times(server, py_dir, args.runs)
            js_times = await baileys_open_times(server, js_dir, args.runs)
            py_open, js_open = statistics.median(py_times), statistics.median(js_times)

            bot = PyBot(server, py_dir)
            await bot.start()
            await bot.wait_for("bot online as")
            harness = BaileysHarness(server.url, server.root_public_key, js_dir)
            await harness.start()
            await harness.wait_for("connection", connection="open", timeout=60)
            await asyncio.sleep(args.minutes * 60)
            assert bot.proc and harness._proc
            py_rss, js_rss = rss_kib(bot.proc.pid), rss_kib(harness._proc.pid)
            still_open = not harness.seen("connection", connection="close")
            await bot.stop()
            await harness.stop()

    print(f"{'':38}{'python bot.py':>16}{'Baileys 7 harness':>20}{'ratio py/js':>14}")
    print(
        f"{'start -> connection open (saved session)':38}{py_open:>15.3f}s{js_open:>19.3f}s{py_open / js_open:>14.2f}"
    )
    print(
        f"{f'RSS after {args.minutes:g} min online':38}{py_rss / 1024:>13.1f}MiB{js_rss / 1024:>17.1f}MiB"
        f"{py_rss / js_rss:>14.2f}"
    )
    print(f"open times (s): python {[round(t, 3) for t in py_times]}, baileys {[round(t, 3) for t in js_times]}")
    print(f"Baileys connection stayed open: {still_open}")


if __name__ == "__main__":
    asyncio.run(main())
