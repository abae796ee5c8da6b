"""Helpers for the end-to-end session-storage tests: the real `python bot.py`, the emulator and SecantusDB.

The bot process helpers (`BotProcess`, `launch`, `stop_gracefully`, the `server` / `bot_env` / `bots`
fixtures) come from tests/test_bot_process.py; this module adds what the storage scenarios need:
reading both stored copies from outside the bot, checking them against each other and against the
pre-key invariant, expiring a dead process's lease, and a MongoDB server of their own to stop and start.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from storage.folder import FolderStore
from storage.model import Snapshot
from storage.mongo import CHANGES, KEYS, LEASES, SESSIONS
from tests.fixtures.mongo import MODES, MongoTestServer
from tests.storage_helpers import mongo_snapshot
from tests.test_bot_process import ONLINE, PHONE, QR_LINE, BotProcess, launch
from whatsapp.binary import Node
from whatsapp.creds import Credentials
from whatsapp.testing import EmulatedServer
from whatsapp.testing.state import Device

SESSION_ID = "test"  # what the `bot_env` fixture of test_bot_process sets


@pytest.fixture(scope="module", params=MODES)
def own_mongo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoTestServer]:
    """A MongoDB test server of this module's own: these tests stop and start it (the shared one stays up).
    Both server modes, as `mongo_server` (tests/fixtures/mongo.py)."""
    server = MongoTestServer(tmp_path_factory.mktemp(f"e2e-mongo-{request.param}"), mode=request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mongo_env(env: dict[str, str], uri: str, db: str, **extra: str) -> dict[str, str]:
    return {**env, "MONGODB_URI": uri, "MONGODB_DB": db, **extra}


def auth_dir(env: dict[str, str]) -> Path:
    return Path(env["AUTH_DIR"])


def companion(server: EmulatedServer, phone: str = PHONE) -> Device:
    """The bot's linked device on the emulator (there is one companion per test account)."""
    return next(d for d in server.account(phone).devices.values() if not d.is_primary)


def logins(server: EmulatedServer, device: Device) -> list[Any]:
    return [ev for ev in server.state.events.events if ev.kind == "logged_in" and ev.device is device]


def replaced_closes(server: EmulatedServer) -> list[Any]:
    """Connections the emulator closed with `<conflict type="replaced">` (what Baileys reports as 440)."""
    return [ev for ev in server.state.events.events if ev.kind == "closed" and "replaced" in str(ev.data)]


async def pair(server: EmulatedServer, bots: list[BotProcess], env: dict[str, str]) -> BotProcess:
    """Start a bot on an empty session, scan its QR, wait until it is online with its first prekeys up."""
    bot = await launch(bots, env)
    await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
    await bot.wait_line(ONLINE)
    await bot.wait_line("uploaded 812 prekeys")
    return bot


async def start_logged_in(bots: list[BotProcess], env: dict[str, str], timeout: float = 30.0) -> BotProcess:
    """Start a bot on a stored session: it must come online and never show a QR."""
    bot = await launch(bots, env)
    await bot.wait_any([re_compile(ONLINE), QR_LINE], timeout=timeout)
    assert not any(QR_LINE.search(line) for line in bot.lines), "a stored session must not pair again:\n" + bot.tail()
    return bot


def re_compile(text: str) -> re.Pattern[str]:
    """A pattern matching `text` literally (for `BotProcess.wait_any`)."""
    return re.compile(re.escape(text))


# ---- the stored copies, read from outside the bot -----------------------------------------------------------


def folder_copy(env: dict[str, str], key: str | None = None) -> Snapshot | None:
    """The folder's session as a fresh process would load it (journal applied in memory; writes nothing)."""
    return FolderStore(auth_dir(env), SESSION_ID, key).load().snapshot


async def mongo_copy(uri: str, db: str, key: str | None = None) -> Snapshot | None:
    return await mongo_snapshot(uri, db, SESSION_ID, key)


def assert_same_session(a: Snapshot | None, b: Snapshot | None, what: str) -> None:
    assert a is not None and b is not None, what
    assert (a.lineage, a.version, a.head) == (b.lineage, b.version, b.head), what
    assert a.creds == b.creds, f"{what}: credentials differ"
    missing, extra = set(a.keys) - set(b.keys), set(b.keys) - set(a.keys)
    assert not missing and not extra, f"{what}: keys only in one: {sorted(missing)[:5]} / {sorted(extra)[:5]}"
    differ = [ref for ref in a.keys if a.keys[ref] != b.keys[ref]]
    assert not differ, f"{what}: {len(differ)} key value(s) differ, e.g. {differ[:3]}"


async def assert_copies_equal(env: dict[str, str], uri: str, db: str, key: str | None = None) -> Snapshot:
    stored, local = await mongo_copy(uri, db, key), folder_copy(env, key)
    assert_same_session(stored, local, "MongoDB copy vs folder copy")
    assert stored is not None
    return stored


