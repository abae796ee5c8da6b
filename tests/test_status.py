"""Status updates through the emulator with a Baileys 7 contact: a status we post is received by the contact;
a status the contact posts reaches us as `events.StatusPosted`, never as a chat message."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from tests.fixtures.emulator import HarnessFactory
from tests.media_support import baileys_with_media, png
from tests.messaging_support import PEOPLE, paired_baileys, paired_python, pn
from whatsapp import events
from whatsapp.binary import Node
from whatsapp.errors import SendError
from whatsapp.jid import JID, STATUS_BROADCAST_JID
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


async def test_image_status_to_the_contacts_and_its_retry_is_answered(
        emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path) -> None:
    py = await paired_python(emulator)
    alice = await baileys_with_media(emulator, make_baileys, tmp_path, "alice", "baileys")
    bob = await paired_baileys(emulator, make_baileys, tmp_path, "bob")
    try:
        with pytest.raises(SendError):  # no contacts yet: nobody to post to
            await py.client.send_image_status(png(30, 20))
        hello = (await alice.command("send_text", jid=pn("py"), text="hi"))["id"]
        await py.message(hello)  # alice is a contact now: her push name is kept
        image = png(60, 40)
        posted = await py.client.send_image_status(image, caption="view from here")  # no list: the contacts
        got = await alice.wait_for("message", lambda e: e["id"] == posted.id)
        assert got["from"] == str(STATUS_BROADCAST_JID) and got["media"]["kind"] == "image"
        assert got["media"]["caption"] == "view from here"
        assert got["media"]["fileSha256"] == hashlib.sha256(image).hexdigest()
        fetched = await alice.command("download_media", id=posted.id, path=str(tmp_path / "story"), timeout=60)
        assert fetched["sha256"] == hashlib.sha256(image).hexdigest()
        assert not bob.seen("message", id=posted.id)  # never wrote to us: not a contact

        # A recipient device that could not decrypt the status asks again, as a status's receipt comes:
        # from the broadcast, naming the device; we resend to that device alone, with the status sender key.
        device = next(d for d in emulator.account(PEOPLE["alice"][0]).linked_devices() if d.device_id)
        address = JID(PEOPLE["alice"][0], "s.whatsapp.net", device=device.device_id)
        retry = Node("receipt", {"from": STATUS_BROADCAST_JID, "participant": address, "id": posted.id,
                                 "type": "retry", "t": "1700000000"},
                     [Node("retry", {"count": "1", "id": posted.id, "t": "1700000000", "v": "1"}),
                      Node("registration", {}, (1234).to_bytes(4, "big"))])
        ours = emulator.state.device_for(str(py.auth.creds.me_id))
        assert ours is not None and ours.connection is not None
        await ours.connection.send_node(retry)
        async with asyncio.timeout(10):
            while not py.sent("message", id=posted.id, participant=str(address)):
                await asyncio.sleep(0.05)
        resent = py.sent("message", id=posted.id, participant=str(address))[0]
        assert resent.attrs["to"] == STATUS_BROADCAST_JID and resent.child("enc") is not None
        assert not py.failures
    finally:
        await py.close()
