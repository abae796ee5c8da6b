"""Group messages (sender keys) between the Python client and two real Baileys clients via the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import PEOPLE, paired_baileys, paired_python, pn
from whatsapp.auth import KeyType
from whatsapp.testing import EmulatedServer

pytestmark = [pytest.mark.node, pytest.mark.slow]
GROUP_CREATE_STUB = 20


@pytest.mark.parametrize("mode", ["lid", "pn"])
async def test_python_and_two_baileys_talk_in_a_group(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path, mode: str
) -> None:
    emulator.group_addressing_mode = mode
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    bob = await paired_baileys(emulator, make_baileys, tmp_path, "bob")
    try:
        gid = (await alice.command("create_group", subject="Team", participants=[pn("bob"), pn("py")]))["id"]
        await bob.wait_for("message", lambda e: e["from"] == gid and e["stub"] == GROUP_CREATE_STUB)

        first = (await alice.command("send_text", jid=gid, text="hello group"))["id"]
        got = await py.message(first)
        assert got.text == "hello group" and got.is_group and str(got.chat) == gid and not got.from_me
        assert got.sender.user in (PEOPLE["alice"][0], emulator.account(PEOPLE["alice"][0]).lid)

        info = await py.client.group_metadata(gid)
        assert info.subject == "Team" and info.addressing_mode == mode and len(info.participants) == 3

        sent = await py.client.send_text(gid, "hi from python")
        assert "skmsg" in py.enc_types(sent.id)
        for member in (alice, bob):
            got_back = await member.wait_for("message", lambda e: e["id"] == sent.id)
            assert got_back["text"] == "hi from python" and got_back["from"] == gid
        memory = await py.auth.get(KeyType.SENDER_KEY_MEMORY, [gid])
        assert len(json.loads(memory[gid])) >= 2  # both Baileys devices hold our sender key now

        # The second message reuses the distributed sender key: no pairwise SKDM this time.
        again = await py.client.send_text(gid, "second round")
        assert py.enc_types(again.id) == ["skmsg"]
        for member in (alice, bob):
            assert (await member.wait_for("message", lambda e: e["id"] == again.id))["text"] == "second round"

        reply = (await bob.command("send_text", jid=gid, text="bob here"))["id"]
        assert (await py.message(reply)).text == "bob here"
        assert not py.failures
    finally:
        await py.close()
