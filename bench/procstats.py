"""Helpers of the process benchmarks (bench/load.py, bench/soak.py): /proc figures, the emulator process, the bots.

Not a benchmark itself. Everything here reads /proc (Linux) and needs no psutil.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "bench"
NODE_MODULES = ROOT / "tests" / "node"  # where npm installed Baileys 7 (a path, nothing imported from tests/)
QR_LINE = re.compile(r"QR code \d+/\d+ \(valid \d+s\): (\S+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process so far (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (clear_refs 5, Linux >= 4.0); False when not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def machine() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = shutil.which("node")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else "-"
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node_version,
        "baileys": "7.0.0-rc14",
        "commit": commit,
    }


class Emulator:
    """bench/load_emulator.py in its own process, driven over JSON lines."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.root_key = ""
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "load_emulator.py"), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024,
        )
        ready = await self._read()
        self.url, self.root_key = ready["url"], ready["root_key"]

    async def _read(self) -> dict[str, Any]:
        assert self.proc and self.proc.stdout
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.proc and self.proc.stdin
        async with self._lock:
            self.proc.stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())
            await self.proc.stdin.drain()
            answer = await self._read()
        if answer.get("event") != "result":
            raise RuntimeError(f"emulator: {answer}")
        return answer

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            assert self.proc.stdin
            self.proc.stdin.write(b'{"cmd": "quit"}\n')
            await self.proc.stdin.drain()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Target:
    """A bot process under load: `python bot.py` (folder or MongoDB store) or the Baileys echo bot."""

    def __init__(self, name: str, phone: str, emulator: Emulator, auth_dir: Path, mongo_uri: str | None = None) -> None:
        self.name, self.phone, self.emulator = name, phone, emulator
        self.auth_dir, self.mongo_uri = auth_dir, mongo_uri
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.tail: list[str] = []
        self._pump_task: asyncio.Task[None] | None = None

    @property
    def is_baileys(self) -> bool:
        return self.name == "baileys"

    @property
    def pid(self) -> int:
        assert self.proc
        return self.proc.pid

    async def start(self) -> float:
        """Start, pair by QR, wait until online; the seconds that took."""
        await self.emulator.command("account", phone=self.phone)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WA_", "MONGODB", "SESSION_", "PHONE_NUMBER", "AUTH_DIR"))}
        env.update(WA_URL=self.emulator.url, WA_ROOT_KEY=self.emulator.root_key, AUTH_DIR=str(self.auth_dir),
                   PYTHONUNBUFFERED="1")
        started = time.monotonic()
        if self.is_baileys:
            env["WA_NODE_ORACLES"] = str(NODE_MODULES)
            node = shutil.which("node")
            assert node, "node is not installed"
            self.proc = await asyncio.create_subprocess_exec(
                node, str(HERE / "baileys_echo.mjs"), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL)
            assert self.proc.stdout
            stream = self.proc.stdout
        else:
            env["LOG_LEVEL"] = "INFO"
            if self.mongo_uri:
                env.update(MONGODB_URI=self.mongo_uri, MONGODB_DB=f"bench_{self.phone}")
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "bot.py"), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)  # the log is on stdout
            assert self.proc.stdout
            stream = self.proc.stdout
        self._pump_task = asyncio.create_task(self._pump(stream))
        qr = await self._wait(lambda line: self._qr(line), 60)
        await self.emulator.command("scan", phone=self.phone, qr=qr)
        await self._wait(lambda line: "open" if ('"open"' in line or "bot online as" in line) else None, 60)
        return time.monotonic() - started

    def _qr(self, line: str) -> str | None:
        if self.is_baileys:
            if line.startswith("{") and '"qr"' in line:
                return str(json.loads(line)["qr"])
            return None
        match = QR_LINE.search(line)
        return match.group(1) if match else None

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace")
            self.tail = [*self.tail[-40:], text]
            if self.lines.qsize() < 10000:
                self.lines.put_nowait(text)

    async def _wait(self, find: Any, timeout: float) -> str:
        async def loop() -> str:
            while True:
                if found := find(await self.lines.get()):
                    return str(found)

        try:
            return await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.name}: timed out; last lines:\n{''.join(self.tail)}") from None

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._pump_task:
            self._pump_task.cancel()


def write_section(path: Path, title: str, section: str) -> None:
    """Replace the `## title` section of the results file (or add it)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    start = text.find(f"## {title}")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section.rstrip("\n") + "\n" + ("" if end < 0 else "\n" + text[end + 1:])
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
