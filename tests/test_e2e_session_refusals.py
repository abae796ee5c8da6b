"""End to end: `python bot.py` refuses to start on a session it must not touch, says why, and changes nothing.

A wrong SESSION_ENCRYPTION_KEY and a damaged session file with no MongoDB copy to heal it each make the
bot exit non-zero with one log line naming the cause (no traceback), and leave the stored files and
documents byte for byte as they were. (MongoDB unreachable with no local copy is not a refusal: the bot
waits for it, tests/test_e2e_session_boot.py.)
"""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters

from __future__ import annotations

import shutil

import pytest

from tests.e2e_session_support import (
    SESSION_ID,
    auth_dir,
    mongo_env,
    own_mongo,  # noqa: F401 - fixture
    pair,
    raw_session,
    settled_session,
    start_logged_in,
    tree_bytes,
)
from tests.fixtures.mongo import MongoTestServer
from tests.test_bot_process import (  # noqa: F401 - fixtures
    ONLINE,
    QR_LINE,
    BotProcess,
    bot_env,
    bots,
    launch,
    server,
    stop_gracefully,
)
from whatsapp.testing import EmulatedServer

pytestmark = pytest.mark.mongo
KEY = "correct horse battery staple"


async def refused(bots: list[BotProcess], env: dict[str, str], timeout: float = 30.0) -> str:
    """Run the bot, expect it to give up by itself; the log line that says why."""
    bot = await launch(bots, env)
    code = await bot.wait_exit(timeout)
    log = "\n".join(bot.lines)
    assert code > 0, f"exit code {code}:\n{bot.tail()}"
    assert "Traceback" not in log, bot.tail()
    assert not any(ONLINE in line or QR_LINE.search(line) for line in bot.lines), bot.tail()
    line = next((line for line in bot.lines if "bot crashed" in line), f"no 'bot crashed' line in:\n{log}")
    print(f"exit {code}: {line}")
    return line


async def test_wrong_encryption_key_refuses_and_changes_nothing(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    mongo_db_name: str,
) -> None:
    env = mongo_env(bot_env, mongo_server.uri, mongo_db_name, SESSION_ENCRYPTION_KEY=KEY)
    await stop_gracefully(await pair(server, bots, env))
    files, documents = tree_bytes(auth_dir(env)), await settled_session(mongo_server.uri, mongo_db_name)

    for wrong in ("correct horse battery stable", ""):  # a typo, and the key forgotten
        line = await refused(bots, {**env, "SESSION_ENCRYPTION_KEY": wrong})
        assert "WrongEncryptionKeyError" in line and "SESSION_ENCRYPTION_KEY" in line, line
        assert tree_bytes(auth_dir(env)) == files
        assert await raw_session(mongo_server.uri, mongo_db_name) == documents

    # On a fresh disk only MongoDB's copy is there to open: refused the same way, nothing written anywhere.
    shutil.move(auth_dir(env), auth_dir(env).with_name("kept"))
    line = await refused(bots, {**env, "SESSION_ENCRYPTION_KEY": "correct horse battery stable"})
    assert "WrongEncryptionKeyError" in line and "whatsapp_sessions" in line, line
    assert await raw_session(mongo_server.uri, mongo_db_name) == documents
    assert not auth_dir(env).exists() or not tree_bytes(auth_dir(env))
    shutil.rmtree(auth_dir(env), ignore_errors=True)
    shutil.move(auth_dir(env).with_name("kept"), auth_dir(env))

    await stop_gracefully(await start_logged_in(bots, env))  # the right key still opens it


@pytest.mark.parametrize("damage", ["creds.json truncated", "pre-key file edited"])
async def test_corrupt_session_file_refuses_and_changes_nothing(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess], damage: str
) -> None:
    await stop_gracefully(await pair(server, bots, bot_env))
    folder = auth_dir(bot_env) / SESSION_ID
    if damage == "creds.json truncated":
        target = folder / "creds.json"
        target.write_bytes(target.read_bytes()[:100])
    else:
        target = folder / "keys" / "pre-key" / "17.key"
        data = bytearray(target.read_bytes())
        data[-1] ^= 0x01  # one bit of the stored value: the record's check must catch it
        target.write_bytes(bytes(data))
    files = tree_bytes(auth_dir(bot_env))

    line = await refused(bots, bot_env)
    assert "CorruptSessionError" in line and str(target) in line, line
    assert tree_bytes(auth_dir(bot_env)) == files
