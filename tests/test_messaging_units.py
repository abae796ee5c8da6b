"""Sans-I/O pieces of messaging: envelopes, receipts, ids, message types and texts, usync/bundle/group
parsing, and the PN→LID session migration."""

from __future__ import annotations

import re

import pytest

from tests.client_support import Rig
from whatsapp.addressing import canonical_device, load_session_bytes, sender_key_id, store_mapping
from whatsapp.auth import KeyType, MemoryAuthState
from whatsapp.binary import Node
from whatsapp.compose import device_sent_copy, generate_message_id, stanza_type, text_message
from whatsapp.content import message_text, unwrap_message
from whatsapp.envelope import delivery_receipt, mapping_pairs, parse_envelope
from whatsapp.errors import DecodeError
from whatsapp.events import MessageReceived
from whatsapp.groups import parse_group
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2
from whatsapp.usync import DeviceList, devices_query, parse_bundles, parse_devices

ME = JID.parse("15550009999:1@s.whatsapp.net")
ME_LID = JID.parse("100000000000001:1@lid")


def test_direct_envelope_with_lid_alternative() -> None:
    node = Node("message", {"from": JID.parse("15551112222:3@s.whatsapp.net"), "id": "A", "t": "17",
                            "notify": "Alice", "sender_lid": JID.parse("200@lid"), "offline": "1"}, [])
    env = parse_envelope(node, ME, ME_LID)
    assert env.chat == JID.parse("15551112222@s.whatsapp.net") and env.sender.device == 3
    assert env.sender_alt == JID.parse("200@lid") and not env.from_me and not env.is_group and env.offline
    assert mapping_pairs(node) == [("15551112222", "200")]
    assert delivery_receipt(env, ME).attrs == {"id": "A", "to": node.attrs["from"]}


def test_group_envelope_and_own_device_envelope() -> None:
    group = Node("message", {"from": JID.parse("123-456@g.us"), "participant": JID.parse("300:2@lid"),
                             "participant_pn": JID.parse("15553334444@s.whatsapp.net"), "id": "G", "t": "1"}, [])
    env = parse_envelope(group, ME, ME_LID)
    assert env.is_group and env.chat == JID.parse("123-456@g.us") and env.sender == JID.parse("300:2@lid")
    assert mapping_pairs(group) == [("15553334444", "300")]
    assert delivery_receipt(env, ME).attrs["participant"] == env.sender

    own = Node("message", {"from": JID.parse("15550009999:2@s.whatsapp.net"), "id": "O", "t": "1",
                           "recipient": JID.parse("15551112222@s.whatsapp.net")}, [])
    env = parse_envelope(own, ME, ME_LID)
    assert env.from_me and env.chat == JID.parse("15551112222@s.whatsapp.net")
    receipt = delivery_receipt(env, ME)
    assert receipt.attrs["type"] == "sender" and receipt.attrs["recipient"] == env.chat

    with pytest.raises(DecodeError):
        parse_envelope(Node("message", {"from": JID.parse("1-2@g.us"), "id": "X"}, []), ME, ME_LID)
    with pytest.raises(DecodeError):
        parse_envelope(Node("message", {"id": "X"}, []), ME, ME_LID)


def test_message_ids_types_and_texts() -> None:
    message_id = generate_message_id("15550009999")
    assert re.fullmatch(r"3EB0[0-9A-F]{18}", message_id) and message_id != generate_message_id("15550009999")
    assert stanza_type(e2e_pb2.Message(conversation="x")) == "text"
    image = e2e_pb2.Message()
    image.imageMessage.caption = "look"
    assert stanza_type(image) == "media" and message_text(image) == "look"
    reaction = e2e_pb2.Message()
    reaction.reactionMessage.text = "+1"
    assert stanza_type(reaction) == "reaction"

    wrapped = e2e_pb2.Message()
    wrapped.ephemeralMessage.message.extendedTextMessage.text = "inside"
    assert message_text(unwrap_message(wrapped)) == "inside"
    dsm = device_sent_copy(e2e_pb2.Message(conversation="hi"), JID.parse("1@s.whatsapp.net"))
    assert dsm.deviceSentMessage.destinationJID == "1@s.whatsapp.net"
    assert dsm.deviceSentMessage.message.conversation == "hi"

    original = MessageReceived(JID.parse("1-2@g.us"), JID.parse("5:3@lid"), "Q", 0, None, False, True, False,
                               e2e_pb2.Message(conversation="question"))
    reply = text_message("answer", original)
    context = reply.extendedTextMessage.contextInfo
    assert reply.extendedTextMessage.text == "answer" and context.stanzaID == "Q"
    assert context.participant == "5@lid" and context.quotedMessage.conversation == "question"
    assert context.remoteJID == "1-2@g.us"


