"""Malformed input raises DecodeError (with an offset), unencodable values raise EncodeError, and the
decoder's resource limits hold."""

from __future__ import annotations

import time
import zlib

import pytest

from whatsapp.binary import MAX_DEPTH, MAX_INFLATED_SIZE, Node, compress_frame, decode_node, encode_node
from whatsapp.binary import tokens as t
from whatsapp.errors import DecodeError, EncodeError
from whatsapp.jid import JID

SAMPLE = Node(
    "message",
    {"id": "3EB0C431C26A1916E07E", "to": JID("15551234567", "s.whatsapp.net", 2), "type": "text", "n": "12.5"},
    [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x01" * 300), Node("body", {"x": "1-2:3@interop"}, "hi")],
)


def test_every_truncation_is_a_decode_error() -> None:
    frame = encode_node(SAMPLE)
    for length in range(len(frame)):
        with pytest.raises(DecodeError) as info:
            decode_node(frame[:length])
        assert info.value.offset is not None and info.value.offset <= length


def test_trailing_bytes() -> None:
    with pytest.raises(DecodeError, match="left over") as info:
        decode_node(encode_node(SAMPLE) + b"\x00")
    assert info.value.offset == len(encode_node(SAMPLE))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "end of data"),
        (b"\x00", "empty node"),
        (b"\xf8\x00", "empty node"),
        (b"\x05", "expected a node"),
        (b"\xf8\x01\x00", "without a tag"),
        (b"\xf8\x01\xf0", "invalid string tag 240"),
        (b"\xf8\x01\xf8", "invalid string tag 248"),
        (b"\xf8\x03\x13\x03\xfa\xfa", "JID cannot be part of a JID"),
        (b"\xf8\x03\x13\x03\xfa\x00\xfc\x00", "without a server"),
        (b"\xf8\x03\x13\x03\xf6\x01\x00\x01\x03", "FB_JID with server"),
        (b"\xf8\x03\x13\x03\xf5\x01\x00\x01\x00\x02\x03", "INTEROP_JID with server"),
        (b"\xf8\x03\x13\x03\xff\x01\xcc", "invalid nibble"),
        (b"\xf8\x03\x13\x03\xfc\x05ab", "end of data reading binary value"),
        (b"\xf8\x03\x13\x03\xfe\xff\xff\xff\xff", "end of data reading binary value"),
        (b"\xf8\xff\x13", "attributes cannot fit"),
        (b"\xf8\x02\x13\xf9\xff\xff\x00", "child nodes cannot fit"),
        (b"\xf8\x02\x13\xf8\x02\xf8\x01\x13", "cannot fit"),
        (b"\xf8\x02\x13\xf8\x01\xf8\x02\x13", "end of data \\(truncated node\\)"),
    ],
)
def test_malformed_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_node(b"\x00" + body)


def test_offsets_name_the_frame_position() -> None:
    with pytest.raises(DecodeError) as info:
        decode_node(b"\x00\xf8\x03\x13\x03\xfa\xfa")
    assert info.value.offset == 6
    assert "offset 6" in str(info.value)


def test_interop_jid_without_server_uses_interop() -> None:
    """Baileys falls back to the interop server when the INTEROP_JID carries no server string."""
    node = decode_node(b"\x00\xf8\x03\x13\x04\xf5\x00\x00\x05\x00\x07")
    assert node.attrs["type"] == JID("", "interop", 5, integrator=7)


def test_unknown_domain_is_kept_as_agent() -> None:
    node = decode_node(b"\x00\xf8\x03\x13\x04\xf7\x05\x02\xff\x01\x12")
    assert node.attrs["type"] == JID("12", "s.whatsapp.net", 2, agent=5)
    assert decode_node(encode_node(node)) == node


def test_empty_list_content_and_token_content() -> None:
    assert decode_node(b"\x00\xf8\x02\x13\x00") == Node("message", {}, [])
    assert decode_node(b"\x00\xf8\x02\x13\x03") == Node("message", {}, "s.whatsapp.net")


def test_nesting_limit() -> None:
    node = Node("leaf")
    for _ in range(MAX_DEPTH):
        node = Node("n", {}, [node])
    assert decode_node(encode_node(node)) == node
    deeper = Node("n", {}, [node])
    with pytest.raises(DecodeError, match="nested deeper"):
        decode_node(encode_node(deeper))
    # a hand-made bomb: 100k nested single-child lists
    bomb = b"\x00" + b"\xf8\x02\x13\xf8\x01" * 100_000 + b"\xf8\x01\x13"
    with pytest.raises(DecodeError, match="nested deeper"):
        decode_node(bomb)


def test_zlib_bomb_is_bounded() -> None:
    inner = encode_node(Node("x", {}, b"\x00" * (MAX_INFLATED_SIZE + 1000)))[1:]
    frame = b"\x02" + zlib.compress(inner, 9)
    assert len(frame) < 100_000
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="inflates beyond"):
        decode_node(frame)
    assert time.perf_counter() - started < 5  # bounded work, not a timing claim
    with pytest.raises(DecodeError, match="inflates beyond"):
        decode_node(compress_frame(encode_node(SAMPLE)), max_inflated_size=100)


