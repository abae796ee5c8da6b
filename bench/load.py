"""Throughput and latency under load: `python bot.py` (folder store, MongoDB) against a Baileys 7 echo bot.

    .venv/bin/python bench/load.py [--k 1,10,50] [--m 20] [--warmup 2] [--targets folder,mongo,baileys]
                                   [--mongo-mode replset]
                                   [--results bench/RESULTS.md] [--no-write]

K simulated contacts (our own Python clients, linked companions of K emulated accounts) each send M `!ping`s to the
bot, one after the other and waiting for each answer (closed loop), all K at once. The contacts and the emulator
run in one separate process (bench/load_emulator.py), so the bot's figures count the bot process only. Targets,
one after the other in the same run, against the same emulator:
  folder   `python bot.py`, the default folder store (a temporary AUTH_DIR), plugins/ping.py answering `pong`
  mongo    `python bot.py` with MONGODB_URI on SecantusDB (whatsapp.testing.harness.mongo, --mongo-mode)
  baileys  bench/baileys_echo.mjs: Baileys 7.0.0-rc14 with useMultiFileAuthState, answering `pong` (quoted)
Figures per K: answers/s (wall), p50/p95/p99 latency (send to answer received, as the contact sees it), CPU
seconds per message of the bot process (/proc/<pid>/stat utime+stime; the MongoDB server's CPU is not counted) and
peak RSS (VmHWM, reset before each K with /proc/<pid>/clear_refs), each with the ratio to Baileys.
Before the timed rounds every contact sends --warmup untimed messages (sessions established, caches primed).
The results are printed and written to --results with the machine description.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from procstats import (
    ROOT,
    Emulator,
    Target,
    cpu_seconds,
    machine,
    percentile,
    reset_peak_rss,
    status_kib,
    write_section,
)

sys.path.insert(0, str(ROOT))

from whatsapp.testing.harness.mongo import MongoTestServer

PHONES = {"folder": "15550008001", "mongo": "15550008002", "baileys": "15550008003"}
LABELS = {"folder": "bot.py folder", "mongo": "bot.py MongoDB", "baileys": "Baileys 7 echo"}


@dataclass
class Figures:
    target: str
    k: int
    m: int
    sent: int
    answered: int
    throughput: float
    p50: float
    p95: float
    p99: float
    cpu_per_msg: float
    peak_rss_kib: int


async def measure(target: Target, emulator: Emulator, k: int, m: int) -> Figures:
    target.drain()
    reset_peak_rss(target.pid)
    cpu0 = cpu_seconds(target.pid)
    result = await emulator.command("load", target=target.phone, k=k, m=m)
    await asyncio.sleep(0.3)  # receipts and commits after the last answer
    cpu = cpu_seconds(target.pid) - cpu0
    lat = sorted(result["latencies"])
    answered = int(result["answered"])
    return Figures(
        target=target.name, k=k, m=m, sent=int(result["sent"]), answered=answered,
        throughput=answered / result["wall"], p50=percentile(lat, 50), p95=percentile(lat, 95),
        p99=percentile(lat, 99), cpu_per_msg=cpu / max(answered, 1), peak_rss_kib=status_kib(target.pid, "VmHWM"),
    )


def ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}x" if base else "-"


def table(rows: list[Figures]) -> str:
    base = {f.k: f for f in rows if f.target == "baileys"}
    out = [
        "| K | M | target | answered | answers/s | p50 ms | p95 ms | p99 ms | CPU ms/msg | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in sorted(rows, key=lambda f: (f.k, list(PHONES).index(f.target))):
        b = base.get(f.k)
        cells = [
            (f"{f.throughput:.1f}", b and b.throughput),
            (f"{f.p50 * 1000:.1f}", b and b.p50 * 1000),
            (f"{f.p95 * 1000:.1f}", b and b.p95 * 1000),
            (f"{f.p99 * 1000:.1f}", b and b.p99 * 1000),
            (f"{f.cpu_per_msg * 1000:.2f}", b and b.cpu_per_msg * 1000),
            (f"{f.peak_rss_kib / 1024:.1f}", b and b.peak_rss_kib / 1024),
        ]
        shown = [
            text if f.target == "baileys" or not base_value else f"{text} ({ratio(float(text), base_value)})"
            for text, base_value in cells
        ]
        out.append(f"| {f.k} | {f.m} | {LABELS[f.target]} | {f.answered}/{f.sent} | " + " | ".join(shown) + " |")
    return "\n".join(out)


async def run(args: argparse.Namespace) -> list[Figures]:
    ks = [int(k) for k in args.k.split(",")]
    names = [t for t in args.targets.split(",") if t]
    rows: list[Figures] = []
    emulator = Emulator()
    await emulator.start()
    mongo: MongoTestServer | None = None
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        try:
            print(f"linking {max(ks)} contacts ...", flush=True)
            started = time.monotonic()
            await emulator.command("contacts", n=max(ks))
            print(f"  {time.monotonic() - started:.1f}s", flush=True)
            for name in names:
                mongo_uri = None
                if name == "mongo":
                    mongo = MongoTestServer(Path(tmp) / "mongo", mode=args.mongo_mode)
                    mongo.start()
                    mongo_uri = mongo.uri
                target = Target(name, PHONES[name], emulator, Path(tmp) / name, mongo_uri)
                try:
                    took = await target.start()
                    print(f"{LABELS[name]}: online after {took:.1f}s (pid {target.pid}); warming up", flush=True)
                    await emulator.command("load", target=target.phone, k=max(ks), m=args.warmup)
                    await asyncio.sleep(1.0)  # what the first messages of a contact leave behind
                    for k in ks:
                        figures = await measure(target, emulator, k, args.m)
                        rows.append(figures)
                        print(f"  K={k} M={args.m}: {figures.answered}/{figures.sent} answered, "
                              f"{figures.throughput:.1f}/s, p50 {figures.p50 * 1000:.1f} ms, "
                              f"p99 {figures.p99 * 1000:.1f} ms, CPU {figures.cpu_per_msg * 1000:.2f} ms/msg, "
                              f"peak RSS {figures.peak_rss_kib / 1024:.1f} MiB", flush=True)
                finally:
                    await target.stop()
                    if mongo is not None:
                        mongo.stop()
                        mongo = None
        finally:
            await emulator.stop()
    return rows


def report(rows: list[Figures], args: argparse.Namespace, command: str) -> str:
    box = machine()
    lines = [
        "## Load (bench/load.py)",
        "",
        f"Command: `{command}`",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in box.items()),
        "",
        f"K contacts x M={args.m} `!ping`s each, closed loop per contact; MongoDB mode {args.mongo_mode}. "
        "Ratios are to the Baileys 7 echo bot at the same K (throughput: higher is better; the rest: lower).",
        "",
        table(rows),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", default="1,10,50", help="contact counts, comma separated")
    parser.add_argument("--m", type=int, default=20, help="messages per contact")
    parser.add_argument("--warmup", type=int, default=2, help="untimed messages per contact first")
    parser.add_argument("--targets", default="folder,mongo,baileys")
    parser.add_argument("--mongo-mode", default="replset", help="MongoTestServer mode (replset, standalone, ...)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    command = "python bench/load.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    rows = asyncio.run(run(args))
    section = report(rows, args, command)
    print()
    print(section)
    if not args.no_write:
        write_section(args.results, "Load (bench/load.py)", section)
        print(f"written to {args.results}")


if __name__ == "__main__":
    main()
