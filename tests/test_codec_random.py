"""Random node trees (seeded): Python's bytes equal Baileys' bytes, and both decoders agree on them.

JID objects are given to Baileys as their string form.

The strings are built to hit every branch of Baileys' `writeString`: tokens, nibble/hex packing at and
around 127 characters, lowercase hex, and '@'-strings with odd `user_agent:device` parts that Baileys
coerces with JavaScript number rules.
"""

from __future__ import annotations

import base64
import random

import pytest

from whatsapp.binary import Node, decode_node, encode_node
from whatsapp.binary import tokens as t
from whatsapp.errors import DecodeError
from whatsapp.jid import JID
from whatsapp.testing.harness.codec_json import decoded_to_json, node_to_json
from whatsapp.testing.harness.nodejs import run_node_json

pytestmark = pytest.mark.node

SEED = 77
COUNT = 400

TOKENS = [tok for tok in t.SINGLE_BYTE_TOKENS[1:]] + [tok for d in t.DOUBLE_BYTE_TOKENS for tok in d]
SERVERS = ["s.whatsapp.net", "lid", "g.us", "hosted", "hosted.lid", "broadcast", "c.us", "msgr", "x.y", "", "@"]
JID_PARTS = [
    "123",
    "15551234567",
    "",
    "abc",
    "0",
    "07",
    "0x1F",
    "0b11",
    "1e2",
    " 4",
    "-1",
    "1.5",
    "300",
    "Infinity",
    "é",
]


def random_string(rng: random.Random) -> str:
    kind = rng.randrange(10)
    if kind == 0:
        return rng.choice(TOKENS)
    if kind == 1:
        return "".join(rng.choice("0123456789-.") for _ in range(rng.choice((1, 2, 3, 20, 126, 127, 128))))
    if kind == 2:
        return "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.choice((1, 2, 5, 127, 128))))
    if kind == 3:
        return "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(rng.randint(1, 12)))
    if kind in (4, 5, 6):
        user = rng.choice(JID_PARTS)
        if rng.random() < 0.3:
            user += "_" + rng.choice(JID_PARTS)
        if rng.random() < 0.6:
            user += ":" + rng.choice(JID_PARTS)
        if rng.random() < 0.1:
            user += ":" + rng.choice(JID_PARTS)
        return f"{user}@{rng.choice(SERVERS)}"
    if kind == 7:
        return "".join(
            chr(rng.choice((rng.randrange(32, 127), rng.randrange(0xA0, 0x3000)))) for _ in range(rng.randint(0, 30))
        )
    if kind == 8:
        return rng.choice(("", "a", "x" * 300, "\udc80lone", "emoji 😀", "\0"))
    return "".join(rng.choice("abcxyz-_:.@") for _ in range(rng.randint(1, 10)))


def random_jid(rng: random.Random) -> JID:
    """A JID whose string form Baileys encodes exactly like the JID itself."""
    server = rng.choice(["s.whatsapp.net", "lid", "hosted", "hosted.lid", "g.us", "broadcast", "newsletter", "bot"])
    user = rng.choice(["15551234567", "123456789012345", "status", "120363025246125486", "", "1-2", "abc"])
    if server in ("s.whatsapp.net", "lid", "hosted", "hosted.lid") and rng.random() < 0.6:
        device = rng.choice((1, 2, 99, 255))
        agent = rng.choice((0, 0, 5, 200)) if server == "s.whatsapp.net" else 0
        return JID(user, server, device, agent)
    return JID(user, server)


def random_key(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind < 3:
        return rng.choice(t.SINGLE_BYTE_TOKENS[1:60])
    if kind == 3:
        return str(rng.choice((0, 1, 2, 10, 99, 4294967294, 4294967295)))
    return "".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 8)))


def random_node(rng: random.Random, depth: int = 0) -> Node:
    tag = rng.choice(TOKENS[:200]) if rng.random() < 0.8 else "".join(rng.choice("abcdef") for _ in range(5))
    attrs = {
        random_key(rng): random_jid(rng) if rng.random() < 0.2 else random_string(rng)
        for _ in range(rng.choice((0, 1, 2, 3, 5, 8)))
    }
    roll = rng.random()
    content: object
    if roll < 0.3:
        content = None
    elif roll < 0.5:
        content = rng.randbytes(rng.choice((0, 1, 32, 255, 256, 1000)))
    elif roll < 0.6:
        content = random_string(rng)
    elif roll < 0.65:
        content = random_jid(rng)
    elif depth < 4:
        content = [random_node(rng, depth + 1) for _ in range(rng.choice((0, 1, 2, 4)))]
    else:
        content = None
    return Node(tag, attrs, content)  # type: ignore[arg-type]


def test_random_nodes_against_baileys() -> None:
    rng = random.Random(SEED)
    nodes = [random_node(rng) for _ in range(COUNT)]
    frames = [encode_node(node) for node in nodes]
    ops = [{"op": "encode", "node": node_to_json(node)} for node in nodes]
    ops += [{"op": "decode", "b64": base64.b64encode(frame).decode()} for frame in frames]
    results = run_node_json("codec_oracle.mjs", input_obj={"ops": ops}, timeout=300)
    decoded_both = 0
    for index, (node, frame) in enumerate(zip(nodes, frames, strict=True)):
        enc, dec = results[index], results[COUNT + index]
        assert enc["ok"], (index, enc)
        assert base64.b64decode(enc["b64"]) == frame, (index, node)
        try:
            ours = decode_node(frame)
        except DecodeError as exc:
            assert not dec["ok"], (index, exc)  # e.g. a JID pair with an empty server, unreadable by both
            continue
        assert dec["ok"], (index, dec)
        assert decoded_to_json(ours) == dec["node"], (index, node)
        decoded_both += 1
    assert decoded_both > COUNT // 3
