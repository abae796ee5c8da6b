"""The change-log commit protocol (storage/changelog.py) against both server modes, including crashes
between any two of its writes.

A crash is a process that stops after its N-th write to MongoDB: `Crashing` wraps the real collections
(the writes before the N-th reach the real server, a bulk write counts one write per operation) and
raises `Crash` at the N-th. After every crash point a fresh load must show whole units of work only,
and the next fold must complete the work.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from storage.changelog import ChangeLog, VersionConflict
from storage.errors import LeaseLostError
from storage.model import Change, KeyRef, Snapshot, new_change_id
from storage.mongo import MongoStore
from storage.mongo_codec import PART_BYTES
from tests.fixtures.mongo import MongoTestServer

pytestmark = pytest.mark.mongo
SID = "log"


class Crash(Exception):
    """The simulated process died here."""


class Budget:
    def __init__(self, writes: int) -> None:
        self.left = writes

    def spend(self) -> None:
        if self.left <= 0:
            raise Crash
        self.left -= 1


class Crashing:
    """A collection whose writes stop at the budget; reads pass through."""

    def __init__(self, collection: Any, budget: Budget) -> None:
        self._collection = collection
        self._budget = budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def _writer(name: str) -> Any:  # type: ignore[misc] # a method factory used in the class body
        async def write(self: Crashing, *args: Any, **kwargs: Any) -> Any:
            self._budget.spend()
            return await getattr(self._collection, name)(*args, **kwargs)

        return write

    insert_one = _writer("insert_one")
    insert_many = _writer("insert_many")
    update_one = _writer("update_one")
    update_many = _writer("update_many")
    delete_many = _writer("delete_many")

    async def bulk_write(self, operations: list[Any], **kwargs: Any) -> None:
        for operation in operations:  # a crash may stop a bulk write anywhere in it
            self._budget.spend()
            await self._collection.bulk_write([operation], **kwargs)


def crashing(mongo: MongoStore, writes: int) -> ChangeLog:
    budget = Budget(writes)
    for name in ("sessions", "keys", "changes", "parts"):
        setattr(mongo, name, Crashing(getattr(mongo, name), budget))
    return ChangeLog(mongo)


def store_for(server: MongoTestServer, db: str) -> MongoStore:
    return MongoStore(server.uri, db, SID, None, timeout=5.0)


def change(version: int, parent: str, keys: dict[KeyRef, bytes | None], counter: int, reset: bool = False) -> Change:
    return Change(version, "L", {"counter": counter}, keys, reset=reset, id=new_change_id(), parent=parent)


def history() -> Iterator[tuple[Change, Snapshot]]:
    """Units of work of every shape, each with the state it leads to."""
    state = Snapshot("", 0, None)
    shapes: list[tuple[dict[KeyRef, bytes | None], bool]] = [
        ({("session", f"p{i}.0"): bytes([1, i]) * 50 for i in range(6)} | {("pre-key", "1"): b"k1"}, False),
        ({("session", "p0.0"): b"two", ("pre-key", "1"): None, ("pre-key", "2"): b"k2"}, False),
        ({("session", "p1.0"): None, ("sender-key", "g::u::1"): b"s"}, False),
        ({("session", "p9.0"): b"after reset", ("pre-key", "3"): b"k3"}, True),
        ({("session", "p9.0"): b"again", ("pre-key", "3"): None}, False),
    ]
    for n, (keys, reset) in enumerate(shapes, start=1):
        unit = change(n, state.head, keys, n, reset)
        state = Snapshot(state.lineage, state.version, state.creds, dict(state.keys), state.head)
        state.apply(unit)
        yield unit, state


def same(a: Snapshot | None, b: Snapshot) -> bool:
    return a is not None and (a.version, a.head, a.creds, a.keys) == (b.version, b.head, b.creds, b.keys)


async def prepare(server: MongoTestServer, db: str) -> MongoStore:
    mongo = store_for(server, db)
    await mongo.ensure_indexes()
    assert await mongo.try_acquire_lease("writer", 30) == 1
    return mongo


async def test_standalone_refuses_transactions_and_the_store_needs_none(
    mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server.uri)
    try:
        async with client.start_session() as session:
            if mongo_server.mode == "standalone":
                with pytest.raises(OperationFailure) as info:
                    async with await session.start_transaction():
                        await client[mongo_db_name].probe.insert_one({"a": 1}, session=session)
                assert info.value.code == 20 and "only allowed on a replica set member or mongos" in str(info.value)
            else:
                async with await session.start_transaction():
                    await client[mongo_db_name].probe.insert_one({"a": 1}, session=session)
    finally:
        await client.close()
    mongo = await prepare(mongo_server, mongo_db_name)
    try:
        expected = "standalone" if mongo_server.mode == "standalone" else "replica set secantus"
        assert await mongo.topology() == expected
        log = ChangeLog(mongo)
        for unit, state in history():
            await log.commit(unit, 1)
            assert same((await log.load()).snapshot, state)
            await log.fold()
            assert same((await log.load()).snapshot, state)
    finally:
        await mongo.close()


async def test_a_crash_between_any_two_fold_writes_leaves_whole_units(
    mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    mongo = await prepare(mongo_server, mongo_db_name)
    units = list(history())
    try:
        for unit, _state in units:
            await ChangeLog(mongo).commit(unit, 1)
        final = units[-1][1]
        crash_points = 0
        while True:
            # Each round: a process folds and dies after `crash_points` writes; then a reader loads.
            db = mongo.client[mongo_db_name]
            before = {name: await db[name].find({}).to_list(None) for name in await db.list_collection_names()}
            probe = store_for(mongo_server, mongo_db_name)
            try:
                await crashing(probe, crash_points).fold()
                finished = True
            except Crash:
                finished = False
            finally:
                await probe.close()
            assert same((await ChangeLog(mongo).load()).snapshot, final), f"crash after {crash_points} writes"
            if finished:
                break
            for name, docs in before.items():  # the next crash point starts from the same state
                await db[name].delete_many({})
                if docs:
                    await db[name].insert_many(docs)
            crash_points += 1
        assert crash_points > 10  # the folds did write in many steps
        await ChangeLog(mongo).fold()
        doc = await mongo.sessions.find_one({"_id": SID})
        assert doc is not None and doc["version"] == final.version  # folded all the way
    finally:
        await mongo.close()


async def test_a_crash_while_writing_a_large_unit_leaves_nothing_visible(
    mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    mongo = await prepare(mongo_server, mongo_db_name)
    log = ChangeLog(mongo)
    try:
        first, state = next(history())
        await log.commit(first, 1)
        big = {("session", f"big{i}.0"): os.urandom(900_000) for i in range(int(PART_BYTES * 2.5) // 900_000)}
        large = change(2, first.id, big, 2)
        for crash_after in range(3):  # parts cleared, parts written, (entry never written)
            probe = store_for(mongo_server, mongo_db_name)
            with pytest.raises(Crash):
                await crashing(probe, crash_after).commit(large, 1)
            await probe.close()
            assert same((await log.load()).snapshot, state)
        await log.commit(large, 1)  # the retry lands (its leftover parts are replaced)
        assert await mongo.parts.count_documents({"sessionId": SID}) >= 2
        after = Snapshot(state.lineage, state.version, state.creds, dict(state.keys), state.head)
        after.apply(large)
        assert same((await log.load()).snapshot, after)
        await log.fold()
        await log.commit(change(3, large.id, {("pre-key", "9"): b"x"}, 3), 1)
        await log.fold()  # prunes what the first fold folded, parts included
        assert await mongo.parts.count_documents({"sessionId": SID}) == 0
        loaded = (await log.load()).snapshot
        assert loaded is not None and loaded.keys[("session", "big0.0")] == big[("session", "big0.0")]
    finally:
        await mongo.close()


async def test_the_fence_stops_a_process_that_lost_its_lease(mongo_server: MongoTestServer, mongo_db_name: str) -> None:
    mongo = await prepare(mongo_server, mongo_db_name)
    log = ChangeLog(mongo)
    try:
        first, _state = next(history())
        await log.commit(first, 1)
        await log.commit(first, 1)  # the same unit again (an attempt that timed out had landed): no error
        fence = Change(2, "L", parent=first.id)
        await log.commit(fence, 2)  # the new owner (token 2) takes the next slot
        stale = change(2, first.id, {("session", "x.0"): b"stale"}, 99)
        with pytest.raises(LeaseLostError, match="token 2"):
            await log.commit(stale, 1)
        own_again = change(2, first.id, {("session", "x.0"): b"other"}, 98)
        with pytest.raises(VersionConflict):
            await log.commit(own_again, 2)  # a slot taken by another change of the same owner: never overwritten
        loaded = (await log.load()).snapshot
        assert loaded is not None and loaded.head == fence.id and ("session", "x.0") not in loaded.keys
    finally:
        await mongo.close()


async def test_a_stale_fold_never_moves_anything_back(mongo_server: MongoTestServer, mongo_db_name: str) -> None:
    mongo = await prepare(mongo_server, mongo_db_name)
    log = ChangeLog(mongo)
    try:
        units = list(history())
        old_entries = []
        for unit, _state in units:
            await log.commit(unit, 1)
            old_entries.append(await mongo.changes.find_one({"version": unit.version, "sessionId": SID}))
        await log.fold()
        await log.fold()
        db = mongo.client[mongo_db_name]
        doc_before = await db.whatsapp_sessions.find_one({"_id": SID}, {"updatedAt": 0, "foldedAt": 0})
        assert doc_before is not None
        live = {"version": {"$gte": doc_before["resetVersion"]}}  # what loads read (older ones are below the reset)
        keys_before = await db.whatsapp_session_keys.find(live, {"_id": 0, "updatedAt": 0}).sort("id").to_list(None)
        # A process frozen since it read the early entries (before the reset) wakes up and folds them.
        for entry in old_entries[:3]:
            await log._fold_segment([entry])
        after = await db.whatsapp_session_keys.find(live, {"_id": 0, "updatedAt": 0}).sort("id").to_list(None)
        assert after == keys_before
        assert await db.whatsapp_sessions.find_one({"_id": SID}, {"updatedAt": 0, "foldedAt": 0}) == doc_before
        assert same((await log.load()).snapshot, units[-1][1])
        await log.purge()  # what it may have re-created below the reset is swept
        assert await db.whatsapp_session_keys.count_documents({"version": {"$lt": doc_before["resetVersion"]}}) == 0
    finally:
        await mongo.close()


async def test_readers_racing_commits_and_folds_see_whole_units(
    mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    mongo = await prepare(mongo_server, mongo_db_name)
    log = ChangeLog(mongo)
    reader_store = store_for(mongo_server, mongo_db_name)
    reader = ChangeLog(reader_store)
    stop = asyncio.Event()
    loads = 0

    async def read() -> None:
        nonlocal loads
        while not stop.is_set():
            snapshot = (await reader.load()).snapshot
            loads += 1
            if snapshot is None:
                continue
            counter = snapshot.creds["counter"] if snapshot.creds else 0
            values = {ref: value for ref, value in snapshot.keys.items() if ref[0] == "session"}
            assert values == {("session", f"p{i}.0"): f"{counter}:{i}".encode() for i in range(8)}, counter
            assert {ref[1] for ref in snapshot.keys if ref[0] == "pre-key"} == {str(counter)}

    try:
        task = asyncio.create_task(read())
        head = ""
        for counter in range(1, 40):
            keys: dict[KeyRef, bytes | None] = {("session", f"p{i}.0"): f"{counter}:{i}".encode() for i in range(8)}
            keys[("pre-key", str(counter))] = b"k"
            if counter > 1:
                keys[("pre-key", str(counter - 1))] = None
            unit = change(counter, head, keys, counter)
            await log.commit(unit, 1)
            head = unit.id
            if counter % 3 == 0:
                await log.fold()
            await asyncio.sleep(0)
        stop.set()
        await task
        assert loads > 10
    finally:
        stop.set()
        await reader_store.close()
        await mongo.close()
