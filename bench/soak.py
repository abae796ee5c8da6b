"""Soak: a steady `!ping` load on `python bot.py` for a set time; the RSS slope over it.

    .venv/bin/python bench/soak.py [--minutes 30] [--scale 1] [--contacts 10] [--store folder|mongo]
                                   [--warmup 60] [--sample 5] [--results bench/RESULTS.md] [--no-write]

10,000 messages an hour times --scale, spread evenly over --contacts simulated contacts (open loop: sent on
schedule whether or not the previous answer came), through the emulator in its own process
(bench/load_emulator.py), for --minutes. The bot's VmRSS is read from /proc every --sample seconds; after the
first --warmup seconds the least-squares slope is reported in MiB/hour, with the growth from the first to the last
sample after the warm-up, the peak (VmHWM), the answers and their p50/p99 latency, and the AUTH_DIR's size on disk.
The sizes of the bot's in-process caches are not visible from outside the process (its status page's /metrics
does not export them), so only RSS is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from procstats import (
    ROOT,
    Emulator,
    Target,
    cpu_seconds,
    machine,
    percentile,
    status_kib,
    write_section,
)

sys.path.insert(0, str(ROOT))

from whatsapp.testing.harness.mongo import MongoTestServer

PHONE = "15550008101"
BASE_RATE_PER_HOUR = 10_000


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) in MiB per hour."""
    if len(samples) < 2:
        return float("nan")
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    return cov / var * 3600 if var else float("nan")


def dir_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rate = BASE_RATE_PER_HOUR * args.scale / 3600
    seconds = args.minutes * 60
    emulator = Emulator()
    await emulator.start()
    mongo: MongoTestServer | None = None
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        auth_dir = Path(tmp) / "auth"
        try:
            await emulator.command("contacts", n=args.contacts)
            if args.store == "mongo":
                mongo = MongoTestServer(Path(tmp) / "mongo", mode=args.mongo_mode)
                mongo.start()
            target = Target("folder" if args.store == "folder" else "mongo", PHONE, emulator, auth_dir,
                            mongo.uri if mongo else None)
            try:
                await target.start()
                await emulator.command("load", target=PHONE, k=args.contacts, m=2)  # sessions, caches
                print(f"bot.py ({args.store}) pid {target.pid}: {rate:.2f} msg/s for {args.minutes:g} min",
                      flush=True)
                samples: list[tuple[float, float]] = []
                started = time.monotonic()
                cpu0 = cpu_seconds(target.pid)
                load = asyncio.create_task(emulator.command("steady", target=PHONE, rate=rate, seconds=seconds,
                                                            contacts=args.contacts))
                next_print = 0.0
                while not load.done():
                    elapsed = time.monotonic() - started
                    rss = status_kib(target.pid, "VmRSS") / 1024
                    samples.append((elapsed, rss))
                    target.drain()
                    if elapsed >= next_print:
                        print(f"  {elapsed / 60:6.1f} min  RSS {rss:6.1f} MiB", flush=True)
                        next_print += max(60.0, seconds / 20)
                    await asyncio.wait({load}, timeout=args.sample)
                result = load.result()
                cpu = cpu_seconds(target.pid) - cpu0
                peak = status_kib(target.pid, "VmHWM") / 1024
            finally:
                await target.stop()
        finally:
            await emulator.stop()
            if mongo is not None:
                mongo.stop()
        files, size = dir_size(auth_dir)
    kept = [(t, v) for t, v in samples if t >= args.warmup] or samples
    lat = sorted(result["latencies"])
    return {
        "rate": rate, "sent": result["sent"], "answered": result["answered"],
        "p50": percentile(lat, 50), "p99": percentile(lat, 99),
        "slope": slope_per_hour(kept), "growth": kept[-1][1] - kept[0][1], "first": kept[0][1],
        "last": kept[-1][1], "peak": peak, "samples": len(kept), "cpu_per_msg": cpu / max(int(result["sent"]), 1),
        "auth_files": files, "auth_bytes": size,
    }


def report(fig: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    box = machine()
    window = f"{args.warmup:g} s to {args.minutes:g} min"
    return "\n".join([
        "## Soak (bench/soak.py)",
        "",
        f"Command: `{command}`",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in box.items()),
        "",
        f"`python bot.py`, {args.store} store, {fig['rate']:.2f} msg/s "
        f"({BASE_RATE_PER_HOUR:,} an hour x {args.scale:g}) over {args.contacts} contacts for {args.minutes:g} min; "
        "RSS only (the caches' sizes are not visible from outside the process).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| answered | {fig['answered']}/{fig['sent']} |",
        f"| latency p50 / p99 | {fig['p50'] * 1000:.1f} / {fig['p99'] * 1000:.1f} ms |",
        f"| CPU per message (bot process) | {fig['cpu_per_msg'] * 1000:.2f} ms |",
        f"| RSS slope ({window}, {fig['samples']} samples) | {fig['slope']:+.2f} MiB/hour |",
        f"| RSS first -> last sample after warm-up | {fig['first']:.1f} -> {fig['last']:.1f} MiB "
        f"({fig['growth']:+.2f} MiB) |",
        f"| peak RSS (VmHWM) | {fig['peak']:.1f} MiB |",
        f"| AUTH_DIR at the end | {fig['auth_files']} files, {fig['auth_bytes'] / 1024:.0f} KiB |",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--scale", type=float, default=1.0, help="times 10,000 messages an hour")
    parser.add_argument("--contacts", type=int, default=10)
    parser.add_argument("--store", choices=("folder", "mongo"), default="folder")
    parser.add_argument("--mongo-mode", default="replset")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds left out of the slope")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    command = "python bench/soak.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    fig = asyncio.run(run(args))
    section = report(fig, args, command)
    print()
    print(section)
    if not args.no_write:
        write_section(args.results, "Soak (bench/soak.py)", section)
        print(f"written to {args.results}")


if __name__ == "__main__":
    main()
