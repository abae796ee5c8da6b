"""The Python codec against the pinned Baileys 7 codec, driven at test time (tests/node/codec_oracle.mjs).

For every node: Python's bytes equal Baileys' bytes, and both decoders read those bytes to the same node.
All nodes go to Node in one batch per test (JSON over stdin/stdout, bytes as base64).
"""

from __future__ import annotations

import base64
import random
import zlib
from typing import Any

import pytest

from whatsapp.binary import Node, compress_frame, decode_node, encode_node
from whatsapp.errors import DecodeError
from whatsapp.jid import JID
from whatsapp.testing.harness.codec_json import as_baileys_string, b64, decoded_to_json, node_to_json
from whatsapp.testing.harness.nodejs import run_node_json

pytestmark = pytest.mark.node

ORACLE = "codec_oracle.mjs"


def oracle(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = run_node_json(ORACLE, input_obj={"ops": ops}, timeout=180)
    assert len(results) == len(ops)
    return results


# -- the corpus -------------------------------------------------------------------------------------------


def _many_children(count: int) -> list[Node]:
    return [Node("item", {"id": str(i)}) for i in range(count)]


def _nested(depth: int) -> Node:
    node = Node("leaf", {"n": str(depth)}, b"\x00\x01")
    for level in range(depth):
        node = Node("level", {"d": str(level)}, [node, Node("sib", {"x": "y"})])
    return node


RNG = random.Random(1234)
BIG_32 = RNG.randbytes((1 << 20) + 17)  # BINARY_32 needs >= 1 MiB
BIG_20 = RNG.randbytes(70_000)

CORPUS: list[tuple[str, Node]] = [
    ("single-byte tokens", Node("iq", {"type": "get", "xmlns": "w:p", "to": "@s.whatsapp.net"}, [Node("ping")])),
    ("double-byte dict 0", Node("read-self", {"reason": "refresh", "x": "active"})),
    ("double-byte dict 1", Node("reject", {"v": "mute_v2"})),
    ("double-byte dict 2/3", Node("x", {"a": "u_aud_limit_sil_restarts_test1", "b": "64", "c": "1537", "d": "1961"})),
    ("token content", Node("status", {}, "available")),
    ("nibble even/odd", Node("ack", {"id": "1234", "t": "1700000000", "n": "12.5-3", "o": "123", "p": "-"})),
    ("nibble max 127", Node("x", {"a": "9" * 127, "b": "9" * 128})),
    ("hex upper even/odd", Node("message", {"id": "3EB0A1B2C3D4E5F6", "o": "ABC", "p": "F"})),
    ("hex lowercase is raw", Node("message", {"id": "3eb0a1b2c3d4", "m": "3EB0a1"})),
    ("hex 127 vs 128", Node("x", {"a": "A" * 127, "b": "B" * 128})),
    ("binary 8 content", Node("enc", {"v": "2", "type": "pkmsg"}, RNG.randbytes(200))),
    ("binary 8 at 255", Node("enc", {}, RNG.randbytes(255))),
    ("binary 20 at 256", Node("enc", {}, RNG.randbytes(256))),
    ("binary 20 large", Node("enc", {"type": "skmsg"}, BIG_20)),
    ("binary 32", Node("media", {"type": "image"}, BIG_32)),
    ("empty bytes content", Node("enc", {}, b"")),
    ("raw string content", Node("body", {}, "hello, world")),
    ("unicode strings", Node("x", {"name": "Zoë 😀 名前", "e": ""}, "ünïcödé ✓")),
    ("empty attr value", Node("x", {"a": "", "b": "c"})),
    ("long raw attr (BINARY_20)", Node("x", {"a": "z" * 3000})),
    ("pn jid", Node("message", {"to": "15551234567@s.whatsapp.net", "from": "@s.whatsapp.net"})),
    ("pn device (AD_JID)", Node("message", {"participant": "15551234567:12@s.whatsapp.net"})),
    ("pn device 0 (AD_JID)", Node("message", {"participant": "15551234567:0@s.whatsapp.net"})),
    ("lid", Node("message", {"from": "123456789012345@lid", "p": "123456789012345:7@lid"})),
    ("hosted", Node("message", {"a": "15551234567:99@hosted", "b": "15551234567@hosted"})),
    ("hosted.lid", Node("message", {"a": "123456789012345:99@hosted.lid", "b": "1@hosted.lid"})),
    ("agent", Node("message", {"a": "15551234567_5:3@s.whatsapp.net", "b": "15551234567_1:3@lid"})),
    ("group", Node("message", {"to": "120363025246125486@g.us", "old": "15551234567-1600000000@g.us"})),
    ("broadcast", Node("message", {"to": "status@broadcast", "list": "1600000000@broadcast"})),
    ("newsletter/bot/c.us", Node("x", {"a": "120363123@newsletter", "b": "867051314767696@bot", "c": "0@c.us"})),
    ("msgr/interop strings", Node("x", {"a": "100001:2@msgr", "b": "1-2:3@interop", "c": "abc@msgr"})),
    ("jid content", Node("participant", {}, "15551234567:3@s.whatsapp.net")),
    ("jid-looking strings", Node("x", {"e": "john@example.com", "w": "a_b@c.us", "m": "1:2:3@s.whatsapp.net"})),
    (
        "js number coercions",
        Node("x", {"a": "1_0x1F:0x10@s.whatsapp.net", "b": "9: 5@s.whatsapp.net", "c": "x:1e2@lid"}),
    ),
    ("js odd devices", Node("x", {"a": "u:-1@s.whatsapp.net", "b": "u:abc@s.whatsapp.net", "c": "u:300@lid"})),
    ("nested @", Node("x", {"a": "a@b@c", "b": "@@", "c": "x@y:1@lid"})),
    ("empty list content", Node("list", {}, [])),
    ("list 8", Node("usync", {"mode": "query"}, _many_children(200))),
    ("list 16 children", Node("usync", {}, _many_children(300))),
    ("list 16 attrs", Node("x", {f"k{i}": f"v{i}" for i in range(140)})),
    ("integer-like keys", Node("x", {"b": "1", "10": "x", "2": "y", "01": "z", "4294967295": "w"})),
    ("nested 20", _nested(20)),
    (
        "message stanza",
        Node(
            "message",
            {"id": "3EB0C431C26A1916E07E", "to": "120363025246125486@g.us", "type": "text", "phash": "2:abcDEF=="},
            [
                Node(
                    "participants",
                    {},
                    [
                        Node(
                            "to",
                            {"jid": "15551234567:2@s.whatsapp.net"},
                            [Node("enc", {"v": "2", "type": "pkmsg"}, RNG.randbytes(300))],
                        ),
                        Node(
                            "to",
                            {"jid": "123456789012345:4@lid"},
                            [Node("enc", {"v": "2", "type": "msg"}, RNG.randbytes(90))],
                        ),
                    ],
                ),
                Node("enc", {"v": "2", "type": "skmsg"}, RNG.randbytes(120)),
                Node("device-identity", {}, RNG.randbytes(150)),
            ],
        ),
    ),
]


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 30


def test_corpus_against_baileys(baileys: dict[str, list[dict[str, Any]]]) -> None:
    """Python bytes == Baileys bytes; Baileys and Python decode them identically."""
    python_frames = [encode_node(node) for _, node in CORPUS]
    results = baileys["corpus"]
    count = len(CORPUS)
    for (name, _node), frame, enc, dec in zip(CORPUS, python_frames, results[:count], results[count:], strict=True):
        assert enc["ok"], (name, enc)
        assert base64.b64decode(enc["b64"]) == frame, name
        try:
            ours = decoded_to_json(decode_node(frame))
        except DecodeError as exc:
            # Baileys writes some strings it cannot read back (a JID pair without a server); so must we.
            assert not dec["ok"], (name, exc)
            continue
        assert dec["ok"], (name, dec)
        assert ours == dec["node"], name


UNDECODABLE = Node("x", {"a": "abc@"})


def test_undecodable_encodings_agree(baileys: dict[str, list[dict[str, Any]]]) -> None:
    """Both sides reject the bytes Baileys produces for `user@` (a JID pair with an empty server)."""
    frame = encode_node(UNDECODABLE)
    assert frame.endswith(bytes([0xFA, 0xFC, 3]) + b"abc" + bytes([0xFC, 0]))
    with pytest.raises(DecodeError):
        decode_node(frame)
    enc, dec = baileys["undecodable"]
    assert base64.b64decode(enc["b64"]) == frame
    assert not dec["ok"]


def test_round_trip_values() -> None:
    """Decoding gives str for strings, JID for JID-encoded values and bytes for binary content."""
    for name, node in CORPUS:
        try:
            decoded = decode_node(encode_node(node))
        except DecodeError:
            continue
        assert decoded.tag == node.tag, name
    decoded = decode_node(encode_node(CORPUS[-1][1]))
    assert decoded.attrs["to"] == JID("120363025246125486", "g.us")
    assert decoded.attrs["phash"] == "2:abcDEF=="
    to = decoded.child("participants").children[1]
    assert to.attrs["jid"] == JID("123456789012345", "lid", 4)
    assert isinstance(to.child("enc").content, bytes)


JID_NODES = [
    JID("15551234567", "s.whatsapp.net"),
    JID("15551234567", "s.whatsapp.net", 12),
    JID("", "s.whatsapp.net"),
    JID("123456789012345", "lid", 3),
    JID("123456789012345", "lid"),
    JID("15551234567", "hosted", 99),
    JID("123456789012345", "hosted.lid", 99),
    JID("15551234567", "s.whatsapp.net", 2, agent=5),
    JID("120363025246125486", "g.us"),
    JID("status", "broadcast"),
    JID("120363123", "newsletter"),
    JID("867051314767696", "bot"),
    JID("16505361212", "c.us"),
    JID("100001234", "msgr", 2),
    JID("100001234", "msgr"),
    JID("5551234", "interop", 3, integrator=7),
]


def test_jid_objects_against_baileys(baileys: dict[str, list[dict[str, Any]]]) -> None:
    """JID objects encode like Baileys encodes their string form; FB_JID/INTEROP_JID decode in Baileys
    to the JID's string form (Baileys never emits those two tags itself)."""
    nodes = [Node("x", {"jid": jid}, jid) for jid in JID_NODES]
    frames = [encode_node(node) for node in nodes]
    results = baileys["jids"]
    for jid, _node, frame, enc, dec in zip(
        JID_NODES, nodes, frames, results[: len(nodes)], results[len(nodes) :], strict=True
    ):
        if jid.server not in ("msgr", "interop"):
            assert base64.b64decode(enc["b64"]) == frame, jid
        assert dec["ok"], (jid, dec)
        expected = as_baileys_string(jid)
        if jid.server == "msgr":  # Baileys prints FB_JID and INTEROP_JID with the device even when 0
            expected = f"{jid.user}:{jid.device}@msgr"
        elif jid.server == "interop":
            expected = f"{jid.integrator}-{jid.user}:{jid.device}@interop"
        assert dec["node"]["attrs"] == [["jid", expected]], jid
        assert dec["node"]["content"] == {"str": expected}, jid
        decoded = decode_node(frame)
        if jid.agent and not jid.device:
            assert decoded.attrs["jid"] == jid.to_non_ad()  # a device-less JID pair carries no agent
        else:
            assert decoded.attrs["jid"] == jid
            assert decoded.content == jid
    # <x jid=...>: 00 f8 04 | fc 01 'x' | 'jid' token | the JID tag
    assert frames[13][:8] == bytes.fromhex("00f804fc01780cf6")  # FB_JID
    assert frames[15][:8] == bytes.fromhex("00f804fc01780cf5")  # INTEROP_JID


def test_compressed_frames(baileys: dict[str, list[dict[str, Any]]]) -> None:
    """Baileys decodes Python-compressed frames; Python decodes zlib frames deflated by Node."""
    node = CORPUS[-1][1]
    ours = compress_frame(encode_node(node))
    assert ours[0] == 2
    enc, dec = baileys["compressed"]
    theirs = base64.b64decode(enc["b64"])
    assert theirs[0] == 2
    assert zlib.decompress(theirs[1:]) == encode_node(node)[1:]
    assert decoded_to_json(decode_node(theirs)) == dec["node"] == decoded_to_json(decode_node(ours))


@pytest.fixture(scope="module")
def baileys() -> dict[str, list[dict[str, Any]]]:
    """Every Baileys answer this module needs, from a single Node run."""
    jid_nodes = [Node("x", {"jid": jid}, jid) for jid in JID_NODES]
    compressed = CORPUS[-1][1]
    groups: dict[str, list[dict[str, Any]]] = {
        "corpus": [{"op": "encode", "node": node_to_json(node)} for _, node in CORPUS]
        + [{"op": "decode", "b64": b64(encode_node(node))} for _, node in CORPUS],
        "undecodable": [
            {"op": "encode", "node": node_to_json(UNDECODABLE)},
            {"op": "decode", "b64": b64(encode_node(UNDECODABLE))},
        ],
        "jids": [{"op": "encode", "node": node_to_json(node)} for node in jid_nodes]
        + [{"op": "decode", "b64": b64(encode_node(node))} for node in jid_nodes],
        "compressed": [
            {"op": "encode", "node": node_to_json(compressed), "compress": True},
            {"op": "decode", "b64": b64(compress_frame(encode_node(compressed)))},
        ],
    }
    results = oracle([op for ops in groups.values() for op in ops])
    answers: dict[str, list[dict[str, Any]]] = {}
    start = 0
    for name, ops in groups.items():
        answers[name] = results[start : start + len(ops)]
        start += len(ops)
    return answers
