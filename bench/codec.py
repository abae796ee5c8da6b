"""Encode/decode time per typical stanza: the Python codec against Baileys 7's on the same nodes.

Usage: .venv/bin/python bench/codec.py [--seconds 0.5]
Baileys is timed by tests/node/codec_bench.mjs (sync `decodeDecompressedBinaryNode` and async `decodeBinaryNode`).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from whatsapp.binary import Node, decode_node, encode_node  # noqa: E402
from whatsapp.jid import JID  # noqa: E402
from whatsapp.testing.harness.codec_json import node_to_json  # noqa: E402

RNG = random.Random(42)


def stanzas() -> dict[str, Node]:
    group = JID("120363025246125486", "g.us")
    devices = [JID("1555123456" + str(i), "s.whatsapp.net", d) for i in range(3) for d in (0, 2)]
    devices += [JID("12345678901234" + str(i), "lid", 3) for i in range(2)]
    return {
        "message out (group, 8 devices)": Node(
            "message",
            {"id": "3EB0C431C26A1916E07E", "to": group, "type": "text", "phash": "2:x0ZbXg+e"},
            [
                Node(
                    "participants",
                    {},
                    [
                        Node("to", {"jid": jid}, [Node("enc", {"v": "2", "type": "pkmsg"}, RNG.randbytes(250))])
                        for jid in devices
                    ],
                ),
                Node("enc", {"v": "2", "type": "skmsg"}, RNG.randbytes(130)),
                Node("device-identity", {}, RNG.randbytes(160)),
            ],
        ),
        "message in (1:1 msg)": Node(
            "message",
            {
                "from": JID("15551234567", "s.whatsapp.net"),
                "id": "3EB0A1B2C3D4E5F60718",
                "type": "text",
                "t": "1763946000",
                "notify": "Alice",
                "sender_lid": JID("123456789012345", "lid"),
            },
            [Node("enc", {"v": "2", "type": "msg"}, RNG.randbytes(140))],
        ),
        "receipt": Node(
            "receipt",
            {
                "id": "3EB0A1B2C3D4E5F60718",
                "to": JID("15551234567", "s.whatsapp.net"),
                "type": "read",
                "t": "1763946001",
            },
        ),
        "ack": Node(
            "ack", {"id": "3EB0A1B2C3D4E5F60718", "class": "receipt", "to": JID("15551234567", "s.whatsapp.net", 2)}
        ),
        "iq ping": Node(
            "iq", {"id": "38517.4719-3", "to": JID("", "s.whatsapp.net"), "type": "get", "xmlns": "w:p"}, [Node("ping")]
        ),
        "iq usync result (5 users)": Node(
            "iq",
            {"from": JID("", "s.whatsapp.net"), "id": "38517.4719-4", "type": "result"},
            [
                Node(
                    "usync",
                    {"sid": "38517.4719-5", "index": "0", "last": "true", "mode": "query", "context": "message"},
                    [
                        Node(
                            "list",
                            {},
                            [
                                Node(
                                    "user",
                                    {"jid": JID("1555000000" + str(i), "s.whatsapp.net")},
                                    [
                                        Node(
                                            "devices",
                                            {},
                                            [
                                                Node(
                                                    "device-list",
                                                    {},
                                                    [Node("device", {"id": str(d)}) for d in (0, 2, 5)],
                                                )
                                            ],
                                        ),
                                        Node("lid", {"val": JID("12345678900000" + str(i), "lid")}),
                                    ],
                                )
                                for i in range(5)
                            ],
                        )
                    ],
                )
            ],
        ),
        "iq prekey upload (30 keys)": Node(
            "iq",
            {"id": "38517.4719-6", "to": JID("", "s.whatsapp.net"), "type": "set", "xmlns": "encrypt"},
            [
                Node("registration", {}, RNG.randbytes(4)),
                Node("type", {}, b"\x05"),
                Node("identity", {}, RNG.randbytes(32)),
                Node(
                    "list",
                    {},
                    [
                        Node("key", {}, [Node("id", {}, i.to_bytes(3, "big")), Node("value", {}, RNG.randbytes(32))])
                        for i in range(30)
                    ],
                ),
                Node(
                    "skey",
                    {},
                    [
                        Node("id", {}, b"\x00\x00\x01"),
                        Node("value", {}, RNG.randbytes(32)),
                        Node("signature", {}, RNG.randbytes(64)),
                    ],
                ),
            ],
        ),
        "notification (devices)": Node(
            "notification",
            {"from": JID("15551234567", "s.whatsapp.net"), "id": "1234567890", "t": "1763946002", "type": "devices"},
            [
                Node(
                    "add",
                    {"device_hash": "2:ZmFrZQ=="},
                    [Node("device", {"jid": JID("15551234567", "s.whatsapp.net", 7)})],
                )
            ],
        ),
        "presence": Node(
            "presence", {"from": JID("15551234567", "s.whatsapp.net"), "type": "available", "last": "deny"}
        ),
    }


def per_call_us(fn: Callable[[], object], seconds: float, rounds: int = 5) -> float:
    """Best of `rounds` timed rounds (the machine is shared; the minimum is the least noisy figure)."""
    fn()
    batch = 1
    while True:  # size a batch to ~seconds/rounds
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / rounds / 4:
            break
        batch *= 2
    batch = max(1, int(batch * (seconds / rounds) / elapsed))
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - start) / batch)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()
    nodes = stanzas()
    node = shutil.which("node")
    baileys: dict[str, dict[str, float]] = {}
    if node:
        proc = subprocess.run(
            [node, str(ROOT / "tests/node/codec_bench.mjs")],
            input=json.dumps({"nodes": {k: node_to_json(v) for k, v in nodes.items()}, "seconds": args.seconds}),
            capture_output=True,
            text=True,
            cwd=ROOT / "tests/node",
            check=True,
        )
        baileys = json.loads(proc.stdout)
    print(f"Python {sys.version.split()[0]}; {args.seconds}s per figure; microseconds per call; ratio = Python/Baileys")
    header = (
        f"{'stanza':32} {'bytes':>6} | {'py enc':>7} {'js enc':>7} {'ratio':>6} | "
        f"{'py dec':>7} {'js dec':>7} {'ratio':>6} {'js dec async':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, stanza in nodes.items():
        frame = encode_node(stanza)
        assert decode_node(frame) is not None
        py_enc = per_call_us(lambda stanza=stanza: encode_node(stanza), args.seconds)
        py_dec = per_call_us(lambda frame=frame: decode_node(frame), args.seconds)
        js = baileys.get(name)
        if js:
            assert js["bytes"] == len(frame)
            print(
                f"{name:32} {len(frame):6d} | {py_enc:7.2f} {js['encode_us']:7.2f} {py_enc / js['encode_us']:6.1f} | "
                f"{py_dec:7.2f} {js['decode_us']:7.2f} {py_dec / js['decode_us']:6.1f} {js['decode_async_us']:12.2f}"
            )
        else:
            print(f"{name:32} {len(frame):6d} | {py_enc:7.2f} {'-':>7} {'-':>6} | {py_dec:7.2f} {'-':>7} {'-':>6}")


if __name__ == "__main__":
    main()
