"""SESSION_ENCRYPTION_KEY set on a session stored in plain text: both copies are encrypted at start (one INFO
line), not at the next unit of work, which on a quiet bot may be hours away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bson
import pytest
from pymongo import AsyncMongoClient

from storage import StoreConfig, open_store
from tests.bot_support import capture_logs
from tests.fixtures.mongo import MongoTestServer
from tests.storage_helpers import fast_mongo_config, folder_config, sample_keys
from tests.test_storage_mongo import assert_copies_equal, write

SECRET = b"noise_key"  # a credentials field name: in plain text only in a plain session


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    yield from capture_logs()


def folder_bytes(config: StoreConfig) -> bytes:
    return b"".join(p.read_bytes() for p in (config.auth_dir / config.session_id).rglob("*") if p.is_file())


async def plain_then_keyed(config: StoreConfig, log_lines: list[str]) -> StoreConfig:
    store = await open_store(config)
    await store.acquire_lease()
    await write(store, sample_keys())
    await store.close()
    assert SECRET in folder_bytes(config)
    keyed = StoreConfig(**{**config.__dict__, "encryption_key": "now at rest"})
    store = await open_store(keyed)
    await store.acquire_lease()
    sealed = [line for line in log_lines if "encrypted now" in line]
    assert len(sealed) == 1 and sealed[0].startswith("INFO"), log_lines
    assert "now at rest" not in "\n".join(log_lines)
    state = store.snapshot()
    await store.close()
    assert SECRET not in folder_bytes(config)
    return keyed, state  # type: ignore[return-value]


async def test_folder_session_is_encrypted_at_start(tmp_path: Path, log_lines: list[str]) -> None:
    keyed, _ = await plain_then_keyed(folder_config(tmp_path), log_lines)  # type: ignore[misc]
    assert "the folder encrypted now" in next(line for line in log_lines if "encrypted now" in line)
    again = await open_store(keyed)  # the next start: nothing left to encrypt, no second line
    await again.acquire_lease()
    await again.close()
    assert sum("encrypted now" in line for line in log_lines) == 1


@pytest.mark.mongo
async def test_both_copies_are_encrypted_at_start(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str, log_lines: list[str]
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    keyed, state = await plain_then_keyed(config, log_lines)  # type: ignore[misc]
    assert "the folder and MongoDB encrypted now" in next(line for line in log_lines if "encrypted now" in line)
    client: AsyncMongoClient = AsyncMongoClient(mongo_server.uri)  # type: ignore[type-arg]
    try:
        database = client[mongo_db_name]
        dumped = b""
        for name in await database.list_collection_names():
            async for document in database[name].find({}):
                dumped += bson.encode(document)
    finally:
        await client.close()
    assert dumped and SECRET not in dumped  # earlier plain change-log entries folded or replaced
    await assert_copies_equal(keyed, state)
