"""Reporting tokens (whatsapp/reporting.py): the reduction to reportable fields, the key and the token, checked
against a computation written here from the definition and against Baileys 7's own implementation
(tests/node/reporting_oracle.mjs); on the wire, 1:1 and group sends carry `<reporting>`, the emulator keeps
it and delivers it to nobody, and the recipient reproduces the token from what it decrypted."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from functools import partial
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.message import Message as ProtoMessage

from whatsapp.binary import Node
from whatsapp.errors import DecodeError
from whatsapp.jid import JID
from whatsapp.msgsecret import with_message_secret
from whatsapp.proto import e2e_pb2
from whatsapp.reporting import REPORTABLE, reportable_content, reporting_node, reporting_token, takes_token
from whatsapp.testing import EmulatedServer
from whatsapp.testing.events import ServerEvent
from whatsapp.testing.harness.nodejs import run_node_json
from whatsapp.testing.harness.peers import PEOPLE, paired_python, pn
from whatsapp.testing.message_parts import check_children
from whatsapp.testing.state import ServerState

ME = JID.parse("15550009999:3@s.whatsapp.net")
CHAT = JID.parse("15550001111@s.whatsapp.net")
SECRET = bytes(range(32))

# The reportable fields as whatsmeow publishes them (`reportingfields.json`: "f" field, "s" subfields, "m" a
# nested Message), the reference the table in whatsapp/reporting.py is checked against.
_CTX = [{"f": 21}, {"f": 22}]
_POLL = [{"f": 2}, {"f": 3, "s": [{"f": 1}, {"f": 2}]}, {"f": 5, "s": _CTX}, {"f": 8, "s": [{"f": 1}, {"f": 2}]}]
_VIDEO = [{"f": 2}, {"f": 6}, {"f": 7}, {"f": 13}, {"f": 17, "s": _CTX}, {"f": 20}]
_WRAP = [{"f": 1, "m": True}]
PUBLISHED: list[dict[str, Any]] = [
    {"f": 1},
    {"f": 3, "s": [{"f": 2}, {"f": 3}, {"f": 8}, {"f": 11}, {"f": 17, "s": _CTX}, {"f": 25}]},
    {"f": 4, "s": [{"f": 1}, {"f": 16}, {"f": 17, "s": _CTX}]},
    {"f": 5, "s": [{"f": 3}, {"f": 4}, {"f": 5}, {"f": 16}, {"f": 17, "s": _CTX}]},
    {"f": 6, "s": [{"f": 1}, {"f": 17, "s": _CTX}, {"f": 30}]},
    {"f": 7, "s": [{"f": 2}, {"f": 7}, {"f": 10}, {"f": 17, "s": _CTX}, {"f": 20}]},
    {"f": 8, "s": [{"f": 2}, {"f": 7}, {"f": 9}, {"f": 17, "s": _CTX}, {"f": 21}]},
    {"f": 9, "s": _VIDEO},
    {"f": 12, "s": [{"f": 1}, {"f": 2}, {"f": 14, "m": True}, {"f": 15}]},
    {"f": 18, "s": [{"f": 6}, {"f": 16}, {"f": 17, "s": _CTX}]},
    {"f": 26, "s": [{"f": 4}, {"f": 5}, {"f": 8}, {"f": 13}, {"f": 17, "s": _CTX}]},
    {"f": 28, "s": [{"f": 1}, {"f": 2}, {"f": 4}, {"f": 5}, {"f": 6}, {"f": 7, "s": _CTX}]},
    {"f": 37, "s": _WRAP}, {"f": 49, "s": _POLL}, {"f": 53, "s": _WRAP}, {"f": 55, "s": _WRAP},
    {"f": 58, "s": _WRAP}, {"f": 59, "s": _WRAP}, {"f": 60, "s": _POLL}, {"f": 64, "s": _POLL},
    {"f": 66, "s": _VIDEO}, {"f": 74, "s": _WRAP}, {"f": 87, "s": _WRAP},
    {"f": 88, "s": [{"f": 1}, {"f": 2, "s": [{"f": 1}]}, {"f": 3, "s": _CTX}]},
    {"f": 92, "s": _WRAP}, {"f": 93, "s": _WRAP}, {"f": 94, "s": _WRAP},
]


def _as_spec(fields: list[dict[str, Any]]) -> dict[int, Any]:
    return {f["f"]: (_as_spec(f.get("s", [])) if "s" in f or f.get("m") else None) for f in fields}


def _normalise(spec: Mapping[int, Any]) -> dict[int, Any]:
    return {k: None if v is None else _normalise(v) for k, v in spec.items()}


def test_the_field_table_is_the_published_one() -> None:
    assert _normalise(REPORTABLE) == _as_spec(PUBLISHED)


# ---- the definition, computed another way: from the parsed message's descriptors -------------------------


def _tag(number: int, wire: int) -> bytes:
    value, out = number << 3 | wire, bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out) + bytes([value])


def _by_definition(message: ProtoMessage, spec: Mapping[int, Any]) -> bytes:
    """Each set field of `spec` serialised on its own (a copy holding only it), nested ones reduced."""
    out = b""
    for field, value in message.ListFields():  # in field-number order
        if field.number not in spec:
            continue
        sub = spec[field.number]
        values = list(value) if field.is_repeated else [value]
        for item in values:
            if sub is not None and field.message_type is not None:
                inner = _by_definition(item, sub)
                if inner:
                    out += _tag(field.number, 2) + len(inner).to_bytes(1, "big") + inner  # short in these tests
            else:
                alone = type(message)()
                if field.message_type is not None:
                    getattr(alone, field.name).CopyFrom(item)
                else:
                    setattr(alone, field.name, item)
                out += alone.SerializeToString()
    return out


def _token_by_definition(message: e2e_pb2.Message, message_id: str, sender: str, chat: str) -> bytes:
    info = (message_id + sender + chat + "Report Token").encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        message.messageContextInfo.messageSecret)
    return hmac.new(key, _by_definition(message, _as_spec(PUBLISHED)), hashlib.sha256).digest()[:16]


def _samples() -> list[e2e_pb2.Message]:
    plain = e2e_pb2.Message(conversation="hello, reporting")
    reply = e2e_pb2.Message()
    reply.extendedTextMessage.text = "a quoted reply"
    reply.extendedTextMessage.matchedText = "https://example.org"  # not reportable
    context = reply.extendedTextMessage.contextInfo
    context.stanzaID, context.participant = "3EB0AAAA", "15550001111@s.whatsapp.net"  # not reportable
    context.quotedMessage.conversation = "the original"
    context.forwardingScore, context.isForwarded = 3, True
    image = e2e_pb2.Message()
    image.imageMessage.caption, image.imageMessage.mimetype = "a caption", "image/jpeg"
    image.imageMessage.mediaKey, image.imageMessage.directPath = os.urandom(32), "/v/t62/x.enc"
    image.imageMessage.fileSHA256, image.imageMessage.height = os.urandom(32), 480  # not reportable
    view_once = e2e_pb2.Message()
    view_once.viewOnceMessage.message.CopyFrom(image)
    view_once.conversation = "beside the wrapper"
    messages = [plain, reply, image, view_once]
    return [with_message_secret(m) for m in messages]


def test_our_token_is_the_one_the_definition_gives() -> None:
    for message in _samples():
        plaintext = message.SerializeToString()
        assert reportable_content(plaintext) == _by_definition(message, _as_spec(PUBLISHED))
        ours = reporting_token(plaintext, message.messageContextInfo.messageSecret, "3EB0ABCDEF", ME, CHAT)
        assert ours == _token_by_definition(message, "3EB0ABCDEF", "15550009999@s.whatsapp.net", str(CHAT))


@pytest.mark.node
def test_our_token_is_the_one_baileys_7_computes() -> None:
    samples = _samples()
    cases = [{"message": m.SerializeToString().hex(), "id": f"3EB0{i:018X}", "sender": "15550009999@lid",
              "chat": str(CHAT)} for i, m in enumerate(samples)]
    theirs = run_node_json("reporting_oracle.mjs", input_obj={"cases": cases})["tokens"]
    ours = [reporting_token(m.SerializeToString(), m.messageContextInfo.messageSecret, c["id"],
                            JID.parse("15550009999:7@lid"), CHAT).hex() for m, c in zip(samples, cases, strict=True)]
    assert ours == theirs


def test_known_answer() -> None:
    message = e2e_pb2.Message(conversation="ping")
    message.messageContextInfo.messageSecret = SECRET
    node = reporting_node(message, message.SerializeToString(), "3EB0C0FFEE", ME, CHAT)
    assert node is not None and node.tag == "reporting" and not node.attrs
    (token,) = node.children
    assert token.tag == "reporting_token" and token.attrs == {"v": "2"}
    # Baileys 7 gives the same bytes (reporting_oracle.mjs with these inputs).
    assert token.content_bytes == _token_by_definition(message, "3EB0C0FFEE", "15550009999@s.whatsapp.net",
                                                       str(CHAT))
    assert token.content_bytes == bytes.fromhex(KNOWN_TOKEN)


KNOWN_TOKEN = "1d845d9c49c484b94638291180c45426"  # Baileys 7 getMessageReportingToken, same inputs


def test_reduction_keeps_tags_orders_by_field_and_drops_empty_and_nested() -> None:
    # Field 6 (extended text) before field 1, an unknown field 99, a nested message (37) with content.
    extended = b"\x0a\x02hi" + b"\x12\x01x" + b"\x8a\x01\x03\xa8\x01\x05"  # text, matchedText, ctx{forwardingScore}
    raw = (b"\x32" + bytes([len(extended)]) + extended + b"\x0a\x03abc" + b"\x9a\x06\x01\x00"
           + b"\xaa\x02\x04\x0a\x02\x0a\x00")
    assert reportable_content(raw) == b"\x0a\x03abc" + b"\x32\x0a\x0a\x02hi\x8a\x01\x03\xa8\x01\x05"
    only_context = e2e_pb2.Message()
    only_context.messageContextInfo.messageSecret = SECRET  # field 35 is not reportable
    only_context.extendedTextMessage.contextInfo.stanzaID = "3EB0"  # nothing reportable inside: dropped
    assert reportable_content(only_context.SerializeToString()) == b""
    for bad in (b"\x0a\x05ab", b"\x0b", b"\x80"):  # length past the end, a group wire type, a cut varint
        with pytest.raises(DecodeError):
            reportable_content(bad)


def test_which_messages_carry_one() -> None:
    assert not takes_token(e2e_pb2.Message(conversation="no secret yet"))
    assert takes_token(with_message_secret(e2e_pb2.Message(conversation="x")))
    reaction = e2e_pb2.Message()
    reaction.reactionMessage.text = "👍"
    reaction.messageContextInfo.messageSecret = SECRET
    assert not takes_token(reaction)


def test_the_emulator_keeps_a_well_formed_token_and_reports_the_rest() -> None:
    state = ServerState()
    seen: list[str] = []
    state.events.listeners.append(lambda e: seen.append(str(e.data.get("what"))) if e.kind == "unmodelled" else None)
    good = Node("reporting", {}, [Node("reporting_token", {"v": "2"}, b"\x01" * 16)])
    assert check_children(state, Node("message", {"id": "1"}, [Node("participants"), good])) == b"\x01" * 16
    assert not seen
    for bad in (Node("reporting", {}, [Node("reporting_token", {"v": "1"}, b"\x01" * 16)]),
                Node("reporting", {}, [Node("reporting_token", {"v": "2"}, b"\x01" * 15)]),
                Node("reporting", {}, [])):
        assert check_children(state, Node("message", {"id": "2"}, [bad])) is None
    assert check_children(state, Node("message", {"id": "3"}, [Node("surprise")])) is None
    assert seen == ["message-reporting"] * 3 + ["message-child"]


# ---- on the wire ---------------------------------------------------------------------------------------


def _routed(message_id: str, event: ServerEvent) -> bool:
    return event.kind == "message_routed" and event.data["id"] == message_id


async def test_sends_carry_a_token_the_recipient_reproduces(emulator: EmulatedServer) -> None:
    py = await paired_python(emulator)
    alice = await paired_python(emulator, name="alice")
    delivered: list[Node] = []

    def tap(_connection: object, way: str, node: Node) -> None:
        if way == "out" and node.tag == "message":
            delivered.append(node)

    emulator.add_tap(tap)
    try:
        me = emulator.account(PEOPLE["py"][0])
        sent = await py.client.send_text(pn("alice"), "a reportable reply")
        got = await alice.message(sent.id)
        group = emulator.state.add_group("reports", me, [emulator.account(PEOPLE["alice"][0])], "lid")
        grouped = await py.client.send_text(group.jid, "a reportable group message")
        got_group = await alice.message(grouped.id)
        for message_id, received, sender, chat in (
                (sent.id, got, me.jid, JID.parse(pn("alice"))), (grouped.id, got_group, me.lid_jid, group.jid)):
            stanza = py.sent("message", id=message_id)[0]
            tags = [c.tag for c in stanza.children]
            assert tags.count("reporting") == 1 and tags.index("reporting") > tags.index("participants")
            if "tctoken" in tags:
                assert tags.index("reporting") < tags.index("tctoken")
            token = stanza.child("reporting").children[0].content_bytes  # type: ignore[union-attr]
            routed = await emulator.wait_for(partial(_routed, message_id))
            assert routed.data["reporting"] == token
            # The recipient commits to the same bytes from what it decrypted: the token is checkable.
            assert reporting_token(received.message.SerializeToString(),
                                   received.message.messageContextInfo.messageSecret, message_id, sender,
                                   chat) == token
            copies = [n for n in delivered if n.attrs.get("id") == message_id]
            assert copies and all(n.child("reporting") is None for n in copies)
    finally:
        await py.close()
        await alice.close()
