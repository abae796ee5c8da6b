"""`python bot.py` against a stricter server: a version floor above its build, and trust tokens enforced.

The bot is refused with 405, reads the current version from a local stand-in of web.whatsapp.com
(WA_VERSION_URL), pairs with it, keeps it in its session store for the next start, and answers a contact
whose replies need that contact's trust token.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from botconfig import BotConfig, ConfigError
from tests.messaging_support import PEOPLE, PyPeer
from tests.test_bot_process import QR_LINE, BotProcess, launch, stop_gracefully
from whatsapp.client import AUTO_VERSION_URL
from whatsapp.events import MessageReceived
from whatsapp.payload import DEFAULT_VERSION, DeviceConfig
from whatsapp.testing import EmulatedServer
from whatsapp.testing.version_page import VersionPage

PHONE = "15550002222"
FLOOR = (2, 3000, DEFAULT_VERSION[2] + 777)
ONLINE = "bot online as"


@pytest.fixture
async def page() -> AsyncIterator[VersionPage]:
    async with VersionPage(FLOOR[2]) as served:
        yield served


@pytest.fixture
async def strict_server() -> AsyncIterator[EmulatedServer]:
    async with EmulatedServer(min_version=FLOOR) as server:
        server.create_account(PHONE)
        yield server


@pytest.fixture
def env(strict_server: EmulatedServer, page: VersionPage, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "MONGODB", "SESSION_", "PHONE_NUMBER"))}
    return {**base, "WA_URL": strict_server.url, "WA_ROOT_KEY": strict_server.root_public_key.hex(),
            "WA_VERSION_URL": page.url, "AUTH_DIR": str(tmp_path / "auth"), "SESSION_ID": "test",
            "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
async def bots() -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []  # killed after the test, whatever happened
    yield started
    await asyncio.gather(*(bot.kill() for bot in started))


@pytest.mark.slow
async def test_bot_refused_as_outdated_renews_its_version_pairs_and_answers_with_the_token(
    strict_server: EmulatedServer, page: VersionPage, env: dict[str, str], bots: list[BotProcess]
) -> None:
    page.script = [None]  # web.whatsapp.com is unreachable when the bot starts: it starts anyway
    bot = await launch(bots, env)
    await bot.wait_line("could not fetch the current WA Web version")
    old, new = ".".join(map(str, DEFAULT_VERSION)), ".".join(map(str, FLOOR))
    await bot.wait_line(f"WhatsApp refused version {old} as outdated; retrying with {new}")
    qr = (await bot.wait_line(QR_LINE)).group(3)
    await strict_server.account(PHONE).phone.scan_qr(qr)
    await bot.wait_line(ONLINE)
    await bot.wait_line("uploaded 812 prekeys")
    assert [e.data["reason"] for e in strict_server.state.events.of_kind("login_failed")] == ["405"]

    alice = PyPeer(strict_server, device=DeviceConfig(version=FLOOR))  # a contact on a current build
    await alice.pair(*PEOPLE["alice"])
    try:
        asked = await alice.client.send_text(f"{PHONE}@s.whatsapp.net", "!ping")
        pong = await alice.wait(MessageReceived, lambda e: e.text == "pong", timeout=20)
        assert pong.chat.user in (PHONE, strict_server.account(PHONE).lid)
        # The reply got through the token check: the server routed it with the token Alice's client issued.
        routed = [e.data["error"] for e in strict_server.state.events.of_kind("message_routed")
                  if e.data["id"] == pong.id]
        assert routed[-1] is None
        replies = [e.data["node"] for e in strict_server.state.events.of_kind("stanza")
                   if e.data["node"].tag == "message" and e.data["node"].attrs.get("id") == pong.id]
        issued = strict_server.account(PEOPLE["alice"][0]).issued_tokens[PHONE]
        token = replies[-1].child("tctoken")
        assert token is not None and token.content == issued[-1].token and asked.id != pong.id
    finally:
        await alice.close()
    await stop_gracefully(bot)

    # The renewed version is in the session store: the next start logs straight in, with no 405 and no fetch.
    requests = len(page.requests)
    again = await launch(bots, env)
    await again.wait_line(ONLINE)
    assert len(page.requests) == requests
    assert len(strict_server.state.events.of_kind("login_failed")) == 1
    await stop_gracefully(again)


async def test_bot_stops_with_advice_when_no_current_version_can_be_had(
    strict_server: EmulatedServer, page: VersionPage, env: dict[str, str], bots: list[BotProcess]
) -> None:
    page.revision = None  # the page no longer says which build is current
    bot = await launch(bots, env)
    assert await bot.wait_exit(15) == 3, bot.tail()
    assert any("set WA_VERSION" in line for line in bot.lines), bot.tail()


def test_wa_version_and_its_page_are_validated() -> None:
    assert BotConfig.from_env({}).wa_version is None
    assert BotConfig.from_env({}).wa_version_url == AUTO_VERSION_URL
    config = BotConfig.from_env({"WA_VERSION": "2.3000.1046000000", "WA_VERSION_URL": "http://127.0.0.1:9/v"})
    assert config.wa_version == (2, 3000, 1046000000) and config.wa_version_url == "http://127.0.0.1:9/v"
    assert BotConfig.from_env({"WA_VERSION_URL": "OFF"}).wa_version_url is None
    for name, value in (("WA_VERSION", "2.3000"), ("WA_VERSION", "latest"), ("WA_VERSION_URL", "ftp://x/")):
        with pytest.raises(ConfigError) as refused:
            BotConfig.from_env({name: value})
        assert refused.value.variable == name and name in str(refused.value)


async def test_bot_with_a_malformed_wa_version_exits_2(env: dict[str, str], bots: list[BotProcess]) -> None:
    bot = await launch(bots, {**env, "WA_VERSION": "2.3000.x"})
    assert await bot.wait_exit(10) == 2
    assert any("WA_VERSION" in line for line in bot.lines), bot.tail()
