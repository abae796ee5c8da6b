"""End to end: the real `python bot.py`, the emulated server and a real MongoDB-protocol server (SecantusDB).

The session is written to MongoDB and to the local folder; these tests look at both copies from the
outside while the bot pairs, restarts, loses MongoDB at start or mid-run, and shares its session with a
second process. The bot's own storage timings are the defaults (`StoreConfig`: MongoDB calls time out
after 5 s, retried every 5 s; lease 30 s, renewed every 10 s, polled every 3 s): bot.py does not expose
them through the environment.
"""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from storage.errors import WrongEncryptionKeyError
from tests.e2e_session_support import (
    assert_copies_equal,
    assert_same_session,
    auth_dir,
    cancel,
    companion,
    expire_lease,
    folder_copy,
    logins,
    low_prekeys_notification,
    mongo_copy,
    mongo_env,
    mongo_settled,
    own_mongo,  # noqa: F401 - fixture
    pair,
    prekey_problems,
    raw_session,
    replaced_closes,
    start_logged_in,
)
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
BOT_JID = f"{PHONE}@s.whatsapp.net"
UNREACHABLE = "is unreachable"  # what the store says when MongoDB does not answer (storage/mongo.py)


async def test_pairing_writes_both_copies_and_a_wiped_disk_logs_in_from_mongodb(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    mongo_db_name: str,
) -> None:
    env = mongo_env(bot_env, mongo_server.uri, mongo_db_name)
    bot = await pair(server, bots, env)
    device = companion(server)
    await mongo_settled(mongo_server.uri, mongo_db_name)

    doc, key_docs, _lease = await raw_session(mongo_server.uri, mongo_db_name)
    assert doc is not None
    assert doc["connectionStatus"] == "open"
    assert doc["phoneNumber"] == PHONE
    assert doc["meId"] == str(device.jid)
    prekey_docs = [k for k in key_docs if k["type"] == "pre-key"]
    assert len(prekey_docs) == 812
    assert {int(k["id"]) for k in prekey_docs} == set(device.prekeys)  # exactly what the server received
    stored = await assert_copies_equal(env, mongo_server.uri, mongo_db_name)
    assert stored.creds is not None and stored.creds["me_id"] == doc["meId"]
    assert not prekey_problems(stored, "after pairing")
    await stop_gracefully(bot)
    doc, _keys, lease = await raw_session(mongo_server.uri, mongo_db_name)
    assert doc is not None and doc["connectionStatus"] == "closed"  # a SIGTERM is recorded as a clean close
    assert lease is not None and lease["owner"] is None  # and the lease is released for the next process

    # A redeploy on a fresh disk: the folder is gone, MongoDB brings the session back, no QR.
    shutil.rmtree(auth_dir(env))
    before = len(logins(server, device))
    again = await start_logged_in(bots, env)
    await again.wait_line("loaded from mongodb")
    assert len(logins(server, device)) == before + 1  # the same linked device logged in again
    assert len(server.account(PHONE).devices) == 2  # the phone and this one companion: no new device was linked
    await mongo_settled(mongo_server.uri, mongo_db_name)
    await assert_copies_equal(env, mongo_server.uri, mongo_db_name)  # the folder was rebuilt from MongoDB
    await stop_gracefully(again)


@pytest.mark.slow
async def test_mongodb_down_at_start_runs_on_the_folder_then_replays_when_it_returns(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    own_mongo: MongoTestServer,
    mongo_db_name: str,
) -> None:
    own_mongo.start()
    env = mongo_env(bot_env, own_mongo.uri, mongo_db_name)
    await stop_gracefully(await pair(server, bots, env))
    device = companion(server)
    paired_version = (await mongo_copy(own_mongo.uri, mongo_db_name)).version  # type: ignore[union-attr]

    await asyncio.to_thread(own_mongo.stop)
    bot = await start_logged_in(bots, env, timeout=40)
    warning = next(line for line in bot.lines if UNREACHABLE in line)
    assert "MongoDB" in warning and "starting from the folder copy" in warning
    assert "Traceback" not in "\n".join(bot.lines)

    # Changes made while MongoDB is away: the server says the pre-key pool is low, the bot makes and
    # uploads a new batch (ids bumped in the credentials + the keys, then the upload confirmation).
    mark = len(bot.lines)
    assert await server.send_to(device, low_prekeys_notification(3))
    await bot.wait_line("uploaded 97 prekeys", start=mark)
    local = folder_copy(env)
    assert local is not None and local.version > paired_version
    assert not prekey_problems(local, "folder while MongoDB is down")

    await asyncio.to_thread(own_mongo.start)
    await bot.wait_line("replayed \\d+ change\\(s\\) to MongoDB", timeout=30, start=mark)
    await bot.wait_line("MongoDB reachable again; both copies at version", timeout=10, start=mark)
    await mongo_settled(own_mongo.uri, mongo_db_name)
    stored = await assert_copies_equal(env, own_mongo.uri, mongo_db_name)  # while the bot still runs
    assert stored.version == local.version and not prekey_problems(stored, "MongoDB after the replay")
    doc, _keys, lease = await raw_session(own_mongo.uri, mongo_db_name)
    assert doc is not None and doc["connectionStatus"] == "open" and doc["phoneNumber"] == PHONE
    assert lease is not None and lease["owner"] is not None  # the lease was taken when MongoDB came back
    assert bot.proc is not None and bot.proc.returncode is None
    await stop_gracefully(bot)
    assert_same_session(stored, await mongo_copy(own_mongo.uri, mongo_db_name), "MongoDB before vs after the stop")
    await assert_copies_equal(env, own_mongo.uri, mongo_db_name)


