"""End to end: SIGKILL the real `python bot.py` at random moments while it writes keys, 30 times in a row
in each MongoDB server mode.

Traffic for each burst: a real Baileys client (alice) sends texts and a `!ping` to the bot (the bot
decrypts them and encrypts its `pong`: Signal session writes), and the emulated server pushes a
low-prekey `<notification type="encrypt">` (the bot commits a new batch of pre-keys with the bumped
`next_prekey_id`, uploads it, then commits the upload confirmation). After every kill, both stored
copies (the folder and MongoDB, read from outside) must load, with credentials that agree with their
pre-keys, and the restarted bot must log in with no QR.

One emulator, one MongoDB database and one Baileys client serve all trials. The dead process's lease
would block the restart for its 30 s expiry (not settable through the bot's environment), so the test
moves that expiry into the past after each kill (`expire_lease`).
"""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from storage.errors import CorruptSessionError
from tests.e2e_session_support import (
    assert_copies_equal,
    cancel,
    companion,
    expire_lease,
    folder_copy,
    low_prekeys_notification,
    mongo_copy,
    mongo_env,
    mongo_settled,
    pair,
    prekey_problems,
    re_compile,
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
from whatsapp.testing import EmulatedServer

# Per MongoDB server mode (the fixture runs this test against both; they share one commit protocol, so
# 30 + 30 kills cover more than the 50 of one mode did, in about the same CI time).
TRIALS = 30
PAIRING_TRIALS = 5
BOT_JID = f"{PHONE}@s.whatsapp.net"


async def burst(server: EmulatedServer, alice: BaileysHarness, rng: random.Random, trial: int) -> None:
    """Texts and a !ping from alice, with a low-prekey notification somewhere in the middle (every other trial:
    each one adds ~100 pre-keys to the session)."""
    device = companion(server)
    refill_at = rng.randrange(6) if trial % 2 == 0 else -1
    for n in range(6):
        if n == refill_at:
            await server.send_to(device, low_prekeys_notification(rng.randrange(20), f"low{trial}"))
        text = "!ping" if n == 3 else f"burst {trial}.{n}"
        await alice.command("send_text", jid=BOT_JID, text=text)


async def check_both_copies(env: dict[str, str], uri: str, db: str, where: str) -> tuple[int, int]:
    try:
        local = folder_copy(env)
    except CorruptSessionError as exc:  # a torn or half-written file
        raise AssertionError(f"{where}: the folder does not load: {exc}") from None
    stored = await mongo_copy(uri, db)
    problems = prekey_problems(local, f"{where}, folder") + prekey_problems(stored, f"{where}, MongoDB")
    assert not problems, "\n".join(problems)
    assert local is not None and stored is not None and local.lineage == stored.lineage
    # MongoDB first, then the folder: a kill between the two leaves the folder one unit of work behind, never more
    # and never ahead (the restart then takes MongoDB's copy and rewrites the folder).
    assert stored.version - 1 <= local.version <= stored.version, (where, local.version, stored.version)
    return local.version, stored.version


@pytest.mark.slow
@pytest.mark.mongo
@pytest.mark.node
async def test_sigkill_during_key_write_bursts_every_restart_is_consistent_and_logs_in(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    mongo_db_name: str,
    make_baileys: HarnessFactory,
    tmp_path: Path,
) -> None:
    rng = random.Random(f"20261124-{mongo_server.mode}")  # other kill moments in each mode
    uri = mongo_server.uri
    env = mongo_env(bot_env, uri, mongo_db_name)
    await stop_gracefully(await pair(server, bots, env))
    alice = await paired_baileys(server, make_baileys, tmp_path, "alice")
    started = time.monotonic()
    versions: list[tuple[int, int]] = []
    for trial in range(TRIALS):
        bot = await start_logged_in(bots, env)  # also the check of the previous kill: online, no QR
        traffic = asyncio.create_task(burst(server, alice, rng, trial))
        await asyncio.sleep(rng.uniform(0.0, 0.35))
        await bot.kill()
        await cancel(traffic)
        assert "Traceback" not in "\n".join(bot.lines), bot.tail()
        versions.append(await check_both_copies(env, uri, mongo_db_name, f"trial {trial}"))
        bots.remove(bot)
        await expire_lease(uri, mongo_db_name)
    elapsed = time.monotonic() - started

    last = await start_logged_in(bots, env)
    await mongo_settled(uri, mongo_db_name)
    stored = await assert_copies_equal(env, uri, mongo_db_name)  # the last take-over made them equal again
    assert not prekey_problems(stored, "final")
    await stop_gracefully(last)
    folder_behind = sum(1 for local, remote in versions if local < remote)
    print(
        f"{TRIALS} SIGKILL trials in {elapsed:.1f} s; versions {versions[0]} .. {versions[-1]}; "
        f"{folder_behind} kill(s) left the folder one commit behind MongoDB; {len(stored.keys)} keys at the end"
    )
    assert versions[-1][0] > versions[0][0]  # the bursts did write


@pytest.mark.slow
@pytest.mark.mongo
async def test_sigkill_during_pairing_with_mongodb_never_leaves_a_half_linked_session(
    server: EmulatedServer,
    bot_env: dict[str, str],
    bots: list[BotProcess],
    mongo_server: MongoTestServer,
    tmp_path: Path,
) -> None:
    """Killed between the phone's scan and the first login: the restart logs in (the pairing was committed to
    both copies) or shows a new QR (it was not), and that pairing then works; never a broken session."""
    rng = random.Random(515)
    phone = server.account(PHONE).phone
    outcomes: list[str] = []
    for trial in range(PAIRING_TRIALS):
        db = f"e2e_pairkill_{trial}_{rng.getrandbits(32):08x}"
        env = mongo_env({**bot_env, "AUTH_DIR": str(tmp_path / f"pair{trial}")}, mongo_server.uri, db)
        bot = await launch(bots, env)
        scan = asyncio.create_task(phone.scan_qr((await bot.wait_line(QR_LINE)).group(3)))
        await asyncio.sleep(rng.uniform(0.0, 0.012) if trial % 2 else rng.uniform(0.012, 0.15))
        await bot.kill()
        await cancel(scan)
        bots.remove(bot)
        await expire_lease(mongo_server.uri, db)

        again = await launch(bots, env)
        match = await again.wait_any([re_compile(ONLINE), QR_LINE], timeout=30)
        outcome = "login"
        if match.re is QR_LINE:
            outcome = "new pairing"
            await phone.scan_qr(match.group(3))
            await again.wait_line(ONLINE)
        await asyncio.sleep(0.5)  # the prekey check after login (an upload if the kill came before it)
        await mongo_settled(mongo_server.uri, db)
        stored = await assert_copies_equal(env, mongo_server.uri, db)
        assert not prekey_problems(stored, f"pairing trial {trial}")
        await stop_gracefully(again)
        outcomes.append(outcome)
    print("SIGKILL during pairing (MongoDB):", {o: outcomes.count(o) for o in set(outcomes)})
