"""Interactions with a real Baileys 7 client through the emulator, both ways: receipts, typing and presence,
reactions, edits, revokes, polls, mentions, quotes, locations, contact cards and disappearing replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.emulator import BaileysHarness, HarnessFactory
from tests.messaging_support import PEOPLE, PyPeer, paired_baileys, pn
from whatsapp import events
from whatsapp.jid import JID
from whatsapp.message_kinds import MessageRef
from whatsapp.payload import DeviceConfig
from whatsapp.testing import EmulatedServer

pytestmark = [pytest.mark.node, pytest.mark.slow]

READ = 4  # proto.WebMessageInfo.Status.READ


async def pair_both(emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
                    ) -> tuple[PyPeer, BaileysHarness]:
    py = PyPeer(emulator, device=DeviceConfig(push_name="Py"))
    await py.pair(*PEOPLE["py"])
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    return py, alice


def alice_user(emulator: EmulatedServer) -> set[str]:
    account = emulator.account(PEOPLE["alice"][0])
    return {account.phone_number, account.lid}


async def test_receipts_and_presence_both_ways(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py, alice = await pair_both(emulator, make_baileys, tmp_path)
    try:
        # Our message, delivered then read by Alice: typed Receipt events.
        sent = await py.client.send_text(pn("alice"), "read me")
        got = await alice.wait_for("message", lambda e: e["id"] == sent.id)
        delivered = await py.wait(events.Receipt, lambda r: sent.id in r.ids and r.type == "delivered")
        assert delivered.sender.user in alice_user(emulator) and not delivered.from_me and not delivered.is_group
        await alice.command("read", jid=got["from"], id=sent.id)
        read = await py.wait(events.Receipt, lambda r: sent.id in r.ids and r.type == "read")
        assert read.chat.user in alice_user(emulator)
        routed = await emulator.wait_for(lambda e: e.kind == "receipt_routed" and e.data["id"] == sent.id
                                         and e.data["type"] == "read")
        assert routed.data["targets"]

        # Alice's message, marked read by us: Baileys sees its status become READ.
        mid = (await alice.command("send_text", jid=pn("py"), text="did you read this?"))["id"]
        await py.client.mark_read(await py.message(mid))
        await alice.wait_for("update", lambda e: e["id"] == mid and (e["status"] or 0) >= READ)
        assert py.sent("receipt", id=mid, type="read")

        # Typing: Alice composes → our PresenceUpdate; we compose and pause → Baileys' presence.update.
        await alice.command("presence", type="composing", jid=pn("py"))
        typing = await py.wait(events.PresenceUpdate, lambda p: p.state == "composing")
        assert typing.sender.user in alice_user(emulator) and typing.chat.user in alice_user(emulator)
        await alice.command("presence", type="recording", jid=pn("py"))
        await py.wait(events.PresenceUpdate, lambda p: p.state == "recording")
        async with py.client.typing(pn("alice")):
            await alice.wait_for("presence", lambda e: any(v.get("lastKnownPresence") == "composing"
                                                           for v in e["presences"].values()))
        # Baileys reports paused as "available" in the chat (src/Socket/chats.ts handlePresenceUpdate).
        await alice.wait_for("presence", lambda e: any(v.get("lastKnownPresence") == "available"
                                                       for v in e["presences"].values()))
        await py.client.send_chat_presence(pn("alice"), "recording")
        await alice.wait_for("presence", lambda e: any(v.get("lastKnownPresence") == "recording"
                                                       for v in e["presences"].values()))

        # Presence subscriptions: Alice learns we are online; we learn Alice's state, then a change.
        await alice.command("subscribe", jid=pn("py"))
        online = await alice.wait_for("presence", lambda e: e["id"].startswith(PEOPLE["py"][0]))
        assert next(iter(online["presences"].values()))["lastKnownPresence"] == "available"
        await py.client.subscribe_presence(pn("alice"))
        first = await py.wait(events.PresenceUpdate, lambda p: p.state in ("available", "unavailable")
                              and p.sender.user in alice_user(emulator))
        assert first.state == "unavailable"  # the harness connects with markOnlineOnConnect=false
        await py.client.send_presence("unavailable")
        offline = await alice.wait_for("presence", lambda e: e["id"].startswith(PEOPLE["py"][0]) and
                                       next(iter(e["presences"].values()))["lastKnownPresence"] == "unavailable")
        assert offline
        assert not py.failures
    finally:
        await py.close()


async def test_baileys_reacts_edits_deletes_and_votes(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py, alice = await pair_both(emulator, make_baileys, tmp_path)
    try:
        ours = await py.client.send_text(pn("alice"), "react to me")
        seen = await alice.wait_for("message", lambda e: e["id"] == ours.id)
        await alice.command("react", jid=seen["from"], id=ours.id, fromMe=False, text="👍")
        reaction = await py.wait(events.ReactionReceived, lambda r: r.target_id == ours.id and not r.removed)
        assert reaction.emoji == "👍" and reaction.message.sender.user in alice_user(emulator)
        assert reaction.target_sender is not None and reaction.target_sender.user == PEOPLE["py"][0]
        await alice.command("react", jid=seen["from"], id=ours.id, fromMe=False, text="")
        await py.wait(events.ReactionReceived, lambda r: r.target_id == ours.id and r.removed)

        theirs = (await alice.command("send_text", jid=pn("py"), text="typo hree"))["id"]
        await py.message(theirs)
        await alice.command("edit", jid=pn("py"), id=theirs, text="typo here")
        edited = await py.wait(events.MessageEdited, lambda e: e.target_id == theirs)
        assert edited.text == "typo here"
        await alice.command("delete", jid=pn("py"), id=theirs)
        revoked = await py.wait(events.MessageRevoked, lambda e: e.target_id == theirs)
        assert not revoked.by_admin

        # Our poll; Alice votes (encrypted with the poll's secret), we decrypt the vote.
        poll = await py.client.send_poll(pn("alice"), "Lunch?", ["pizza", "sushi", "salad"])
        await alice.wait_for("message", lambda e: e["id"] == poll.id and e["pollName"] == "Lunch?")
        assert py.sent("message", id=poll.id)[0].child("meta").attr_str("polltype") == "creation"
        await alice.command("vote", jid=pn("py"), id=poll.id, options=["sushi"])
        vote = await py.wait(events.PollVote, lambda v: v.poll_id == poll.id)
        assert vote.options == ("sushi",) and vote.voter.user in alice_user(emulator)

        # Mentions and quotes, parsed.
        await alice.command("send_rich", jid=pn("py"), text=f"@{PEOPLE['py'][0]} see above", quotedId=ours.id,
                            mentions=[pn("py")])
        rich = await py.wait(events.MessageReceived, lambda m: (m.text or "").endswith("see above"))
        assert [j.user for j in rich.mentions] == [PEOPLE["py"][0]]
        assert rich.quoted is not None and rich.quoted.id == ours.id and rich.quoted.text == "react to me"
        assert not py.failures
    finally:
        await py.close()


async def test_we_react_edit_revoke_vote_and_send_kinds(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py, alice = await pair_both(emulator, make_baileys, tmp_path)
    try:
        theirs = (await alice.command("send_text", jid=pn("py"), text="hello py"))["id"]
        event = await py.message(theirs)
        await py.client.send_reaction(event, "❤️")
        got = await alice.wait_for("reaction", lambda r: r["id"] == theirs)
        assert got["text"] == "❤️"
        removed = await py.client.send_reaction(event, "")
        assert py.sent("message", id=removed.id)[0].attr_str("edit") == "7"
        await alice.wait_for("reaction", lambda r: r["id"] == theirs and not r["text"])

        mine = await py.client.send_text(pn("alice"), "helo")
        await alice.wait_for("message", lambda e: e["id"] == mine.id)
        edit = await py.client.edit_message(MessageRef(event.chat, mine.id), "hello")
        assert py.sent("message", id=edit.id)[0].attr_str("edit") == "1"
        await alice.wait_for("update", lambda u: u["id"] == mine.id and u["edited"] == "hello")
        revoke = await py.client.revoke_message(MessageRef(event.chat, mine.id))
        assert py.sent("message", id=revoke.id)[0].attr_str("edit") == "7"
        await alice.wait_for("update", lambda u: u["id"] == mine.id and u["revoked"])

        # Alice's poll; we vote; Baileys aggregates the votes (getAggregateVotesInPollMessage).
        poll_id = (await alice.command("send_poll", jid=pn("py"), name="Day?", values=["mon", "tue"]))["id"]
        poll = await py.message(poll_id)
        await py.client.vote_poll(poll, ["tue"])
        tally = await alice.wait_for("poll_votes", lambda e: e["id"] == poll_id)
        votes = {v["name"]: v["voters"] for v in tally["votes"]}
        ours = emulator.account(PEOPLE["py"][0])
        assert votes["mon"] == [] and len(votes["tue"]) == 1
        assert votes["tue"][0].split("@")[0] in (ours.phone_number, ours.lid)

        # Mentions, a quoted reply, a location, a contact card.
        alice_pn = JID.parse(pn("alice"))
        mention = await py.client.send_text(pn("alice"), f"@{PEOPLE['alice'][0]} hi", mentions=[alice_pn],
                                            quoted=event)
        got = await alice.wait_for("message", lambda e: e["id"] == mention.id)
        assert got["mentions"] == [pn("alice")] and got["quotedId"] == theirs
        where = await py.client.send_location(pn("alice"), 52.52, 13.405, name="Berlin")
        got = await alice.wait_for("message", lambda e: e["id"] == where.id)
        assert got["location"] == {"lat": 52.52, "lon": 13.405, "name": "Berlin"}
        card = await py.client.send_contact(pn("alice"), "Bob", PEOPLE["bob"][0])
        got = await alice.wait_for("message", lambda e: e["id"] == card.id)
        assert got["contact"]["name"] == "Bob" and f"waid={PEOPLE['bob'][0]}" in got["contact"]["vcard"]

        # A disappearing chat: our reply carries the timer of the message it answers.
        timed = (await alice.command("send_rich", jid=pn("py"), text="this vanishes", expiration=86400))["id"]
        answer = await py.client.send_text(pn("alice"), "so does this", quoted=await py.message(timed))
        got = await alice.wait_for("message", lambda e: e["id"] == answer.id)
        assert got["expiration"] == 86400
        assert not py.failures
    finally:
        await py.close()
