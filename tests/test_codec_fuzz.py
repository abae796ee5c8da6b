"""Fuzzing the decoder: random and mutated frames raise only DecodeError (seeded and reproducible).

A second, smaller run decodes mutated frames with Baileys too and checks both decoders agree wherever
Baileys' leniencies (listed in `KNOWN_LENIENCIES`) are not involved.
"""

from __future__ import annotations

import base64
import contextlib
import random
import re
import zlib
from collections.abc import Callable, Iterator

import pytest

from whatsapp.binary import Node, decode_node, encode_node
from whatsapp.binary import tokens as t
from whatsapp.errors import DecodeError, EncodeError
from whatsapp.jid import JID
from whatsapp.testing.harness.nodejs import run_node_json

SEED = 20261124
TOTAL_INPUTS = 100_000
LENGTH_TAGS = {t.LIST_8, t.LIST_16, t.BINARY_8, t.BINARY_20, t.BINARY_32, t.NIBBLE_8, t.HEX_8}
INTERESTING = bytes([0, 1, 2, 3, 0x7F, 0x80, 0xFF, *range(236, 256)])


def seed_nodes() -> list[Node]:
    rng = random.Random(SEED)
    return [
        Node(
            "iq", {"id": "1234.5678-9", "type": "get", "xmlns": "w:p", "to": JID("", "s.whatsapp.net")}, [Node("ping")]
        ),
        Node(
            "message",
            {"id": "3EB0C431C26A1916E07E", "to": JID("120363025246125486", "g.us"), "type": "text", "t": "1700000000"},
            [
                Node(
                    "participants",
                    {},
                    [
                        Node(
                            "to",
                            {"jid": JID("15551234567", "s.whatsapp.net", 2)},
                            [Node("enc", {"v": "2"}, rng.randbytes(40))],
                        ),
                        Node(
                            "to",
                            {"jid": JID("123456789012345", "lid", 4)},
                            [Node("enc", {"type": "msg"}, rng.randbytes(30))],
                        ),
                    ],
                ),
                Node("enc", {"v": "2", "type": "skmsg"}, rng.randbytes(300)),
            ],
        ),
        Node("receipt", {"id": "ABCDEF0123", "from": JID("1", "hosted", 99), "type": "read", "x": "héllo"}),
        Node("notification", {"from": JID("100", "msgr", 3), "i": JID("5", "interop", 1, integrator=2)}, "text"),
        Node(
            "ib",
            {},
            [Node("offline", {"count": "0"}), Node("edge_routing", {}, [Node("routing_info", {}, b"\x08\x02")])],
        ),
        Node("success", {"lid": JID("1", "lid", 3), "abc": "1_7:2@s.whatsapp.net", "e": ""}, []),
        Node("x", {f"k{i}": str(i) for i in range(130)}, [Node("y")] * 260),
    ]


def _length_positions(frame: bytes) -> list[int]:
    return [i for i, b in enumerate(frame) if b in LENGTH_TAGS and i + 1 < len(frame)]


def mutate(rng: random.Random, frame: bytes, seeds: list[bytes]) -> bytes:
    data = bytearray(frame)
    kind = rng.randrange(9)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # byte overwrite with interesting values
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.choice(INTERESTING)
    elif kind == 2:  # truncation
        del data[rng.randrange(len(data)) :]
    elif kind == 3:  # insertion
        i = rng.randrange(len(data) + 1)
        data[i:i] = bytes(
            rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randrange(256) for _ in range(rng.randint(1, 6))
        )
    elif kind == 4:  # deletion of a range
        i = rng.randrange(len(data))
        del data[i : i + rng.randint(1, 8)]
    elif kind == 5:  # length-field corruption
        positions = _length_positions(frame)
        if positions:
            i = rng.choice(positions) + 1
            for j in range(i, min(len(data), i + rng.randint(1, 4))):
                data[j] = rng.choice((0, 1, 0x7F, 0x80, 0xFE, 0xFF, rng.randrange(256)))
    elif kind == 6:  # splice two frames
        other = rng.choice(seeds)
        data = data[: rng.randrange(len(data))] + other[rng.randrange(len(other)) :]
    elif kind == 7:  # random bytes after the flag
        data = bytearray(b"\x00" + rng.randbytes(rng.randint(0, 64)))
    else:  # random tag soup that looks like nodes
        data = bytearray(b"\x00\xf8") + bytes(
            rng.choice(INTERESTING) if rng.random() < 0.6 else rng.randrange(256) for _ in range(rng.randint(1, 40))
        )
    return bytes(data)


def fuzz_inputs(count: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    frames = [encode_node(node) for node in seed_nodes()]
    compressed = [b"\x02" + zlib.compress(frame[1:]) for frame in frames]
    for _ in range(count):
        roll = rng.random()
        if roll < 0.02:  # mutated compressed frame
            yield mutate(rng, rng.choice(compressed), compressed)
        elif roll < 0.04:  # well-formed zlib around a mutated node
            yield b"\x02" + zlib.compress(mutate(rng, rng.choice(frames), frames)[1:], 1)
        else:
            data = rng.choice(frames)
            for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 4)):
                data = mutate(rng, data, frames) or b"\x00"
            yield data


