"""ctx.chat_state and ctx.user_state kept in the session store (KeyType.BOT_STATE): they survive a restart,
in the folder and in MongoDB; bounded, and what is not JSON stays in memory with a warning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import StoreConfig, open_store
from tests.bot_support import FakeClient, capture_logs, received, texts
from tests.fixtures.mongo import MongoTestServer
from tests.storage_helpers import fast_mongo_config, folder_config
from whatsapp.auth import AuthState, KeyType
from whatsapp.bot import Context, Dispatcher, Router, install
from whatsapp.bot.persist import PersistentState


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    yield from capture_logs()


def counter_bot(store: AuthState) -> tuple[Dispatcher, FakeClient]:
    router = Router(name="counter")

    @router.command("count")
    async def count(ctx: Context) -> None:
        chat = ctx.chat_state["n"] = int(ctx.chat_state.get("n", 0)) + 1  # type: ignore[call-overload]
        mine = ctx.user_state["n"] = int(ctx.user_state.get("n", 0)) + 1  # type: ignore[call-overload]
        await ctx.reply(f"chat {chat}, you {mine}")

    @router.command("odd")
    async def odd(ctx: Context) -> None:
        ctx.chat_state["seen"] = {1, 2}  # a set: not JSON

    client = FakeClient()
    dispatcher = Dispatcher(client)  # type: ignore[arg-type]
    dispatcher.include_router(router)
    install(dispatcher, state_store=store, with_help=False)
    return dispatcher, client


async def restart_keeps_the_counts(config: StoreConfig) -> None:
    store = await open_store(config)
    await store.acquire_lease()
    dispatcher, client = counter_bot(store)
    await dispatcher.process(received("!count", "1@s.whatsapp.net", sender="7@s.whatsapp.net"))
    await dispatcher.process(received("!count", "1@s.whatsapp.net", sender="7:3@s.whatsapp.net"))
    await dispatcher.process(received("!count", "1-2@g.us", sender="7@s.whatsapp.net", group=True))
    assert texts(client) == ["chat 1, you 1", "chat 2, you 2", "chat 1, you 3"]
    await store.close()

    again = await open_store(config)  # a new process: nothing in memory
    await again.acquire_lease()
    dispatcher, client = counter_bot(again)
    await dispatcher.process(received("!count", "1@s.whatsapp.net", sender="7@s.whatsapp.net"))
    await dispatcher.process(received("!count", "1-2@g.us", sender="8@s.whatsapp.net", group=True))
    assert texts(client) == ["chat 3, you 4", "chat 2, you 1"]
    stored = await again.get(KeyType.BOT_STATE, ["chat-1@s.whatsapp.net", "user-7@s.whatsapp.net"])
    assert stored == {"chat-1@s.whatsapp.net": b'{"counter":{"n":3}}',
                      "user-7@s.whatsapp.net": b'{"counter":{"n":4}}'}
    await again.close()


async def test_chat_and_user_state_survive_a_restart_in_the_folder(tmp_path: Path) -> None:
    await restart_keeps_the_counts(folder_config(tmp_path))


@pytest.mark.mongo
async def test_chat_and_user_state_survive_a_restart_in_mongodb(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    await restart_keeps_the_counts(fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name))


async def test_not_json_stays_in_memory_and_records_are_bounded(tmp_path: Path, log_lines: list[str]) -> None:
    store = await open_store(folder_config(tmp_path))
    await store.acquire_lease()
    dispatcher, _ = counter_bot(store)
    await dispatcher.process(received("!odd"))
    assert any("is not JSON" in line and line.startswith("WARNING") for line in log_lines)
    assert await store.get(KeyType.BOT_STATE, ["chat-1@s.whatsapp.net"]) == {}

    small = Dispatcher(FakeClient())  # type: ignore[arg-type]
    small.include_router(dispatcher.sub_routers[0])
    small.message.outer_middleware(PersistentState(store, max_records=4, bucket_size=1))  # a bound to see hold
    for n in range(6):  # chat-100, user-7, chat-101, ...: the first saved drop out (user-7 comes back, written)
        await small.process(received("!count", f"{100 + n}@s.whatsapp.net", sender="7@s.whatsapp.net"))
    ids = ["user-7@s.whatsapp.net", *(f"chat-{100 + n}@s.whatsapp.net" for n in range(6))]
    kept = await store.get(KeyType.BOT_STATE, ids)
    assert sorted(kept) == ["chat-103@s.whatsapp.net", "chat-104@s.whatsapp.net", "chat-105@s.whatsapp.net",
                            "user-7@s.whatsapp.net"]
    assert texts(small.client)[-1] == "chat 1, you 6"  # type: ignore[arg-type]  # memory kept the count meanwhile
    await store.close()
