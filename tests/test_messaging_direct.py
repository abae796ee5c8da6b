"""1:1 end-to-end encrypted messages between the Python client and real Baileys clients via the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import DELIVERY_ACK, PEOPLE, paired_baileys, paired_python, pn
from whatsapp.jid import JID
from whatsapp.testing import EmulatedServer

pytestmark = [pytest.mark.node, pytest.mark.slow]


@pytest.mark.parametrize("flavour", ["baileys", "@whiskeysockets/baileys"])  # Baileys 7.0.0-rc14 and 6.7.24
async def test_baileys_and_python_exchange_texts(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path, flavour: str
) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice", flavour)
    try:
        first = (await alice.command("send_text", jid=pn("py"), text="hello python"))["id"]
        got = await py.message(first)
        assert got.text == "hello python" and not got.from_me and not got.is_group
        assert got.sender.user in (PEOPLE["alice"][0], emulator.account(PEOPLE["alice"][0]).lid)
        assert got.chat.to_non_ad() == got.chat and got.push_name == "Alice"
        # Our delivery receipt reaches Alice.
        await alice.wait_for("update", lambda e: e["id"] == first and (e["status"] or 0) >= DELIVERY_ACK)

        # Python answers on the session Alice's pkmsg started (a msg), then a few rounds both ways.
        sent = await py.client.send_text(pn("alice"), "hello alice")
        got_back = await alice.wait_for("message", lambda e: e["id"] == sent.id)
        assert got_back["text"] == "hello alice" and not got_back["fromMe"]
        if flavour == "@whiskeysockets/baileys":
            # Differs on purpose: after our reply we issue Alice our trust token (as whatsmeow and Baileys 7
            # do); Baileys 6.7 never attaches tokens, so its next message is refused with 463 by the server,
            # as the 2026 server refuses it (docs/protocol.md §Trust tokens).
            ours = emulator.account(PEOPLE["py"][0])
            await emulator.wait_for(lambda e: e.kind == "token_issued" and e.account is ours)
            mid = (await alice.command("send_text", jid=pn("py"), text="ping 0"))["id"]
            refused = await emulator.wait_for(lambda e: e.kind == "message_routed" and e.data["id"] == mid)
            assert refused.data["error"] == "463" and not [m for m in py.messages if m.id == mid]
            assert not py.failures
            return
        for i in range(3):
            mid = (await alice.command("send_text", jid=pn("py"), text=f"ping {i}"))["id"]
            assert (await py.message(mid)).text == f"ping {i}"
            reply = await py.client.send_text(pn("alice"), f"pong {i}", quoted=await py.message(mid))
            assert (await alice.wait_for("message", lambda e, r=reply.id: e["id"] == r))["text"] == f"pong {i}"
        assert not py.failures
    finally:
        await py.close()


async def test_python_starts_the_conversation_by_pn_and_by_lid(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    bob = await paired_baileys(emulator, make_baileys, tmp_path, "bob")
    try:
        # First message: no session yet, so the Python client fetches a bundle and sends a pkmsg.
        first = await py.client.send_text(pn("alice"), "first contact")
        assert (await alice.wait_for("message", lambda e: e["id"] == first.id))["text"] == "first contact"
        assert set(py.enc_types(first.id)) == {"pkmsg"}  # to Alice's device and our phone (DSM)
        assert py.sent("message", id=first.id)[0].child("device-identity") is not None
        answer = (await alice.command("send_text", jid=pn("py"), text="got it"))["id"]
        assert (await py.message(answer)).text == "got it"
        later = await py.client.send_text(pn("alice"), "after the reply")
        assert (await alice.wait_for("message", lambda e: e["id"] == later.id))["text"] == "after the reply"
        later_node = py.sent("message", id=later.id)[0]
        to_alice = [to for to in later_node.child("participants").children
                    if str(to.attrs["jid"]) == f"{PEOPLE['alice'][0]}:1@s.whatsapp.net"]
        # Alice's Baileys device replied, so its session is confirmed: a whisper msg (her simulated phone,
        # which never answers, still gets pkmsgs).
        assert [to.child("enc").attr_str("type") for to in to_alice] == ["msg"]

        # A LID-addressed conversation: same canonical session, no second ratchet.
        bob_lid = JID(emulator.account(PEOPLE["bob"][0]).lid, "lid")
        by_lid = await py.client.send_text(bob_lid, "hello by lid")
        got = await bob.wait_for("message", lambda e: e["id"] == by_lid.id)
        assert got["text"] == "hello by lid"
        back = (await bob.command("send_text", jid=pn("py"), text="back by pn"))["id"]
        assert (await py.message(back)).text == "back by pn"
        again = await py.client.send_text(pn("bob"), "now by pn")
        assert (await bob.wait_for("message", lambda e: e["id"] == again.id))["text"] == "now by pn"
        assert not py.failures
    finally:
        await py.close()