@pytest.mark.slow
@pytest.mark.node
async def test_mongodb_stopped_mid_run_the_bot_keeps_answering_and_the_copies_converge(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    own_mongo: MongoTestServer,
    mongo_db_name: str,
    make_baileys: HarnessFactory,
    tmp_path: Path,
) -> None:
    own_mongo.start()
    env = mongo_env(bot_env, own_mongo.uri, mongo_db_name)
    bot = await pair(server, bots, env)
    assert bot.proc is not None
    pid = bot.proc.pid
    alice = await paired_baileys(server, make_baileys, tmp_path, "alice")
    pongs = 0

    async def ping() -> None:
        nonlocal pongs
        await alice.command("send_text", jid=BOT_JID, text="!ping")
        await alice.wait_for("message", lambda e: e["text"] == "pong" and not e["fromMe"], timeout=30)
        pongs += 1

    async def chatter() -> None:  # plain texts the bot decrypts (Signal session writes) between pings
        n = 0
        while True:
            n += 1
            await alice.command("send_text", jid=BOT_JID, text=f"hello {n}")
            await asyncio.sleep(0.05)

    await ping()
    device = companion(server)
    connections = len(logins(server, device))
    traffic = asyncio.create_task(chatter())
    try:
        await asyncio.sleep(0.5)
        mark = len(bot.lines)
        before_outage = folder_copy(env)
        await asyncio.to_thread(own_mongo.stop, signal.SIGKILL)  # mid-write, no goodbye
        await bot.wait_line("carrying on with the folder alone", timeout=20, start=mark)
        for _ in range(3):
            await ping()  # still answering with MongoDB gone
        outage_version = folder_copy(env)
        await asyncio.to_thread(own_mongo.start)
        await bot.wait_line("MongoDB reachable again; both copies at version", timeout=30, start=mark)
        replay = await bot.wait_line("replayed \\d+ change\\(s\\) to MongoDB|uploaded the whole session", start=mark)
        print("after the outage:", replay.string)
        for _ in range(2):
            await ping()
    finally:
        await cancel(traffic)
    assert bot.proc.returncode is None and bot.proc.pid == pid  # the same process all along ...
    assert len(logins(server, device)) == connections  # ... on the same connection (it never logged in again)
    assert pongs == 6
    assert before_outage is not None and outage_version is not None
    assert outage_version.version > before_outage.version  # the bot wrote while MongoDB was away
    await mongo_settled(own_mongo.uri, mongo_db_name)
    stored = await assert_copies_equal(env, own_mongo.uri, mongo_db_name)
    assert stored.version >= outage_version.version
    assert any(kind == "session" for kind, _ in stored.keys)  # the Signal sessions with alice are in both copies
    assert not prekey_problems(stored, "after the outage")
    await stop_gracefully(bot)
    await assert_copies_equal(env, own_mongo.uri, mongo_db_name)