async def mongo_settled(uri: str, db: str, quiet: float = 0.8, timeout: float = 30.0) -> int:
    """Wait until MongoDB's session stops moving for `quiet` seconds with everything folded (the session and
    key documents show the last unit of work, storage/changelog.py); that version."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, serverSelectionTimeoutMS=2000)
    try:
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            doc = await client[db][SESSIONS].find_one({"_id": SESSION_ID}, {"version": 1})
            newest = await client[db][CHANGES].find_one(
                {"sessionId": SESSION_ID}, {"version": 1}, sort=[("version", -1)]
            )
            folded = int(doc["version"]) if doc else 0
            state = (folded, int(newest["version"]) if newest else folded)
            if state != last or state[0] < state[1]:
                last, since = state, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return folded
            await asyncio.sleep(0.1)
        raise AssertionError(f"MongoDB's session kept moving or stayed unfolded for {timeout}s (last {last})")
    finally:
        await client.close()


def prekey_problems(snapshot: Snapshot | None, where: str) -> list[str]:
    """Why the credentials and the stored pre-keys disagree (empty when consistent).

    Ids come from `creds.next_prekey_id` and are committed with the keys in one unit of work, so every
    stored pre-key id is below it; ids from `first_unuploaded_prekey_id` up are generated but not yet
    confirmed by the server and must all be stored (they are uploaded again). Used keys are deleted, so
    ids below `first_unuploaded_prekey_id` may be missing.
    """
    if snapshot is None or snapshot.creds is None:
        return [f"{where}: no session"]
    creds = Credentials.from_dict(snapshot.creds)
    ids = {int(key_id) for kind, key_id in snapshot.keys if kind == "pre-key"}
    problems = []
    if not creds.paired:
        problems.append(f"{where}: credentials are not paired")
    ahead = sorted(i for i in ids if i >= creds.next_prekey_id)
    if ahead:
        problems.append(f"{where}: pre-keys {ahead[:5]}... stored beyond next_prekey_id {creds.next_prekey_id}")
    if not creds.first_unuploaded_prekey_id <= creds.next_prekey_id:
        problems.append(f"{where}: first_unuploaded {creds.first_unuploaded_prekey_id} > next {creds.next_prekey_id}")
    pending = set(range(creds.first_unuploaded_prekey_id, creds.next_prekey_id))
    if pending - ids:
        problems.append(f"{where}: pending pre-keys {sorted(pending - ids)[:5]}... missing (creds ahead of keys)")
    return problems


async def raw_session(uri: str, db: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any] | None]:
    """The session document, its live key documents (sorted) and the lease document, as stored."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, serverSelectionTimeoutMS=3000)
    try:
        database = client[db]
        doc = await database[SESSIONS].find_one({"_id": SESSION_ID})
        live = {"sessionId": SESSION_ID, "deleted": {"$ne": True}}  # tombstones of deleted keys left out
        keys = await database[KEYS].find(live).sort([("type", 1), ("id", 1)]).to_list(None)
        lease = await database[LEASES].find_one({"_id": SESSION_ID})
        return doc, keys, lease
    finally:
        await client.close()


async def settled_session(
    uri: str, db: str, *, interval: float = 0.5, attempts: int = 40
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any] | None]:
    """`raw_session` once MongoDB has stopped changing: a stopped bot may leave its last background fold
    (an unordered bulk write of key documents) still being applied by the server after the process exited.
    That is safe by design (folds are versioned, loads read only up to the fold point), but a test that
    compares documents before and after a refused start must take its baseline after it settles."""
    import asyncio

    previous = await raw_session(uri, db)
    for _ in range(attempts):
        await asyncio.sleep(interval)
        current = await raw_session(uri, db)
        if current == previous:
            return current
        previous = current
    raise AssertionError(f"MongoDB documents still changing after {interval * attempts:.0f} s")


async def expire_lease(uri: str, db: str) -> None:
    """Stand in for the lease expiry (30 s by default, not settable through the bot's environment) after a
    SIGKILL: the dead owner renews nothing, so the next process could take over once this time passes."""
    from datetime import UTC, datetime, timedelta

    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, serverSelectionTimeoutMS=3000)
    try:
        await client[db][LEASES].update_one(
            {"_id": SESSION_ID}, {"$set": {"expiresAt": datetime.now(UTC) - timedelta(seconds=1)}}
        )
    finally:
        await client.close()


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path → content), to show a failed start changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def low_prekeys_notification(count: int = 3, stanza_id: str = "lowkeys") -> Node:
    """What the server pushes when the device's one-time pre-key pool runs low: the bot refills it."""
    return Node(
        "notification",
        {"from": "s.whatsapp.net", "type": "encrypt", "id": stanza_id, "t": str(int(time.time()))},
        [Node("count", {"value": str(count)})],
    )


async def cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
