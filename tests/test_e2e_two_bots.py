"""Two bots side by side: two `python bot.py` processes with different SESSION_IDs on one MongoDB (both server
modes) and one folder root, linked to two accounts of one emulator. Each answers its own contacts, restarts
without touching the other, and no document or file of one session names the other."""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from storage.history import HISTORY_COLLECTION
from storage.mongo import CHANGES, KEYS, LEASES, SESSIONS
from tests.fixtures.emulator import HarnessFactory
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
from whatsapp.testing import EmulatedServer

pytestmark = pytest.mark.mongo
SECOND_PHONE = "15550004444"


async def _pair(server: EmulatedServer, bots: list[BotProcess], env: dict[str, str], phone: str) -> BotProcess:
    bot = await launch(bots, env)
    await server.account(phone).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
    await bot.wait_line(ONLINE)
    await bot.wait_line("uploaded 812 prekeys")
    return bot


async def _ping(contact: Any, bot_phone: str) -> None:
    await contact.command("send_text", jid=f"{bot_phone}@s.whatsapp.net", text="!ping")
    # Each contact talks to one bot only, so a pong it receives comes from that bot.
    await contact.wait_for("message", lambda e: e["text"] == "pong" and not e["fromMe"], timeout=30)


async def test_two_sessions_on_one_mongodb_answer_restart_and_store_apart(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess], mongo_server: MongoTestServer,
    mongo_db_name: str, make_baileys: HarnessFactory, tmp_path: Path,
) -> None:
    server.create_account(SECOND_PHONE, push_name="Second bot")
    shared = {**bot_env, "MONGODB_URI": mongo_server.uri, "MONGODB_DB": mongo_db_name}
    env_a, env_b = {**shared, "SESSION_ID": "shop"}, {**shared, "SESSION_ID": "support"}
    bot_a = await _pair(server, bots, env_a, PHONE)
    bot_b = await _pair(server, bots, env_b, SECOND_PHONE)
    alice = await paired_baileys(server, make_baileys, tmp_path, "alice")
    carol = await paired_baileys(server, make_baileys, tmp_path, "carol")
    await _ping(alice, PHONE)
    await _ping(carol, SECOND_PHONE)

    await stop_gracefully(bot_a)  # one restarts; the other keeps answering meanwhile
    await _ping(carol, SECOND_PHONE)
    bot_a = await launch(bots, env_a)
    await bot_a.wait_line(ONLINE, timeout=30)
    assert not any(QR_LINE.search(line) for line in bot_a.lines)
    await _ping(alice, PHONE)
    assert bot_b.proc is not None and bot_b.proc.returncode is None
    await stop_gracefully(bot_a)
    await stop_gracefully(bot_b)

    auth = Path(shared["AUTH_DIR"])
    assert (auth / "shop" / "creds.json").exists() and (auth / "support" / "creds.json").exists()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server.uri)
    try:
        db = client[mongo_db_name]
        sessions = {doc["_id"]: doc for doc in await db[SESSIONS].find().to_list()}
        assert set(sessions) == {"shop", "support"}
        assert sessions["shop"]["phoneNumber"] == PHONE and sessions["support"]["phoneNumber"] == SECOND_PHONE
        assert {doc["_id"] for doc in await db[LEASES].find().to_list()} == {"shop", "support"}
        for collection in (KEYS, CHANGES, HISTORY_COLLECTION):
            owners = set(await db[collection].distinct("sessionId"))
            assert owners == {"shop", "support"}, collection
        for doc in await db[CHANGES].find().to_list():
            assert doc["_id"].startswith(f"{doc['sessionId']}:")
    finally:
        await client.close()