def test_bad_and_truncated_zlib() -> None:
    good = compress_frame(encode_node(SAMPLE))
    assert decode_node(good) == decode_node(encode_node(SAMPLE))
    with pytest.raises(DecodeError, match="truncated zlib"):
        decode_node(good[:-5])
    with pytest.raises(DecodeError, match="bad zlib"):
        decode_node(b"\x02not zlib at all")
    with pytest.raises(DecodeError, match="empty frame"):
        decode_node(b"")


def test_decode_accepts_bytearray_and_memoryview() -> None:
    frame = encode_node(SAMPLE)
    assert decode_node(bytearray(frame)) == decode_node(memoryview(frame)) == decode_node(frame)


def test_p9_quirks() -> None:
    assert encode_node(Node("iq", {"to": "@s.whatsapp.net"}))[-3:] == b"\xfa\x00\x03"
    assert encode_node(Node("x", {"id": "ABCDEF"}))[-5:] == bytes([t.HEX_8, 3, 0xAB, 0xCD, 0xEF])
    assert encode_node(Node("x", {"id": "abcdef"}))[-8:] == bytes([t.BINARY_8, 6]) + b"abcdef"
    assert decode_node(encode_node(Node("x", {}, "hello"))).content == b"hello"
    assert decode_node(encode_node(Node("x", {"a": "123"}))).attrs["a"] == "123"


@pytest.mark.parametrize(
    "node",
    [
        Node(""),
        Node(None),  # type: ignore[arg-type]
        Node("x", {"a": 1}),  # type: ignore[dict-item]
        Node("x", {1: "a"}),  # type: ignore[dict-item]
        Node("x", {}, 5),  # type: ignore[arg-type]
        Node("x", {}, ["not a node"]),  # type: ignore[list-item]
        Node("x", {}, [Node("y")] * 70_000),
        Node("x", {"j": JID("1", "s.whatsapp.net", 300)}),
        Node("x", {"j": JID("1", "g.us", 3)}),
        Node("x", {"j": JID("a@b", "s.whatsapp.net")}),
        Node("x", {"j": JID("1", "")}),
        Node("x", {"j": JID("1", "msgr", 70_000)}),
        Node("x", {"j": JID("1", "s.whatsapp.net", "2")}),  # type: ignore[arg-type]
        Node("x", {"j": JID("1", "s.whatsapp.net", 2, agent=1)}),  # would decode as 1:2@lid
        Node("x", {"j": JID("1", "s.whatsapp.net", 2, agent=128)}),
        Node("x", {"j": JID("1", "interop", 1, integrator=-1)}),
        Node("x", {"j": JID(1, "s.whatsapp.net")}),  # type: ignore[arg-type]
    ],
)
def test_unencodable(node: Node) -> None:
    with pytest.raises(EncodeError):
        encode_node(node)


def test_encode_depth_limit() -> None:
    node = Node("leaf")
    for _ in range(300):
        node = Node("n", {}, [node])
    with pytest.raises(EncodeError, match="too deep"):
        encode_node(node)


def test_none_attributes_are_skipped_and_empty_kept() -> None:
    assert encode_node(Node("x", {"a": None, "b": ""})) == encode_node(Node("x", {"b": ""}))  # type: ignore[dict-item]
    assert decode_node(encode_node(Node("x", {"b": ""}))).attrs == {"b": ""}


def test_baileys_leniencies_on_encode() -> None:
    """Like Baileys: None attributes and None children are left out; attrs=None means no attributes."""
    assert encode_node(Node("x", {}, [None, Node("y"), None])) == encode_node(Node("x", {}, [Node("y")]))  # type: ignore[list-item]
    assert encode_node(Node("x", None)) == encode_node(Node("x"))  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        encode_node(Node("x", ["a"]))  # type: ignore[arg-type]


def test_jid_pair_with_a_jid_server_is_a_string() -> None:
    """Baileys writes "a@b@c" as a JID pair whose server is a JID pair; it reads back as that string."""
    frame = encode_node(Node("x", {"a": "a@b@c", "b": "x@y:1@lid"}, "p@q@r"))
    assert decode_node(frame) == Node("x", {"a": "a@b@c", "b": "x@y:1@lid"}, "p@q@r")
    assert encode_node(decode_node(frame)) == frame
    deep = "@".join("u" * 20) + "@s"
    with pytest.raises(DecodeError, match="nested deeper than 16"):
        decode_node(encode_node(Node("x", {"a": deep})))


def test_nibble_padding_rules_follow_baileys() -> None:
    # odd length: the final nibble is dropped, but an invalid one (12-14) is still an error
    with pytest.raises(DecodeError, match="invalid nibble"):
        decode_node(b"\x00\xf8\x03\x13\x04\xff\x81\x1c")
    assert decode_node(b"\x00\xf8\x03\x13\x04\xff\x81\x13").attrs["type"] == "1"
    # a pad nibble inside the string reads as NUL, as in Baileys
    assert decode_node(b"\x00\xf8\x03\x13\x04\xff\x02\xf1\x23").attrs["type"] == "\x00123"
    # hex: odd length drops the last digit; 0x80 with no bytes is the empty string
    assert decode_node(b"\x00\xf8\x03\x13\x04\xfb\x82\xab\xcd").attrs["type"] == "ABC"
    assert decode_node(b"\x00\xf8\x03\x13\x04\xfb\x80").attrs["type"] == ""
