"""Interactions without a network: poll vote crypto, stanza parsers (receipts, chat states, presence, calls,
group changes), message building, parsed mentions and quotes, the bot's read receipts and typing, and the
BOT_READ_RECEIPTS / BOT_REJECT_CALLS settings."""

from __future__ import annotations

import asyncio

import pytest

from botconfig import BotConfig, ConfigError
from tests.bot_support import FakeClient, received
from whatsapp import events
from whatsapp.binary import Node
from whatsapp.bot import Context, Dispatcher, Router
from whatsapp.calls import parse_call
from whatsapp.chatstate import chatstate_node, parse_chatstate, parse_presence
from whatsapp.compose import edit_attribute, stanza_extras, text_message
from whatsapp.errors import CryptoError
from whatsapp.group_changes import group_events
from whatsapp.jid import JID
from whatsapp.message_kinds import MessageRef, edit_message, reaction_message, revoke_message, vcard
from whatsapp.polls import chosen_options, decrypt_vote, encrypt_vote, option_hash, poll_message
from whatsapp.proto import common_pb2
from whatsapp.receipts import MAX_IDS, parse_receipts, read_receipts

ALICE = JID.parse("15550001111@s.whatsapp.net")
GROUP = JID.parse("120363000000000001@g.us")


def test_a_vote_opens_only_with_the_polls_secret_and_the_right_addresses() -> None:
    poll = poll_message("Lunch?", ["pizza", "sushi"])
    secret = bytes(range(32))
    key = common_pb2.MessageKey(remoteJID=str(ALICE), fromMe=False, ID="POLL1")
    vote = encrypt_vote(secret, key, "15550001111@s.whatsapp.net", "15550009999@s.whatsapp.net", ["sushi"], 1)
    update = vote.pollUpdateMessage
    hashes = decrypt_vote(secret, update, ["100@lid", "15550001111@s.whatsapp.net"],
                          ["15550009999@s.whatsapp.net"])
    assert hashes == [option_hash("sushi")]
    assert chosen_options(poll.pollCreationMessage, hashes) == ["sushi"]
    with pytest.raises(CryptoError):
        decrypt_vote(bytes(32), update, ["15550001111@s.whatsapp.net"], ["15550009999@s.whatsapp.net"])
    with pytest.raises(CryptoError):  # the voter is part of the key: another voter's vote does not open
        decrypt_vote(secret, update, ["15550001111@s.whatsapp.net"], ["15550008888@s.whatsapp.net"])
    with pytest.raises(ValueError):
        poll_message("one?", ["only"])
    assert stanza_extras(poll)[1][0].attrs == {"polltype": "creation"}
    assert stanza_extras(vote)[1][0].attrs == {"polltype": "vote"}


def test_edit_attributes_and_message_keys() -> None:
    ours = MessageRef(ALICE, "M1")
    theirs_in_group = MessageRef(GROUP, "M2", sender=JID.parse("15550002222:3@s.whatsapp.net"), from_me=False)
    assert edit_attribute(edit_message(ours, text_message("new"), 1)) == "1"
    assert edit_attribute(revoke_message(ours)) == "7"
    assert edit_attribute(revoke_message(theirs_in_group)) == "8"  # an admin deleting someone else's
    assert edit_attribute(reaction_message(ours, "", 1)) == "7"  # a removed reaction
    assert edit_attribute(reaction_message(ours, "👍", 1)) is None
    key = reaction_message(theirs_in_group, "👍", 1).reactionMessage.key
    assert (key.remoteJID, key.fromMe, key.ID, key.participant) == (str(GROUP), False, "M2",
                                                                     "15550002222@s.whatsapp.net")
    assert "waid=15550002222:+15550002222" in vcard("Bob", "+1 555 000 2222")


def test_mentions_quotes_and_the_disappearing_timer_of_replies() -> None:
    original = received("hello", "15550001111@s.whatsapp.net")
    original.message.Clear()
    original.message.extendedTextMessage.text = "hello"
    original.message.extendedTextMessage.contextInfo.expiration = 604800
    reply = text_message("@15550001111 hi", original, [ALICE])
    info = reply.extendedTextMessage.contextInfo
    assert info.expiration == 604800 and list(info.mentionedJID) == [str(ALICE)] and info.stanzaID == "X"
    event = received(None)
    event.message.CopyFrom(reply)
    assert event.mentions == [ALICE]
    assert event.quoted is not None and event.quoted.id == "X" and event.quoted.text == "hello"
    assert received("plain").quoted is None and received("plain").mentions == []