@pytest.mark.slow
async def test_two_bots_on_one_session_one_connects_the_other_takes_over_after_a_sigkill(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    mongo_db_name: str,
    tmp_path: Path,
) -> None:
    shared = mongo_env(bot_env, mongo_server.uri, mongo_db_name)
    first = await pair(server, bots, {**shared, "AUTH_DIR": str(tmp_path / "dyno1")})
    device = companion(server)
    logged_in_before = len(logins(server, device))

    second = await launch(bots, {**shared, "AUTH_DIR": str(tmp_path / "dyno2")})
    await second.wait_line("in use by another instance")
    await asyncio.sleep(4)  # more than one lease poll: it keeps waiting
    assert not any(ONLINE in line or QR_LINE.search(line) for line in second.lines)
    assert len(logins(server, device)) == logged_in_before
    assert len(server.connections_of(device)) == 1
    assert not replaced_closes(server)

    first.send_signal(signal.SIGKILL)
    assert await first.wait_exit(5) == -signal.SIGKILL
    killed_at = time.monotonic()
    await second.wait_line(ONLINE, timeout=45)
    took_over = time.monotonic() - killed_at
    print(f"take-over after SIGKILL: {took_over:.1f} s (default lease 30 s, poll 3 s)")
    assert took_over <= 30 + 3 + 3  # within the lease expiry, plus one poll and start-up slack
    assert not any(QR_LINE.search(line) for line in second.lines)
    assert len(logins(server, device)) == logged_in_before + 1
    assert len(server.connections_of(device)) == 1
    assert not replaced_closes(server)  # no 440 at any point
    await stop_gracefully(second)


@pytest.mark.slow
async def test_sigterm_during_a_mongodb_outage_exits_cleanly_and_the_next_start_replays(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    own_mongo: MongoTestServer,
    mongo_db_name: str,
) -> None:
    """A redeploy while MongoDB is down: the stop stays within the platform's budget (exit 0, < 10 s) and the
    changes made on the folder alone reach MongoDB at the next start."""
    own_mongo.start()
    env = mongo_env(bot_env, own_mongo.uri, mongo_db_name)
    bot = await pair(server, bots, env)
    await mongo_settled(own_mongo.uri, mongo_db_name)
    await asyncio.to_thread(own_mongo.stop, signal.SIGKILL)
    mark = len(bot.lines)
    assert await server.send_to(companion(server), low_prekeys_notification(5))
    await bot.wait_line("uploaded 95 prekeys", start=mark, timeout=30)
    await bot.wait_line("carrying on with the folder alone", start=mark)
    local = folder_copy(env)
    assert local is not None and not prekey_problems(local, "folder during the outage")
    await stop_gracefully(bot)  # exit 0 within 10 s although MongoDB does not answer
    # ... and the store's own close finished (checkpoint, folder lock, client) inside the bot's budget
    assert not any("did not close cleanly" in line for line in bot.lines[mark:]), bot.tail()

    await asyncio.to_thread(own_mongo.start)
    stale = await mongo_copy(own_mongo.uri, mongo_db_name)
    assert stale is not None and stale.version < local.version  # MongoDB missed the outage's changes
    # The stop could not release the lease (MongoDB was down): the next start would wait for its 30 s expiry
    # ("in use by another instance"; see the take-over test). Let it expire now.
    await expire_lease(own_mongo.uri, mongo_db_name)
    again = await start_logged_in(bots, env)
    await again.wait_line("replayed \\d+ change\\(s\\) to MongoDB|uploaded the whole session")
    await mongo_settled(own_mongo.uri, mongo_db_name)
    stored = await assert_copies_equal(env, own_mongo.uri, mongo_db_name)
    assert stored.version >= local.version and not prekey_problems(stored, "after the replay")
    await stop_gracefully(again)


async def test_setting_an_encryption_key_later_seals_both_copies(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    mongo_db_name: str,
) -> None:
    env = mongo_env(bot_env, mongo_server.uri, mongo_db_name)
    await stop_gracefully(await pair(server, bots, env))
    plain = await mongo_copy(mongo_server.uri, mongo_db_name)

    key = "a passphrase set after the first deploy"
    sealed_env = {**env, "SESSION_ENCRYPTION_KEY": key}
    bot = await start_logged_in(bots, sealed_env)
    await mongo_settled(mongo_server.uri, mongo_db_name)
    await stop_gracefully(bot)

    doc, key_docs, _lease = await raw_session(mongo_server.uri, mongo_db_name)
    assert doc is not None and set(doc["credentials"]) == {"sealed"} and doc["encryption"]
    assert key_docs and all(k["sealed"] is True for k in key_docs)
    assert plain is not None
    assert not any(k["value"] == plain.keys.get((k["type"], k["id"])) for k in key_docs)  # no plaintext left
    stored = await assert_copies_equal(sealed_env, mongo_server.uri, mongo_db_name, key)
    assert stored.creds == plain.creds and stored.keys == plain.keys  # same session, now sealed
    with pytest.raises(WrongEncryptionKeyError):
        folder_copy(env)  # the folder needs the key too
    await stop_gracefully(await start_logged_in(bots, sealed_env))


