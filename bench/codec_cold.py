"""Encode/decode time per stanza, warm and cold, the Python codec beside Baileys 7's.

    .venv/bin/python bench/codec_cold.py [--seconds 0.5] [--pool 1000] [--rounds 3]

Warm: one node encoded (its frame decoded) over and over, as bench/codec.py does: every id, JID and timestamp
hits the codec's caches. Cold: for each round a pool of --pool variants of the node, each with its own id(s),
JID users and timestamp, never seen before in the process, each encoded (or decoded) once, as real traffic
does; the figure is the best round's time per call. Decode pools are encoded before the timing, by a separate
set of unique values than the encode pools. Baileys (7.0.0-rc14, bench/codec_cold_bench.mjs with the packages
in tests/node) gets the same nodes. Ratios are Python / Baileys (lower is better).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from codec import ROOT, per_call_us, stanzas
from procstats import machine, write_section

from whatsapp.binary import Node, decode_node, encode_node
from whatsapp.jid import JID
from whatsapp.testing.harness.codec_json import node_to_json

UNIQUE: Iterator[int] = itertools.count(1)
ID_KEYS = ("id", "sid")


def _unique_digits(length: int) -> str:
    return str(next(UNIQUE) + 7 * 10 ** (length - 1))[-length:] if length else ""


def _value(key: str, value: str | JID) -> str | JID:
    if isinstance(value, JID):
        if not value.user:
            return value
        return JID(_unique_digits(len(value.user)), value.server, value.device)
    if key in ID_KEYS:
        # the same shape (length, separators), new characters: hex ids stay hex, "38517.4719-3" stays dotted
        n = next(UNIQUE)
        if all(c in "0123456789ABCDEF" for c in value):
            return f"{value[:4]}{n:0{len(value) - 4}X}"[-len(value):] if len(value) > 4 else f"{n:X}"
        return f"{n}.{n % 10000}-{n % 7}"
    if key == "t":
        return str(1763946000 + next(UNIQUE))
    return value


def variant(node: Node) -> Node:
    """The node with unique ids, JID users and timestamps (tags, other attributes and bytes kept)."""
    attrs = {key: _value(key, value) for key, value in node.attrs.items()}
    content = node.content
    if isinstance(content, list):
        content = [variant(child) for child in content]
    return Node(node.tag, attrs, content)


def per_pool_us(pools: Sequence[Sequence[Any]], fn: Callable[[Any], object]) -> float:
    """Best of the pools, each element once: microseconds per call."""
    best = float("inf")
    for pool in pools:
        start = time.perf_counter()
        for item in pool:
            fn(item)
        best = min(best, (time.perf_counter() - start) / len(pool))
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per warm figure")
    parser.add_argument("--pool", type=int, default=1000, help="unique nodes per cold round")
    parser.add_argument("--rounds", type=int, default=3, help="cold rounds (best taken), each with new values")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    command = "python bench/codec_cold.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    nodes = stanzas()

    # Both sides time the very same cold nodes: the Python pools are the ones sent to Baileys.
    def pools(n: Node) -> list[list[Node]]:
        return [[variant(n) for _ in range(args.pool)] for _ in range(args.rounds)]

    enc_pools = {name: pools(n) for name, n in nodes.items()}
    dec_pools = {name: pools(n) for name, n in nodes.items()}
    baileys: dict[str, dict[str, float]] = {}
    node_bin = shutil.which("node")
    if node_bin:
        spec = {
            name: {
                "warm": node_to_json(n),
                "enc_pools": [[node_to_json(v) for v in pool] for pool in enc_pools[name]],
                "dec_pools": [[node_to_json(v) for v in pool] for pool in dec_pools[name]],
            }
            for name, n in nodes.items()
        }
        proc = subprocess.run([node_bin, str(ROOT / "bench" / "codec_cold_bench.mjs")],
                              input=json.dumps({"nodes": spec, "seconds": args.seconds}), capture_output=True,
                              text=True, cwd=ROOT, check=True)
        baileys = json.loads(proc.stdout)

    rows = []
    for name, stanza in nodes.items():
        frame = encode_node(stanza)
        warm_enc = per_call_us(partial(encode_node, stanza), args.seconds)
        warm_dec = per_call_us(partial(decode_node, frame), args.seconds)
        cold_enc = per_pool_us(enc_pools[name], encode_node)
        frames = [[encode_node(v) for v in pool] for pool in dec_pools[name]]
        cold_dec = per_pool_us(frames, decode_node)
        rows.append((name, len(frame), warm_enc, cold_enc, warm_dec, cold_dec, baileys.get(name)))

    print(f"Python {sys.version.split()[0]}; microseconds per call; warm {args.seconds}s per figure, cold best of "
          f"{args.rounds} pools of {args.pool} unique nodes; ratio = Python/Baileys")
    header = (f"{'stanza':30} {'bytes':>5} | {'encode warm py/js/ratio':>24} | {'encode cold py/js/ratio':>24} | "
              f"{'decode warm py/js/ratio':>24} | {'decode cold py/js/ratio':>24}")
    print(header)
    print("-" * len(header))

    def cell(py: float, js: float | None) -> str:
        return f"{py:7.2f} {js:7.2f} {py / js:7.2f}x" if js else f"{py:7.2f} {'-':>7} {'-':>8}"

    for name, size, warm_enc, cold_enc, warm_dec, cold_dec, js in rows:
        j = js or {}
        print(f"{name:30} {size:5d} | {cell(warm_enc, j.get('warm_encode_us')):>24} | "
              f"{cell(cold_enc, j.get('cold_encode_us')):>24} | {cell(warm_dec, j.get('warm_decode_us')):>24} | "
              f"{cell(cold_dec, j.get('cold_decode_us')):>24}")

    keys = ("warm_encode_us", "cold_encode_us", "warm_decode_us", "cold_decode_us")
    md = [
        "## Codec, warm and cold (bench/codec_cold.py)",
        "",
        f"Command: `{command}`",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()),
        "",
        f"Microseconds per call, Python / Baileys 7 (ratio); warm: the same node again and again; cold: best of "
        f"{args.rounds} pools of {args.pool} nodes with unique ids, JID users and timestamps, each once.",
        "",
        "| stanza | bytes | encode warm | encode cold | decode warm | decode cold |",
        "|---|---|---|---|---|---|",
    ]
    logs: dict[str, list[float]] = {key: [] for key in keys}
    for name, size, warm_enc, cold_enc, warm_dec, cold_dec, js in rows:
        cells = []
        for key, py in zip(keys, (warm_enc, cold_enc, warm_dec, cold_dec), strict=True):
            base = (js or {}).get(key)
            if base:
                logs[key].append(math.log(py / base))
                cells.append(f"{py:.2f} / {base:.2f} ({py / base:.2f}x)")
            else:
                cells.append(f"{py:.2f} / -")
        md.append(f"| {name} | {size} | " + " | ".join(cells) + " |")
    geo = [f"{math.exp(sum(v) / len(v)):.2f}x" if v else "-" for v in logs.values()]
    md.append("| geometric mean of the ratios | | " + " | ".join(geo) + " |")
    print()
    print("geometric mean of the ratios: " + ", ".join(f"{k.removesuffix('_us')} {g}" for k, g in zip(keys, geo,
                                                                                                      strict=True)))
    if not args.no_write:
        write_section(args.results, "Codec, warm and cold (bench/codec_cold.py)", "\n".join(md) + "\n")
        print(f"written to {args.results}")


if __name__ == "__main__":
    main()