def test_usync_and_bundle_parsing() -> None:
    query = devices_query("s1", [JID.parse("1555:4@s.whatsapp.net")])
    assert query.child("usync").child("list").children[0].attrs["jid"] == JID.parse("1555@s.whatsapp.net")
    answer = Node("iq", {"type": "result"}, [Node("usync", {}, [Node("list", {}, [
        Node("user", {"jid": JID.parse("1555@s.whatsapp.net")}, [
            Node("devices", {}, [Node("device-list", {}, [
                Node("device", {"id": "0"}), Node("device", {"id": "3", "key-index": "1"}),
                Node("device", {"id": "7"}),  # no key-index: dropped
                Node("device", {"id": "99", "key-index": "2", "is_hosted": "true"}),
            ])]),
            Node("lid", {"val": JID.parse("777@lid")}),
        ]),
    ])])])
    lists = parse_devices(answer, now=100.0)
    found = lists[JID.parse("1555@s.whatsapp.net")]
    assert found.devices == (0, 3) and found.lid == JID.parse("777@lid")
    again = DeviceList.from_bytes(found.user, found.to_bytes())
    assert again == found and not found.fresh(now=100.0 + 7200)
    assert DeviceList.from_bytes(found.user, b"not json") is None

    bundle_answer = Node("iq", {}, [Node("list", {}, [
        Node("user", {"jid": JID.parse("1555:3@s.whatsapp.net")}, [
            Node("registration", {}, b"\x00\x00\x01\x02"), Node("type", {}, b"\x05"),
            Node("identity", {}, bytes(32)),
            Node("skey", {}, [Node("id", {}, b"\x00\x00\x01"), Node("value", {}, bytes(32)),
                              Node("signature", {}, bytes(64))]),
            Node("key", {}, [Node("id", {}, b"\x00\x00\x09"), Node("value", {}, bytes(32))]),
        ]),
        Node("user", {"jid": JID.parse("1555:4@s.whatsapp.net")}, [Node("error", {"code": "404"})]),
        Node("user", {"jid": JID.parse("1555:5@s.whatsapp.net")}, [Node("registration", {}, b"\x01")]),
    ])])
    bundles = parse_bundles(bundle_answer)
    good = bundles[JID.parse("1555:3@s.whatsapp.net")]
    assert not isinstance(good, str) and good.registration_id == 258 and good.pre_key_id == 9
    assert good.device_id == 3
    assert isinstance(bundles[JID.parse("1555:4@s.whatsapp.net")], str)
    assert isinstance(bundles[JID.parse("1555:5@s.whatsapp.net")], str)


def test_group_metadata_parsing_gives_lid_pairs() -> None:
    answer = Node("iq", {}, [Node("group", {"id": "123-456", "subject": "T", "addressing_mode": "lid"}, [
        Node("participant", {"jid": JID.parse("300@lid"), "phone_number": JID.parse("1555@s.whatsapp.net")}),
        Node("participant", {"jid": JID.parse("301@lid")}),
    ])])
    info, pairs = parse_group(answer)
    assert info.jid == JID.parse("123-456@g.us") and info.addressing_mode == "lid"
    assert info.participants == (JID.parse("300@lid"), JID.parse("301@lid")) and pairs == [("1555", "300")]


async def test_pn_sessions_migrate_to_lid_addresses_without_losing_the_pn_copy() -> None:
    auth = MemoryAuthState()
    async with auth.transaction() as tx:
        store_mapping(tx, "1555", "777")
        tx.set(KeyType.SESSION, "1555.3", b"record")
        tx.set(KeyType.IDENTITY, "1555.3", b"identity")
    pn_device = JID.parse("1555:3@s.whatsapp.net")
    lid_device = await canonical_device(auth, pn_device)
    assert lid_device == JID.parse("777:3@lid")
    async with auth.transaction() as tx:
        assert await load_session_bytes(tx, lid_device) == b"record"
    assert auth.keys[KeyType.SESSION] == {"1555.3": b"record", "777_1.3": b"record"}
    assert auth.keys[KeyType.IDENTITY]["777_1.3"] == b"identity"
    assert sender_key_id(JID.parse("1-2@g.us"), lid_device) == "1-2@g.us::777_1::3"


def test_decrypt_failure_warnings_are_capped_per_minute() -> None:
    from loguru import logger

    from whatsapp.receive import FAILURE_WARNINGS, Receiver

    rig = Rig()
    clock = rig.clock
    receiver = Receiver(rig.ctx)
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="WARNING")
    try:
        node = Node("message", {"from": JID.parse("1555:2@s.whatsapp.net"), "id": "F", "t": "1"}, [])
        env = parse_envelope(node, ME, ME_LID)
        for _ in range(FAILURE_WARNINGS * 5):
            receiver.warn_failure(env, DecodeError("bad"))
        clock.now_value += 61  # a minute later
        receiver.warn_failure(env, DecodeError("bad"))
    finally:
        logger.remove(sink)
    assert len(lines) == FAILURE_WARNINGS + 2
    assert f"{FAILURE_WARNINGS * 4} more messages could not be decrypted" in lines[FAILURE_WARNINGS]
