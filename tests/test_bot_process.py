"""`python bot.py` as a real process against the emulated server: pairing, restarts, signals, SIGKILL trials."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.messaging_support import PyPeer, paired_python
from whatsapp.events import MessageReceived
from whatsapp.testing import EmulatedServer

ROOT = Path(__file__).resolve().parent.parent
PHONE = "15550002222"
QR_LINE = re.compile(r"QR code (\d+)/(\d+) \(valid \d+s\): (\S+)")
CODE_LINE = re.compile(r"pairing code for \+\d+: ([0-9A-Z]{4}-[0-9A-Z]{4})")
ONLINE = "bot online as"


class BotProcess:
    """A `python bot.py` child process whose log lines (stdout, with the terminal QR; stderr too) the test reads."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.started_at = 0.0

    async def start(self, *args: str) -> BotProcess:
        self.started_at = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "bot.py"),
            *args,
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._tasks = [asyncio.create_task(self._pump(self.proc.stdout, eof=True)),
                       asyncio.create_task(self._pump(self.proc.stderr, eof=False))]
        return self

    async def _pump(self, stream: asyncio.StreamReader | None, eof: bool) -> None:
        assert stream is not None
        while line := await stream.readline():
            async with self._changed:
                self.lines.append(line.decode(errors="replace").rstrip())
                self._changed.notify_all()
        if eof:  # the log's stream (stdout) ended: the process is exiting
            async with self._changed:
                self.lines.append("<eof>")
                self._changed.notify_all()

    async def wait_line(self, pattern: str | re.Pattern[str], timeout: float = 20.0, start: int = 0) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def find() -> re.Match[str] | None:
            for line in self.lines[start:]:
                if match := regex.search(line):
                    return match
            return None

        async def waiter() -> re.Match[str]:
            async with self._changed:
                while (found := find()) is None:
                    if self.lines and self.lines[-1] == "<eof>":
                        raise AssertionError(f"bot exited before {regex.pattern!r}:\n" + self.tail())
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {regex.pattern!r} within {timeout}s:\n" + self.tail()) from None

    async def wait_any(self, patterns: list[re.Pattern[str]], timeout: float = 20.0) -> re.Match[str]:
        async def one(p: re.Pattern[str]) -> re.Match[str]:
            return await self.wait_line(p, timeout)

        tasks = [asyncio.create_task(one(p)) for p in patterns]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            return next(iter(done)).result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def send_signal(self, signum: int) -> None:
        assert self.proc
        # os.kill, not Popen.send_signal: the latter polls first and may reap the child behind
        # asyncio's watcher (which then reports exit code 255).
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signum)

    async def wait_exit(self, timeout: float = 10.0) -> int:
        assert self.proc
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return code

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.send_signal(signal.SIGKILL)
            await self.proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def assert_clean_log(self) -> None:
        text = "\n".join(self.lines)
        assert "Traceback" not in text and "crashed" not in text, self.tail()


@pytest.fixture
async def server() -> AsyncIterator[EmulatedServer]:
    async with EmulatedServer() as emulated:
        emulated.create_account(PHONE)
        yield emulated


@pytest.fixture
def bot_env(server: EmulatedServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "MONGODB", "SESSION_", "PHONE_NUMBER"))}
    env.update(
        WA_URL=server.url,
        WA_ROOT_KEY=server.root_public_key.hex(),
        AUTH_DIR=str(tmp_path / "auth"),
        SESSION_ID="test",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
async def bots() -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for bot in started:
        await bot.kill()


async def launch(bots: list[BotProcess], env: dict[str, str], *args: str) -> BotProcess:
    bot = BotProcess(env)
    bots.append(bot)
    return await bot.start(*args)


async def stop_gracefully(bot: BotProcess, signum: int = signal.SIGTERM) -> None:
    sent = time.monotonic()
    bot.send_signal(signum)
    await asyncio.sleep(0.05)
    bot.send_signal(signum)  # a second signal is harmless
    assert await bot.wait_exit(10) == 0, bot.tail()
    assert time.monotonic() - sent < 10
    bot.assert_clean_log()


async def test_bot_pairs_by_qr_survives_515_and_restarts_without_qr(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess]
) -> None:
    bot = await launch(bots, bot_env)
    qr = (await bot.wait_line(QR_LINE)).group(3)
    await server.account(PHONE).phone.scan_qr(qr)
    await bot.wait_line("restart \\(515\\)")
    await bot.wait_line(ONLINE)
    await bot.wait_line("uploaded 812 prekeys")
    await stop_gracefully(bot)
    assert any("SIGTERM received" in line for line in bot.lines)

    again = await launch(bots, bot_env)
    await again.wait_line(ONLINE)
    assert not any(QR_LINE.search(line) for line in again.lines)
    await stop_gracefully(again, signal.SIGINT)


