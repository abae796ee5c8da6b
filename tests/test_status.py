"""Status updates through the emulator with a Baileys 7 contact: a status we post is received by the contact;
a status the contact posts reaches us as `events.StatusPosted`, never as a chat message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import PEOPLE, paired_baileys, paired_python, pn
from whatsapp import events
from whatsapp.errors import SendError
from whatsapp.jid import STATUS_BROADCAST_JID
from whatsapp.testing import EmulatedServer

pytestmark = [pytest.mark.node, pytest.mark.slow]


async def test_statuses_both_ways(emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    bob = await paired_baileys(emulator, make_baileys, tmp_path, "bob")
    try:
        posted = await py.client.send_status("Out for lunch", [pn("alice")])
        got = await alice.wait_for("message", lambda e: e["id"] == posted.id)
        assert got["from"] == str(STATUS_BROADCAST_JID) and got["text"] == "Out for lunch"
        assert got["participant"] is not None and got["participant"].split("@")[0].split(":")[0] == PEOPLE["py"][0]
        again = await py.client.send_status("Back", [pn("alice")])  # the same sender key, named again
        assert (await alice.wait_for("message", lambda e: e["id"] == again.id))["text"] == "Back"
        assert not bob.seen("message", id=posted.id)  # not in the audience
        with pytest.raises(SendError):
            await py.client.send_status("nobody", [])

        story = (await alice.command("send_status", text="Sunny today", recipients=[pn("py")]))["id"]
        seen = await py.wait(events.StatusPosted, lambda e: e.id == story)
        assert seen.text == "Sunny today" and seen.sender.user in (PEOPLE["alice"][0],
                                                                   emulator.account(PEOPLE["alice"][0]).lid)
        assert not any(m.id == story for m in py.messages)
        assert not py.failures
    finally:
        await py.close()