def test_receipts_parse_per_participant_and_build_in_batches() -> None:
    own = {"15550009999"}
    group = Node("receipt", {"from": GROUP, "participant": JID.parse("15550001111:2@s.whatsapp.net"), "id": "A",
                             "type": "read", "t": "5"}, [Node("list", {}, [Node("item", {"id": "B"})])])
    (one,) = parse_receipts(group, own)
    assert (one.chat, one.ids, one.type, one.is_group, one.from_me) == (GROUP, ("A", "B"), "read", True, False)
    grouped = Node("receipt", {"from": GROUP, "id": "A"}, [Node("participants", {"key": "A"}, [
        Node("user", {"jid": ALICE, "t": "7"}), Node("user", {"jid": JID.parse("15550002222@s.whatsapp.net")})])])
    assert [r.sender.user for r in parse_receipts(grouped, own)] == ["15550001111", "15550002222"]
    mine = Node("receipt", {"from": JID.parse("15550009999:0@s.whatsapp.net"), "recipient": ALICE, "id": "C",
                            "type": "read-self"})
    (self_read,) = parse_receipts(mine, own)
    assert self_read.from_me and self_read.chat == ALICE and self_read.type == "read-self"
    delivered = parse_receipts(Node("receipt", {"from": ALICE, "id": "D"}), own)[0]
    assert delivered.type == "delivered"
    nodes = read_receipts(GROUP, [f"id{i}" for i in range(MAX_IDS + 1)], ALICE, "read", 9)
    assert len(nodes) == 2 and nodes[0].attrs["participant"] == ALICE and nodes[1].attrs["id"] == f"id{MAX_IDS}"
    assert "participant" not in read_receipts(ALICE, ["x"], ALICE, "played", 9)[0].attrs


def test_chat_states_presence_and_calls_parse() -> None:
    recording = parse_chatstate(Node("chatstate", {"from": GROUP, "participant": ALICE},
                                     [Node("composing", {"media": "audio"})]))
    assert recording is not None and (recording.chat, recording.sender, recording.state) == (GROUP, ALICE,
                                                                                               "recording")
    assert chatstate_node(ALICE, "recording").children[0].attrs == {"media": "audio"}
    with pytest.raises(ValueError):
        chatstate_node(ALICE, "dancing")
    gone = parse_presence(Node("presence", {"from": ALICE, "type": "unavailable", "last": "1700000000"}))
    assert gone is not None and gone.state == "unavailable" and gone.last_seen == 1700000000
    offer = parse_call(Node("call", {"from": ALICE, "id": "1", "t": "3"}, [
        Node("offer", {"call-id": "C1", "call-creator": ALICE}, [Node("audio", {})])]))
    assert isinstance(offer, events.CallOffered) and not offer.video and offer.call_id == "C1"
    ended = parse_call(Node("call", {"from": ALICE, "id": "2"}, [
        Node("terminate", {"call-id": "C1", "call-creator": ALICE, "reason": "timeout"})]))
    assert isinstance(ended, events.CallEnded) and ended.reason == "timeout"


def test_group_notifications_become_typed_events() -> None:
    bob = JID.parse("15550002222@s.whatsapp.net")
    node = Node("notification", {"from": GROUP, "type": "w:gp2", "participant": bob, "t": "9"}, [
        Node("remove", {}, [Node("participant", {"jid": bob})]),
        Node("description", {"id": "1"}, [Node("delete", {})]),
        Node("ephemeral", {"expiration": "86400"}),
        Node("not_announcement", {}),
        Node("create", {}),
    ])
    left, description, ephemeral, announce = group_events(node)
    assert isinstance(left, events.GroupParticipantsChanged) and left.action == "left" and left.by == bob
    assert isinstance(description, events.GroupInfoChanged) and description.description == ""
    assert isinstance(ephemeral, events.GroupInfoChanged) and ephemeral.ephemeral == 86400
    assert isinstance(announce, events.GroupInfoChanged) and announce.announce is False


async def test_the_bot_marks_handled_messages_read_and_types_while_a_command_is_slow() -> None:
    client = FakeClient()
    router = Router(name="t")

    @router.command("slow")
    async def slow(ctx: Context) -> None:
        await asyncio.sleep(0.3)

    dispatcher = Dispatcher(client, typing_after=0.1)  # type: ignore[arg-type]
    dispatcher.include_router(router)
    dispatcher.attach()
    client.emit(received("!slow", message_id="S"))
    client.emit(received("no command here", message_id="N"))  # reaches no handler: stays unread
    await dispatcher.idle()
    assert client.read == ["S"]
    assert client.typing_log == [("1@s.whatsapp.net", "start"), ("1@s.whatsapp.net", "stop")]

    quiet = FakeClient()
    off = Dispatcher(quiet, read_receipts=False, typing_after=None)  # type: ignore[arg-type]
    off.include_router(router)
    off.attach()
    quiet.emit(received("!slow", message_id="S2"))
    await off.idle()
    assert quiet.read == [] and quiet.typing_log == []
    await dispatcher.close()
    await off.close()


def test_read_receipt_and_call_settings() -> None:
    defaults = BotConfig.from_env({})
    assert defaults.read_receipts and not defaults.reject_calls
    chosen = BotConfig.from_env({"BOT_READ_RECEIPTS": "OFF", "BOT_REJECT_CALLS": "on"})
    assert not chosen.read_receipts and chosen.reject_calls
    for name in ("BOT_READ_RECEIPTS", "BOT_REJECT_CALLS"):
        with pytest.raises(ConfigError) as raised:
            BotConfig.from_env({name: "yes please"})
        assert raised.value.variable == name and "on or off" in str(raised.value)
