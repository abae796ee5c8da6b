"""SIGKILL during a signed-prekey rotation: `python bot.py` commits the new key, the server has not answered the
rotate IQ yet, the process dies. The store holds the new key (pending) and the old one (retired), never half of
either; the next start uploads that same key, no other, and the bot still decrypts and answers."""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are used as parameters

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.e2e_session_support import companion, folder_copy, pair
from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import paired_baileys
from tests.test_bot_process import (  # noqa: F401 - fixtures
    ONLINE,
    PHONE,
    BotProcess,
    bot_env,
    bots,
    launch,
    server,
    stop_gracefully,
)
from whatsapp.binary import Node
from whatsapp.creds import Credentials
from whatsapp.testing import EmulatedServer
from whatsapp.testing import prekeys as emulator_prekeys
from whatsapp.testing.dispatch import ANSWERED, HandlerContext, IQResult

BOT_JID = f"{PHONE}@s.whatsapp.net"


def _stored_creds(env: dict[str, str]) -> Credentials:
    snapshot = folder_copy(env)
    assert snapshot is not None and snapshot.creds is not None
    return Credentials.from_dict(snapshot.creds)


async def test_sigkill_during_a_rotation_leaves_a_consistent_store_and_the_next_start_finishes_it(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess], make_baileys: HarnessFactory,
    tmp_path: Path,
) -> None:
    bot = await pair(server, bots, bot_env)
    await stop_gracefully(bot)
    device = companion(server)
    assert device.signed_prekey is not None
    old = _stored_creds(bot_env).signed_prekey
    arrived, killed = asyncio.Event(), asyncio.Event()

    async def never_answer(context: HandlerContext, node: Node) -> IQResult:
        arrived.set()
        await killed.wait()  # the process dies before any answer
        return ANSWERED

    server.handlers.iq("encrypt", "set", "rotate")(never_answer)
    due = await launch(bots, {**bot_env, "SIGNED_PREKEY_ROTATION_DAYS": "0.00001"})  # due at login
    await asyncio.wait_for(arrived.wait(), 30)
    due.send_signal(signal.SIGKILL)
    await due.wait_exit(10)
    killed.set()

    pending = _stored_creds(bot_env)
    assert pending.signed_prekey.key_id == old.key_id + 1 and not pending.signed_prekey_uploaded
    assert pending.signed_prekey_pair(old.key_id) == old.key_pair  # the old key is kept for its grace
    assert device.signed_prekey.key_id == old.key_id  # the server never took the new one

    server.handlers.iq("encrypt", "set", "rotate")(emulator_prekeys.rotate)
    again = await launch(bots, bot_env)
    await again.wait_line("committed but not confirmed; uploading it again", timeout=30)
    await again.wait_line(r"signed prekey \d+ uploaded", timeout=30)
    finished = _stored_creds(bot_env)
    assert finished.signed_prekey == pending.signed_prekey and finished.signed_prekey_uploaded
    assert device.signed_prekey.key_id == pending.signed_prekey.key_id
    assert device.signed_prekey.public == pending.signed_prekey.key_pair.public
    alice = await paired_baileys(server, make_baileys, tmp_path, "alice")  # fetches the new bundle
    await alice.command("send_text", jid=BOT_JID, text="!ping")
    await alice.wait_for("message", lambda e: e["text"] == "pong" and not e["fromMe"], timeout=30)
    await stop_gracefully(again)