async def test_bot_pairs_with_phone_number_code(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess]
) -> None:
    bot = await launch(bots, {**bot_env, "PHONE_NUMBER": PHONE})
    code = (await bot.wait_line(CODE_LINE)).group(1)
    assert not any(QR_LINE.search(line) for line in bot.lines)
    await server.account(PHONE).phone.enter_pairing_code(code, wait=False)
    await bot.wait_line(ONLINE)
    await stop_gracefully(bot)
    again = await launch(bots, {**bot_env, "PHONE_NUMBER": PHONE})
    await again.wait_line(ONLINE)
    assert not any(CODE_LINE.search(line) for line in again.lines)
    await stop_gracefully(again)


@pytest.mark.parametrize(
    ("name", "value"), [("WA_URL", "ftp://nowhere"), ("PHONE_NUMBER", "12ab"), ("WA_ROOT_KEY", "abcd")]
)
async def test_bot_refuses_bad_configuration(
    bot_env: dict[str, str], bots: list[BotProcess], name: str, value: str
) -> None:
    bot = await launch(bots, {**bot_env, name: value})
    assert await bot.wait_exit(10) == 2
    assert any(name in line for line in bot.lines), bot.tail()


async def test_bot_unlinked_on_phone_pairs_anew(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess]
) -> None:
    bot = await launch(bots, bot_env)
    await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
    await bot.wait_line(ONLINE)
    device = next(d for d in server.account(PHONE).devices.values() if not d.is_primary)
    start = len(bot.lines)
    await server.account(PHONE).phone.unlink(device)
    await bot.wait_line("logged out", start=start)
    qr = (await bot.wait_line(QR_LINE, start=start)).group(3)
    await server.account(PHONE).phone.scan_qr(qr)
    await bot.wait_line(ONLINE, start=start)
    await stop_gracefully(bot)


@pytest.mark.slow
async def test_sigkill_during_pairing_and_login_never_leaves_a_half_written_session(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess]
) -> None:
    rng = random.Random(20261124)
    phone = server.account(PHONE).phone
    outcomes: list[str] = []

    async def recover(env: dict[str, str]) -> str:
        """Restart after a kill: it must log in, or start a clean pairing that then works."""
        bot = await launch(bots, env)
        match = await bot.wait_any([re.compile(ONLINE), QR_LINE], timeout=20)
        outcome = "login"
        if match.re is QR_LINE:
            outcome = "new pairing"
            await phone.scan_qr(match.group(3))
            await bot.wait_line(ONLINE)
        await stop_gracefully(bot)
        return outcome

    # Kills during pairing: the phone scans, the bot dies somewhere between pair-success and the login.
    for trial in range(12):
        env = {**bot_env, "AUTH_DIR": str(Path(bot_env["AUTH_DIR"]) / f"pair{trial}")}
        bot = await launch(bots, env)
        qr = (await bot.wait_line(QR_LINE)).group(3)
        scan = asyncio.create_task(phone.scan_qr(qr))
        # The whole pairing takes ~10 ms here: half the kills land inside it, half around the 515 and login.
        await asyncio.sleep(rng.uniform(0.0, 0.012) if trial % 2 else rng.uniform(0.012, 0.08))
        await bot.kill()
        with contextlib.suppress(Exception):
            await scan
        outcomes.append(await recover(env))

    # Kills during login (and the prekey upload right after it), on a paired session.
    env = {**bot_env, "AUTH_DIR": str(Path(bot_env["AUTH_DIR"]) / "login")}
    await recover(env)  # pairs
    for _ in range(10):
        bot = await launch(bots, env)
        await asyncio.sleep(rng.uniform(0.2, 0.9))
        await bot.kill()
        outcomes.append(await recover(env))

    assert len(outcomes) == 22
    print("SIGKILL trial outcomes:", {o: outcomes.count(o) for o in set(outcomes)})
    assert set(outcomes) <= {"login", "new pairing"}


