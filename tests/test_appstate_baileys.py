"""App state written by a Baileys 7 companion, read by our bot on the same account (issue 14).

The emulator (whatsapp/testing/app_state.py) keeps the patches without a key and only numbers them; the
phone shares the account's key with both companions (`ServerSettings.app_state_keys`). Baileys pins, mutes
and renames with its own `chatModify`/`addOrEditContact`; our bot hears `server_sync`, fetches, verifies the
MACs and LTHash, and shows the new state. A patch the server damages is refused with one warning line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from whatsapp.events_appstate import AppStateSynced, ChatSettingChanged, ContactUpdated
from whatsapp.jid import JID
from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.baileys import BaileysHarness, HarnessFactory, pair_baileys_by_qr
from whatsapp.testing.harness.peers import PEOPLE, paired_python, pn

ME = PEOPLE["py"][0]


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(f"{m.record['name']} {m.record['message']}"), level="WARNING")
    yield lines
    logger.remove(sink)


async def _key_shared(harness: BaileysHarness, timeout: float = 20.0) -> str:
    async with asyncio.timeout(timeout):
        while (key_id := await harness.app_state_key_id()) is None:
            await asyncio.sleep(0.1)
    return key_id


async def test_baileys_pins_mutes_and_renames_and_a_tampered_patch_is_refused(
    make_baileys: HarnessFactory, tmp_path: Path, warnings: list[str]
) -> None:
    async with EmulatedServer() as server:
        server.settings.app_state_keys = True
        server.create_account(ME, push_name="Py")
        for name in ("alice", "bob"):
            server.create_account(PEOPLE[name][0], push_name=PEOPLE[name][1])
        bot = await paired_python(server)
        try:
            await bot.wait_count(AppStateSynced, 5)  # the key share: every collection fetched, all empty
            harness = await make_baileys(server, tmp_path / "baileys")
            await pair_baileys_by_qr(server, harness, ME)
            key_id = await _key_shared(harness)
            assert key_id  # the same key the phone shared with our bot

            bob, alice = JID.parse(pn("bob")), JID.parse(pn("alice"))
            await harness.chat_modify(pn("bob"), "pin", True)
            pinned = await bot.wait(ChatSettingChanged, lambda e: e.setting == "pin")
            assert pinned.chat == bob and pinned.value
            mute_end = 1_900_000_000_000
            await harness.chat_modify(pn("bob"), "mute", mute_end)
            muted = await bot.wait(ChatSettingChanged, lambda e: e.setting == "mute")
            assert muted.chat == bob and muted.value and muted.mute_end == mute_end
            await harness.chat_modify(pn("alice"), "contact", {"fullName": "Alice Liddell", "firstName": "Alice"})
            renamed = await bot.wait(ContactUpdated)
            assert renamed.jid == alice and renamed.full_name == "Alice Liddell" and renamed.first_name == "Alice"

            settings = await bot.client.chat_settings(bob)
            assert settings.pinned and settings.muted_until == mute_end and not settings.archived
            assert await bot.client.contact_name(alice) == "Alice Liddell"
            synced = {e.collection: e.version for e in bot.of(AppStateSynced)}
            assert synced["regular_low"] == 1 and synced["regular_high"] == 1 and synced["critical_unblock_low"] == 1

            # The server damages the next patch (Baileys archives the chat): the bot refuses it, one line.
            server.app_state.tamper_next(server.account(ME))
            before = len(bot.of(AppStateSynced))
            warnings.clear()
            await harness.chat_modify(pn("bob"), "archive", True)
            await server.wait_for(lambda ev: ev.kind == "app_state_patch" and ev.data["name"] == "regular_low"
                                  and ev.data["version"] == 2)
            async with asyncio.timeout(10):
                while not any("refused" in line for line in warnings):
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # nothing else follows the refusal
            assert [line for line in warnings if "app state" in line] == [
                line for line in warnings if "refused" in line]
            assert len(warnings) == 1, warnings
            assert warnings[0].startswith("whatsapp.appstate app state regular_low refused")
            assert len(bot.of(AppStateSynced)) == before
            assert not (await bot.client.chat_settings(bob)).archived
            assert not [e for e in bot.of(ChatSettingChanged) if e.setting == "archive"]
        finally:
            await bot.close()
