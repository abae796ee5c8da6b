"""End to end: `python bot.py` starting while MongoDB is down, or on a damaged folder that MongoDB can heal.

A redeploy onto a fresh disk while the database restarts: the bot must stay up (a platform gives up on
a process that keeps exiting), say once that it waits for MongoDB (the host, never the password), log
in with the stored session within seconds of MongoDB's return, and exit 0 at once when stopped while it
waits. A damaged folder next to an intact MongoDB copy is moved aside and rebuilt, with one WARNING.
"""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters

from __future__ import annotations

import asyncio
import shutil
import signal
import time

import pytest

from tests.e2e_session_support import (
    SESSION_ID,
    assert_copies_equal,
    auth_dir,
    companion,
    logins,
    mongo_env,
    mongo_settled,
    own_mongo,  # noqa: F401 - fixture
    pair,
    start_logged_in,
)
from tests.fixtures.mongo import MongoTestServer
from tests.test_bot_process import (  # noqa: F401 - fixtures
    ONLINE,
    PHONE,
    QR_LINE,
    BotProcess,
    bot_env,
    bots,
    launch,
    server,
    stop_gracefully,
)
from whatsapp.testing import EmulatedServer

pytestmark = [pytest.mark.mongo, pytest.mark.slow]
WAITING = "waiting for MongoDB at"


@pytest.mark.parametrize("ending", ["mongodb returns", "sigterm while waiting"])
async def test_mongodb_down_at_boot_without_a_local_copy_the_bot_waits(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    own_mongo: MongoTestServer,
    mongo_db_name: str,
    ending: str,
) -> None:
    own_mongo.start()
    env = mongo_env(bot_env, own_mongo.uri, mongo_db_name)
    await stop_gracefully(await pair(server, bots, env))
    device = companion(server)
    before = len(logins(server, device))
    shutil.rmtree(auth_dir(env))  # a fresh disk (redeploy) ...
    await asyncio.to_thread(own_mongo.stop)  # ... while MongoDB is down

    bot = await launch(bots, env)
    line = (await bot.wait_line(WAITING, timeout=20)).string
    assert f"127.0.0.1:{own_mongo.client_port}" in line
    await asyncio.sleep(4)
    assert bot.proc is not None and bot.proc.returncode is None  # still up: no crash loop
    assert sum(WAITING in line for line in bot.lines) == 1  # said once
    assert not any(ONLINE in line or QR_LINE.search(line) for line in bot.lines)  # never pairs over the session
    assert not auth_dir(env).exists() or not any(auth_dir(env).rglob("*.json"))  # nothing written

    if ending == "sigterm while waiting":
        sent = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        assert await bot.wait_exit(5) == 0, bot.tail()
        assert time.monotonic() - sent < 2.0, "a stop while waiting must not wait for MongoDB"
        bot.assert_clean_log()
        await asyncio.to_thread(own_mongo.start)
        return

    await asyncio.to_thread(own_mongo.start)
    back = time.monotonic()
    await bot.wait_line(ONLINE, timeout=30)
    took = time.monotonic() - back
    print(f"online {took:.1f} s after MongoDB came back")
    assert took < 10
    assert not any(QR_LINE.search(line) for line in bot.lines)
    assert len(logins(server, device)) == before + 1  # the same linked device, no new pairing
    await mongo_settled(own_mongo.uri, mongo_db_name)
    await assert_copies_equal(env, own_mongo.uri, mongo_db_name)  # the folder was rebuilt from MongoDB
    await stop_gracefully(bot)


async def test_a_damaged_folder_is_rebuilt_from_mongodb_and_the_bot_logs_in(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    mongo_db_name: str,
) -> None:
    env = mongo_env(bot_env, mongo_server.uri, mongo_db_name)
    await stop_gracefully(await pair(server, bots, env))
    folder = auth_dir(env) / SESSION_ID
    (folder / "creds.json").unlink()  # keys without credentials: damage, never a new pairing

    bot = await start_logged_in(bots, env)
    warnings = [line for line in bot.lines if "| WARNING" in line]
    assert len(warnings) == 1 and "damaged" in warnings[0] and "moved it to" in warnings[0], bot.tail()
    assert len(list(auth_dir(env).glob(f"{SESSION_ID}.damaged-*"))) == 1
    await mongo_settled(mongo_server.uri, mongo_db_name)
    await assert_copies_equal(env, mongo_server.uri, mongo_db_name)
    await stop_gracefully(bot)
