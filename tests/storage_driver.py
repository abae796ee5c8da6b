"""A subprocess that uses a session store the way the bot does, for crash and two-process tests.

python tests/storage_driver.py burst --auth-dir D [--mongo-uri U --db N] [--keys 8] [--key K]
    writes units of work forever: creds.extra["counter"] = c plus N session keys whose value starts
    with "c:", printing "COMMITTED c" after each commit returns (the test SIGKILLs it at random).
python tests/storage_driver.py hold --auth-dir D --mongo-uri U --db N
    takes the lease (printing "ACQUIRED token counter"), then commits a counter every 50 ms; exits 3
    with "LOST" when the lease is lost, and releases it on SIGTERM ("RELEASED").
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loguru import logger

from storage import SessionStore, StoreConfig, open_store
from whatsapp.auth import KeyType


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def config_from(args: argparse.Namespace) -> StoreConfig:
    return StoreConfig(
        auth_dir=Path(args.auth_dir),
        session_id=args.session,
        mongodb_uri=args.mongo_uri,
        mongodb_db=args.db,
        encryption_key=args.key,
        lease_ttl=args.lease_ttl,
        lease_renew_interval=args.lease_ttl / 5,
        lease_poll_interval=0.1,
        mongo_timeout=1.0,
        mongo_retry_interval=0.3,
        checkpoint_every=args.checkpoint_every,
    )


async def commit_counter(store: SessionStore, counter: int, keys: int) -> None:
    async with store.transaction() as tx:
        creds = dataclasses.replace(store.creds, extra={**store.creds.extra, "counter": counter})
        tx.set_creds(creds)
        for i in range(keys):
            tx.set(KeyType.SESSION, f"peer{i}.0", f"{counter}:{i}:".encode() + os.urandom(1200))
        if counter % 3 == 0:
            tx.set(KeyType.PRE_KEY, str(counter), os.urandom(64))
        if counter % 3 == 1:
            tx.set(KeyType.PRE_KEY, str(counter - 1), None)


async def burst(args: argparse.Namespace) -> None:
    store = await open_store(config_from(args))
    await store.acquire_lease()
    counter = int(store.creds.extra.get("counter", 0))
    emit(f"START {counter}")
    while True:
        counter += 1
        await commit_counter(store, counter, args.keys)
        emit(f"COMMITTED {counter}")


async def hold(args: argparse.Namespace) -> int:
    store = await open_store(config_from(args))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await store.acquire_lease()
    counter = int(store.creds.extra.get("counter", 0))
    emit(f"ACQUIRED {store.lease_token} {counter}")
    while not stop.is_set():
        if store.lease_lost.is_set():
            emit("LOST")
            return 3
        counter += 1
        try:
            await commit_counter(store, counter, 2)
        except Exception as exc:  # LeaseLostError: reported below
            emit(f"ERROR {exc.__class__.__name__}")
            if store.lease_lost.is_set():
                emit("LOST")
                return 3
            raise
        emit(f"COMMITTED {counter}")
        await asyncio.sleep(0.05)
    await store.close()
    emit("RELEASED")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["burst", "hold"])
    parser.add_argument("--auth-dir", required=True)
    parser.add_argument("--session", default="crash")
    parser.add_argument("--mongo-uri")
    parser.add_argument("--db")
    parser.add_argument("--key")
    parser.add_argument("--keys", type=int, default=8)
    parser.add_argument("--lease-ttl", type=float, default=1.5)
    parser.add_argument("--checkpoint-every", type=int, default=64)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="INFO")
    if args.mode == "burst":
        asyncio.run(burst(args))
        return 0
    return asyncio.run(hold(args))


if __name__ == "__main__":
    sys.exit(main())
