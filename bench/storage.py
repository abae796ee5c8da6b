"""Session storage figures: load time of a 1,000-key session, and the cost of one incoming message.

    .venv/bin/python bench/storage.py [--keys 1000] [--messages 200]

Starts its own SecantusDB (loopback, temporary directory) in both server modes: a replica set, and a
standalone server that refuses transactions (whatsapp/testing/harness/mongo_proxy.py). An incoming message is
modelled as the unit of work a decrypt makes: one ~1.5 KB session record updated and one pre-key
deleted. Figures: load time from MongoDB (empty folder) and from the folder (no MongoDB); per message,
bytes written and fsyncs to the folder, MongoDB commands (round trips) and bytes sent, and the commit
latency p50/p95. SecantusDB is a Python server, much slower than mongod: MongoDB latencies are upper bounds.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/storage.py`: import the project from the repository root.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import bson  # noqa: E402
from loguru import logger  # noqa: E402
from pymongo import monitoring  # noqa: E402

from storage import StoreConfig, open_store  # noqa: E402
from whatsapp.auth import KeyType  # noqa: E402
from whatsapp.testing.harness.mongo import MODES, MongoTestServer  # noqa: E402


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands = 0
        self.bytes = 0
        self.names: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("ping", "hello", "isMaster", "endSessions"):
            return
        self.commands += 1
        self.bytes += len(bson.encode(event.command))
        self.names[event.command_name] = self.names.get(event.command_name, 0) + 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COUNTER = CommandCounter()
monitoring.register(COUNTER)


class DiskCounter:
    """Counts bytes written with os.write and calls to os.fsync (the folder store uses exactly these)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.fsyncs = 0
        self._write, self._fsync = os.write, os.fsync

    def __enter__(self) -> DiskCounter:
        def write(fd: int, data: bytes) -> int:
            n = self._write(fd, data)
            self.bytes += n
            return n

        def fsync(fd: int) -> None:
            self.fsyncs += 1
            self._fsync(fd)

        os.write, os.fsync = write, fsync  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        os.write, os.fsync = self._write, self._fsync  # type: ignore[assignment]


async def populate(config: StoreConfig, keys: int) -> None:
    store = await open_store(config)
    await store.acquire_lease()
    async with store.transaction() as tx:
        tx.set_creds(store.creds)
        for i in range(keys):
            kind = (KeyType.SESSION, KeyType.PRE_KEY, KeyType.SENDER_KEY, KeyType.IDENTITY)[i % 4]
            tx.set(kind, f"{i}", os.urandom(1500 if kind == KeyType.SESSION else 64))
    await store.close()


async def time_load(config: StoreConfig, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        store = await open_store(config)
        times.append(time.perf_counter() - started)
        await store.close()
    return statistics.median(times)


async def per_message(config: StoreConfig, messages: int, keys: int) -> dict[str, float]:
    store = await open_store(config)
    await store.acquire_lease()
    latencies = []
    COUNTER.commands = COUNTER.bytes = 0
    COUNTER.names.clear()
    with DiskCounter() as disk:
        for n in range(messages):
            started = time.perf_counter()
            async with store.transaction() as tx:
                tx.set(KeyType.SESSION, str(4 * (n % (keys // 4))), os.urandom(1500))
                tx.set(KeyType.PRE_KEY, str(4 * (n % (keys // 4)) + 1), None)
            latencies.append(time.perf_counter() - started)
    await store.close()
    return {
        "disk_bytes": disk.bytes / messages,
        "fsyncs": disk.fsyncs / messages,
        "mongo_commands": COUNTER.commands / messages,
        "mongo_bytes": COUNTER.bytes / messages,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": sorted(latencies)[int(0.95 * len(latencies))] * 1000,
        "commands": dict(COUNTER.names),  # type: ignore[dict-item]
    }


def report(label: str, name: str, figures: dict[str, float]) -> None:
    print(
        f"[{label}] per incoming message, {name}: {figures['disk_bytes']:.0f} B written to disk, "
        f"{figures['fsyncs']:.2f} fsyncs, {figures['mongo_commands']:.2f} MongoDB round trips "
        f"({figures['mongo_bytes']:.0f} B sent), commit p50 {figures['p50_ms']:.2f} ms p95 {figures['p95_ms']:.2f} ms"
    )
    if figures["mongo_commands"]:
        print(f"    MongoDB commands over the run (commits, then folds in the background): {figures['commands']}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    logger.remove()
    base = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    keys = (None, "bench passphrase")
    try:
        for key in keys:
            label = "encrypted" if key else "plain"
            folder_only = StoreConfig(auth_dir=base / f"folder-{label}", encryption_key=key)
            await populate(folder_only, args.keys)
            load = await time_load(folder_only)
            print(f"[folder, {label}] load of a {args.keys}-key session: {load * 1000:.1f} ms (median of 5)")
            report(f"folder, {label}", "folder only", await per_message(folder_only, args.messages, args.keys))
        # One commit protocol for every topology (storage/changelog.py); both server modes are measured.
        for mode in MODES:
            server = MongoTestServer(base / f"mongo-{mode}", mode=mode)
            server.start()
            try:
                for key in keys:
                    label = f"{mode}, {'encrypted' if key else 'plain'}"
                    double = StoreConfig(
                        auth_dir=base / f"double-{mode}-{key is not None}",
                        mongodb_uri=server.uri,
                        mongodb_db=f"bench_{mode}_{key is not None}",
                        encryption_key=key,
                    )
                    await populate(double, args.keys)
                    shutil.rmtree(double.auth_dir)  # the redeploy that wiped the disk: everything comes from MongoDB
                    load = await time_load(double)
                    print(
                        f"[{label}] load of a {args.keys}-key session from MongoDB: {load * 1000:.1f} ms (median of 5)"
                    )
                    report(label, "folder + MongoDB", await per_message(double, args.messages, args.keys))
            finally:
                server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