def check_one(data: bytes) -> Node | None:
    try:
        node = decode_node(data)
    except DecodeError as exc:
        assert isinstance(exc.reason, str) and exc.reason
        return None
    # values Baileys itself cannot re-encode faithfully (e.g. a raw string holding '@' in a JID user) may fail
    with contextlib.suppress(EncodeError, DecodeError):
        decode_node(encode_node(node))
    return node


def test_decoder_survives_fuzzing() -> None:
    decoded = failed = 0
    for index, data in enumerate(fuzz_inputs(TOTAL_INPUTS, SEED)):
        try:
            node = check_one(data)
        except Exception as exc:  # pragma: no cover - the failure report
            raise AssertionError(f"input #{index} ({data.hex()}) raised {type(exc).__name__}: {exc}") from exc
        if node is None:
            failed += 1
        else:
            decoded += 1
    assert decoded + failed == TOTAL_INPUTS
    # the mutations must exercise both outcomes substantially
    assert decoded > TOTAL_INPUTS // 50 and failed > TOTAL_INPUTS // 4


def test_fuzz_inputs_are_reproducible() -> None:
    assert list(fuzz_inputs(200, 7)) == list(fuzz_inputs(200, 7))


# -- differential run against Baileys ------------------------------------------------------------------------

DIFF_INPUTS = 8000

# Where Baileys is laxer than this decoder (or prints JIDs differently); such inputs are only checked
# for "we raise DecodeError", not compared.
KNOWN_LENIENCIES: list[tuple[str, Callable[[DecodeError], bool]]] = [
    ("bytes after the node", lambda e: "left over" in e.reason),
    ("a JID inside a JID", lambda e: "JID cannot be part of a JID" in e.reason or "JID pairs nested" in e.reason),
    ("FB_JID/INTEROP_JID on another server", lambda e: "JID with server" in e.reason),
    ("nesting limit", lambda e: "nested deeper" in e.reason),
    # Baileys reads a BINARY_32 length >= 2**31 as a negative int32, returns an empty value and moves its
    # read position backwards; we reject the length.
    ("BINARY_32 length >= 2**31", lambda e: _needed_bytes(e.reason) >= 2**31),
]


def _needed_bytes(reason: str) -> int:
    match = re.search(r"reading binary value \((\d+) bytes needed", reason)
    return int(match.group(1)) if match else 0


def _normalise_baileys_string(text: str) -> str:
    # Baileys always prints FB_JID/INTEROP_JID devices and integrators; we print nonzero parts only
    text = re.sub(r":0@(msgr|interop)$", r"@\1", text)
    return re.sub(r"^0-(.*@interop)$", r"\1", text)


def _ours_as_baileys(value: object) -> str:
    if isinstance(value, JID):
        if value.agent and value.server == "s.whatsapp.net":  # Baileys drops an unknown AD_JID domain
            value = JID(value.user, value.server, value.device)
        return _normalise_baileys_string(str(value))
    return str(value)


def _ours_json(node: Node) -> dict:
    content: object = None
    if isinstance(node.content, list):
        content = [_ours_json(c) for c in node.content]
    elif isinstance(node.content, bytes):
        content = {"b64": base64.b64encode(node.content).decode()}
    elif node.content is not None:
        content = {"str": _ours_as_baileys(node.content)}
    return {
        "tag": _ours_as_baileys(node.tag),
        "attrs": {k: _ours_as_baileys(v) for k, v in node.attrs.items()},
        "content": content,
    }


def _theirs_json(node: dict) -> dict:
    content = node["content"]
    if isinstance(content, list):
        content = [_theirs_json(c) for c in content]
    elif isinstance(content, dict) and "str" in content:
        content = {"str": _normalise_baileys_string(content["str"])}
    return {
        "tag": node["tag"],
        "attrs": {k: _normalise_baileys_string(v) for k, v in node["attrs"]},
        "content": content,
    }


@pytest.mark.node
def test_decoder_agrees_with_baileys_on_mutated_frames() -> None:
    inputs = [data for data in fuzz_inputs(DIFF_INPUTS, SEED + 1) if data]
    ops = [{"op": "decode", "b64": base64.b64encode(data).decode()} for data in inputs]
    results = run_node_json("codec_oracle.mjs", input_obj={"ops": ops}, timeout=300)
    both_ok = both_failed = lenient = 0
    for data, theirs in zip(inputs, results, strict=True):
        try:
            ours: Node | None = decode_node(data)
            error = None
        except DecodeError as exc:
            ours, error = None, exc
        if ours is not None:
            assert theirs["ok"], f"we decoded what Baileys rejects ({theirs['error']}): {data.hex()}"
            assert _ours_json(ours) == _theirs_json(theirs["node"]), data.hex()
            both_ok += 1
        elif not theirs["ok"]:
            both_failed += 1
        else:
            assert error is not None
            assert any(match(error) for _, match in KNOWN_LENIENCIES), f"only we reject ({error}): {data.hex()}"
            lenient += 1
    print(f"both decoded {both_ok}, both rejected {both_failed}, only Baileys lenient {lenient}")
    assert both_ok > 100 and both_failed > 1000
