"""No `!ping` lost, with the real `python bot.py` (issue 9): seeded SIGKILLs at random points while a contact keeps
sending, and a redeploy storm (Railway-style and with overlap) with the session in MongoDB.

A contact (a Python client on the emulator) sends `!ping` throughout; the bot answers each with a quoted
`pong` whose id is derived from the ping (whatsapp/compose.py derived_message_id), so a reply sent again
after a crash is one message. What the contact sees is the measure: every ping answered at least once,
never two answers to one ping, no message it or the bot could not decrypt, and no QR code.
"""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import statistics
import time
from pathlib import Path

import pytest

from tests.e2e_session_support import mongo_env, pair, re_compile
from tests.fixtures.mongo import MongoTestServer
from tests.messaging_support import PyPeer, paired_python
from tests.test_bot_process import (  # noqa: F401 - fixtures
    ONLINE,
    PHONE,
    QR_LINE,
    BotProcess,
    bot_env,
    bots,
    launch,
    server,
)
from whatsapp.errors import WhatsAppError
from whatsapp.events import MessageReceived
from whatsapp.testing import EmulatedServer

BOT_JID = f"{PHONE}@s.whatsapp.net"
KILLS = 50
REDEPLOYS = 20


class Pinger:
    """The contact: sends `!ping` every `interval` seconds and matches the bot's quoted answers."""

    def __init__(self, peer: PyPeer, rng: random.Random, interval: tuple[float, float]) -> None:
        self.peer = peer
        self.rng = rng
        self.interval = interval
        self.pings: list[str] = []
        self.unsent = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.pings.append((await self.peer.client.send_text(BOT_JID, "!ping")).id)
            except WhatsAppError:
                self.unsent += 1  # our own connection hiccup: not a ping the bot could lose
            await asyncio.sleep(self.rng.uniform(*self.interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def answers(self) -> dict[str, list[MessageReceived]]:
        found: dict[str, list[MessageReceived]] = {ping: [] for ping in self.pings}
        for event in self.peer.messages:
            quoted = event.message.extendedTextMessage.contextInfo.stanzaID
            if event.text == "pong" and quoted in found:
                found[quoted].append(event)
        return found

    async def all_answered(self, timeout: float) -> dict[str, list[MessageReceived]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answers = self.answers()
            if all(answers.values()):
                return answers
            await asyncio.sleep(0.2)
        return self.answers()

    def check(self, answers: dict[str, list[MessageReceived]], bots: list[BotProcess]) -> None:
        lost = [ping for ping, got in answers.items() if not got]
        doubled = {ping: len(got) for ping, got in answers.items() if len(got) > 1}
        assert not lost, f"{len(lost)} of {len(answers)} pings never answered: {lost[:5]}"
        assert not doubled, f"pings answered twice: {doubled}"
        assert not self.peer.failures, f"the contact could not decrypt: {self.peer.failures[:3]}"
        text = "\n".join(line for bot in bots for line in bot.lines)
        assert "could not be decrypted" not in text and "Traceback" not in text
        assert not any(QR_LINE.search(line) for bot in bots[1:] for line in bot.lines), "a stored session paired again"


@pytest.mark.slow
async def test_seeded_sigkills_at_random_points_lose_no_ping_and_never_answer_twice(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess]
) -> None:
    rng = random.Random(20260909)
    bot = await pair(server, bots, bot_env)
    alice = await paired_python(server, name="alice")
    pinger = Pinger(alice, rng, (0.05, 0.3))
    pinger.start()
    started = time.monotonic()
    redelivered = 0
    try:
        for _ in range(KILLS):
            # Anywhere from the start (login, offline backlog: decrypt, commit, receipt) to the handlers and
            # their replies while pings keep coming.
            await asyncio.sleep(rng.uniform(0.3, 2.5))
            await bot.kill()
            redelivered += sum("dispatched again" in line or "dispatched from the buffer" in line
                               for line in bot.lines)
            bot = await launch(bots, bot_env)
        await bot.wait_line(ONLINE, timeout=30)
        await asyncio.sleep(2)
        await pinger.stop()
        answers = await pinger.all_answered(timeout=60)
        print(f"{KILLS} SIGKILLs in {time.monotonic() - started:.0f}s: {len(answers)} pings, "
              f"{sum(map(len, answers.values()))} answers seen, {redelivered} buffer redeliveries logged")
        pinger.check(answers, bots)
    finally:
        await pinger.stop()
        await alice.close()


@pytest.mark.slow
@pytest.mark.mongo
@pytest.mark.parametrize("mongo_server", ["replset"], indirect=True)
@pytest.mark.parametrize("style", ["railway", "overlap"])
async def test_redeploy_storm_with_the_session_in_mongodb_loses_no_ping(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess], mongo_server: MongoTestServer,
    mongo_db_name: str, tmp_path: Path, style: str,
) -> None:
    """railway: SIGTERM, the container's disk is gone, a new container starts. overlap (Heroku, Railway with
    overlap): the new container first, waiting for the session lease, then SIGTERM to the old one."""
    rng = random.Random(40 if style == "railway" else 41)
    env = mongo_env(bot_env, mongo_server.uri, mongo_db_name)
    folder = tmp_path / "dyno"
    bot = await pair(server, bots, {**env, "AUTH_DIR": str(folder / "0")})
    alice = await paired_python(server, name="alice")
    pinger = Pinger(alice, rng, (0.5, 1.0))
    pinger.start()
    gaps: list[float] = []
    logins: list[float] = []
    started = time.monotonic()
    try:
        for n in range(1, REDEPLOYS + 1):
            await asyncio.sleep(rng.uniform(0.3, 0.8))
            new_env = {**env, "AUTH_DIR": str(folder / str(n))}
            if style == "railway":
                bot.send_signal(signal.SIGTERM)
                assert await bot.wait_exit(20) == 0, bot.tail()
                offline_from = time.monotonic()
                shutil.rmtree(folder / str(n - 1), ignore_errors=True)
                new = await launch(bots, new_env)
            else:
                new = await launch(bots, new_env)
                await new.wait_line("in use by another instance", timeout=30)
                bot.send_signal(signal.SIGTERM)
                offline_from = time.monotonic()
                assert await bot.wait_exit(20) == 0, bot.tail()
                shutil.rmtree(folder / str(n - 1), ignore_errors=True)
            await new.wait_any([re_compile(ONLINE), QR_LINE], timeout=40)
            online = time.monotonic()
            gaps.append(online - offline_from)
            logins.append(online - new.started_at)
            bot = new
        await asyncio.sleep(2)
        await pinger.stop()
        answers = await pinger.all_answered(timeout=60)
        print(f"{style}: {REDEPLOYS} redeploys in {time.monotonic() - started:.0f}s; offline gap median "
              f"{statistics.median(gaps):.2f}s max {max(gaps):.2f}s; start to login median "
              f"{statistics.median(logins):.2f}s max {max(logins):.2f}s; {len(answers)} pings, 0 lost, "
              f"{sum(map(len, answers.values()))} answers, {pinger.unsent} not sent by the contact")
        pinger.check(answers, bots)
    finally:
        await pinger.stop()
        await alice.close()
