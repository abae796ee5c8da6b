"""End to end: two `python bot.py` on ONE session folder (a restart that overlaps the old process, or a
second instance started by hand on the same disk). One writer per folder:

A is online, answers a contact and refills its pre-keys while B waits on the folder lock; A dies (SIGKILL,
or SIGTERM); B must continue from A's latest state, not from what it read when it started: the contact's
Signal sessions go on (no NoSessionError), the server keeps exactly the pre-keys A uploaded (B uploads no
new ones under reused ids), both copies agree, and a third start on what B left logs in cleanly.
"""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.e2e_session_support import (
    assert_copies_equal,
    companion,
    expire_lease,
    folder_copy,
    low_prekeys_notification,
    mongo_env,
    mongo_settled,
    pair,
    prekey_problems,
    start_logged_in,
)
from tests.fixtures.emulator import BaileysHarness, HarnessFactory
from tests.fixtures.mongo import MongoTestServer
from tests.messaging_support import paired_baileys
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
from whatsapp.auth import KeyType
from whatsapp.keys import KeyPair
from whatsapp.testing import EmulatedServer

pytestmark = [pytest.mark.mongo, pytest.mark.slow, pytest.mark.node]
BOT_JID = f"{PHONE}@s.whatsapp.net"


async def ping(alice: BaileysHarness, text: str = "!ping") -> None:
    await alice.command("send_text", jid=BOT_JID, text=text)
    await alice.wait_for("message", lambda e: e["text"] == "pong" and not e["fromMe"], timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_a_second_bot_on_the_same_folder_takes_over_from_the_first_ones_latest_state(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    mongo_db_name: str,
    make_baileys: HarnessFactory,
    tmp_path: Path,
    sig: int,
) -> None:
    uri = mongo_server.uri
    env = mongo_env(bot_env, uri, mongo_db_name)
    first = await pair(server, bots, env)
    alice = await paired_baileys(server, make_baileys, tmp_path, "alice")
    device = companion(server)
    await ping(alice)

    second = await launch(bots, env)  # the same AUTH_DIR and SESSION_ID
    await second.wait_line("another process on this machine uses")
    # While it waits, the first one works: messages (Signal session writes) and a pre-key refill.
    mark = len(first.lines)
    assert await server.send_to(device, low_prekeys_notification(5))
    await first.wait_line("uploaded 95 prekeys", start=mark)
    for n in range(3):
        await ping(alice, f"!ping {n}")
    server_prekeys = {key_id: prekey.public for key_id, prekey in device.prekeys.items()}
    assert not any(ONLINE in line for line in second.lines)

    first.send_signal(sig)
    assert await first.wait_exit(10) == (-signal.SIGKILL if sig == signal.SIGKILL else 0), first.tail()
    if sig == signal.SIGKILL:
        await expire_lease(uri, mongo_db_name)  # the dead one's lease (30 s) would only delay the take-over
    mark = len(second.lines)
    await second.wait_line(ONLINE, timeout=45)
    assert any("reloading the session it left" in line for line in second.lines), second.tail()
    assert not any(QR_LINE.search(line) for line in second.lines)
    for n in range(3):
        await ping(alice, f"!ping again {n}")  # the Signal sessions continued where the first one left them
    await asyncio.sleep(1.0)  # the pre-key check after login
    log = "\n".join(second.lines)
    assert "NoSessionError" not in log and "Traceback" not in log, second.tail()
    assert not any("uploaded" in line and "prekeys" in line for line in second.lines[mark:]), second.tail()
    assert {key_id: prekey.public for key_id, prekey in device.prekeys.items()} == server_prekeys

    await mongo_settled(uri, mongo_db_name)
    stored = await assert_copies_equal(env, uri, mongo_db_name)
    assert not prekey_problems(stored, "after the take-over")
    pairs = {int(i): KeyPair.from_bytes(v) for (t, i), v in stored.keys.items() if t == KeyType.PRE_KEY.value}
    assert all(key_id in pairs and pairs[key_id].public == public for key_id, public in server_prekeys.items())
    await stop_gracefully(second)

    third = await start_logged_in(bots, env)  # a third start on what the second one left
    await ping(alice, "!ping third")
    await stop_gracefully(third)
    local = folder_copy(env)
    assert local is not None and not prekey_problems(local, "folder at the end")