@pytest.mark.mongo
async def test_second_instance_waits_for_the_lease_then_takes_over_without_fighting(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server,
    mongo_db_name: str,
    tmp_path: Path,
) -> None:
    """A deploy overlap (Heroku/Railway): the new process waits for the old one instead of kicking it (no 440)."""
    shared = {**bot_env, "MONGODB_URI": mongo_server.uri, "MONGODB_DB": mongo_db_name}
    old = await launch(bots, {**shared, "AUTH_DIR": str(tmp_path / "dyno1")})
    await server.account(PHONE).phone.scan_qr((await old.wait_line(QR_LINE)).group(3))
    await old.wait_line(ONLINE)

    new = await launch(bots, {**shared, "AUTH_DIR": str(tmp_path / "dyno2")})  # another machine: empty folder
    await new.wait_line("in use by another instance")
    await asyncio.sleep(1)
    assert not any(ONLINE in line or QR_LINE.search(line) for line in new.lines)

    await stop_gracefully(old)
    await new.wait_line(ONLINE, timeout=30)  # the session came from MongoDB: no QR, no pairing
    assert not any(QR_LINE.search(line) for line in new.lines)
    assert not any("replaced" in line for line in old.lines + new.lines)
    await stop_gracefully(new)


async def test_reset_session_flag_starts_a_new_pairing(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess]
) -> None:
    bot = await launch(bots, bot_env)
    await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
    await bot.wait_line(ONLINE)
    await stop_gracefully(bot)
    reset = await launch(bots, bot_env, "--reset-session")
    await reset.wait_line("--reset-session")
    await reset.wait_line(QR_LINE)
    await stop_gracefully(reset)


SLOW_PLUGIN = """
import asyncio

from whatsapp.bot import Context, Router

router = Router()


@router.command("slow")
async def slow(ctx: Context) -> None:
    await asyncio.sleep(2)
    await ctx.reply("slow pong")


@router.command("hang")
async def hang(ctx: Context) -> None:
    await asyncio.sleep(120)
    await ctx.reply("never sent")
"""


@pytest.fixture
def slow_env(bot_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The bot with an extra plugin package (BOT_PLUGINS) whose commands take their time."""
    package = tmp_path / "slowplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "slow.py").write_text(SLOW_PLUGIN)
    path = os.pathsep.join(p for p in (str(tmp_path), bot_env.get("PYTHONPATH", "")) if p)
    return {**bot_env, "PYTHONPATH": path, "BOT_PLUGINS": "plugins slowplugins"}


async def _send_and_signal(server: EmulatedServer, bot: BotProcess, text: str) -> tuple[PyPeer, str, float]:
    """Pair the bot, have a contact send `text`, SIGTERM the bot while the command runs."""
    await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
    await bot.wait_line("uploaded 812 prekeys")
    await bot.wait_line("plugins loaded: media_echo, ping, uptime, slow")
    alice = await paired_python(server, name="alice")
    sent = await alice.client.send_text(f"{PHONE}@s.whatsapp.net", text)
    await bot.wait_line(f"message {sent.id} received")
    await asyncio.sleep(0.5)  # the handler is running (sleeping) now
    signalled = time.monotonic()
    bot.send_signal(signal.SIGTERM)
    return alice, sent.id, signalled


async def test_sigterm_while_a_handler_runs_lets_its_reply_reach_the_contact_before_exit(
    server: EmulatedServer, slow_env: dict[str, str], bots: list[BotProcess]
) -> None:
    bot = await launch(bots, slow_env)
    alice, _, signalled = await _send_and_signal(server, bot, "!slow")
    try:
        reply = await alice.wait(MessageReceived, lambda e: e.text == "slow pong", timeout=15)
        assert await bot.wait_exit(15) == 0, bot.tail()
        assert time.monotonic() - signalled < 8 + 9, "exit within the default shutdown budget"
        assert reply.chat.user in (PHONE, server.account(PHONE).lid)
        text = "\n".join(bot.lines)
        # The order of a graceful stop: handlers drained (the reply sent), then the socket, then the store.
        drained = text.index("stopping: no new messages for handlers; 1 chat(s) busy")
        assert drained < text.index("sent to", drained) < text.index("stopped", drained)
        assert "not handled" not in text
        bot.assert_clean_log()
    finally:
        await alice.close()


async def test_sigterm_cancels_a_handler_that_outlives_the_grace_and_still_exits_cleanly(
    server: EmulatedServer, slow_env: dict[str, str], bots: list[BotProcess]
) -> None:
    bot = await launch(bots, {**slow_env, "BOT_SHUTDOWN_GRACE": "1"})
    alice, asked, signalled = await _send_and_signal(server, bot, "!hang")
    try:
        assert await bot.wait_exit(15) == 0, bot.tail()
        assert time.monotonic() - signalled < 1 + 9
        await bot.wait_line(f"1 message\\(s\\) not handled within 1s, cancelled: message {asked}")
        bot.assert_clean_log()
    finally:
        await alice.close()