async def test_unlinked_on_the_phone_both_copies_drop_the_old_device_and_hold_the_new_pairing(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    mongo_db_name: str,
) -> None:
    env = mongo_env(bot_env, mongo_server.uri, mongo_db_name)
    bot = await pair(server, bots, env)
    old = companion(server)
    before = await mongo_copy(mongo_server.uri, mongo_db_name)
    mark = len(bot.lines)
    await server.account(PHONE).phone.unlink(old)
    await bot.wait_line("logged out", start=mark)
    await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE, start=mark)).group(3))
    await bot.wait_line(ONLINE, start=mark)
    await bot.wait_line("uploaded 812 prekeys", start=mark)
    new = next(d for d in server.account(PHONE).devices.values() if not d.is_primary and not d.removed)
    assert new is not old
    await mongo_settled(mongo_server.uri, mongo_db_name)

    doc, key_docs, _lease = await raw_session(mongo_server.uri, mongo_db_name)
    assert doc is not None and doc["meId"] == str(new.jid) and doc["connectionStatus"] == "open"
    assert {int(k["id"]) for k in key_docs if k["type"] == "pre-key"} == set(new.prekeys)
    stored = await assert_copies_equal(env, mongo_server.uri, mongo_db_name)
    assert before is not None and stored.creds is not None
    assert stored.creds["identity_key"] != before.creds["identity_key"]  # type: ignore[index]
    # The old device's pre-keys are gone from both copies (the new ones reuse ids 1..812, with new values);
    # what the bot learns again about the account (the phone's identity, LID mappings) may come back equal.
    old_prekeys = {ref: value for ref, value in before.keys.items() if ref[0] == "pre-key"}
    assert not any(stored.keys.get(ref) == value for ref, value in old_prekeys.items())
    await stop_gracefully(bot)


FREEZE = 30.0  # seconds MongoDB is frozen; the contact writes every second meanwhile


@pytest.mark.slow
@pytest.mark.node
async def test_mongodb_frozen_30_s_never_stalls_the_connection_and_the_copies_converge(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    own_mongo: MongoTestServer,
    mongo_db_name: str,
    make_baileys: HarnessFactory,
    tmp_path: Path,
) -> None:
    """A network partition rather than a dead server: MongoDB stops answering (SIGSTOP) without closing its
    sockets. A MongoDB write unanswered for ~2 s is left to the outbox, so the stanza flow and the keepalive
    go on: no WhatsApp disconnect, every message answered; when MongoDB thaws, the outbox is replayed."""
    own_mongo.start()
    env = mongo_env(bot_env, own_mongo.uri, mongo_db_name)
    bot = await pair(server, bots, env)
    alice = await paired_baileys(server, make_baileys, tmp_path, "alice")
    assert own_mongo.process is not None
    device = companion(server)
    await alice.command("send_text", jid=BOT_JID, text="!ping warm-up")
    await alice.wait_for("message", lambda e: e["text"] == "pong" and not e["fromMe"], timeout=30)
    connections = len(logins(server, device))
    closes = sum(1 for ev in server.state.events.events if ev.kind == "closed")
    latencies: list[float] = []

    async def ping(n: int) -> None:
        sent = time.monotonic()
        await alice.command("send_text", jid=BOT_JID, text=f"!ping {n}")
        await alice.wait_for("message", lambda e: e["text"] == "pong" and not e["fromMe"], timeout=20)
        latencies.append(time.monotonic() - sent)

    mark = len(bot.lines)
    os.kill(own_mongo.process.pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        waits: list[asyncio.Task[None]] = []
        while time.monotonic() - frozen_at < FREEZE:
            waits.append(asyncio.create_task(ping(len(waits))))
            await asyncio.sleep(1.0)
        results = await asyncio.gather(*waits, return_exceptions=True)
        frozen_for = time.monotonic() - frozen_at
    finally:
        os.kill(own_mongo.process.pid, signal.SIGCONT)
    print(
        f"MongoDB frozen {frozen_for:.0f} s: {len(latencies)}/{len(waits)} messages answered, latency max "
        f"{max(latencies, default=0):.1f} s, median {sorted(latencies)[len(latencies) // 2] if latencies else 0:.1f} s"
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed and len(latencies) == len(waits) >= FREEZE - 1, (failed[:1], bot.tail())
    assert max(latencies) < 8.0  # the first write waits its 2 s bound at most; nothing waits on MongoDB after
    await bot.wait_line("carrying on with the folder alone", start=mark)
    assert len(logins(server, device)) == connections  # never logged in again: the same connection throughout
    assert sum(1 for ev in server.state.events.events if ev.kind == "closed") == closes  # no disconnect
    await bot.wait_line("MongoDB reachable again; both copies at version", timeout=60, start=mark)
    assert bot.proc is not None and bot.proc.returncode is None
    await mongo_settled(own_mongo.uri, mongo_db_name)
    await assert_copies_equal(env, own_mongo.uri, mongo_db_name)
    await stop_gracefully(bot)
