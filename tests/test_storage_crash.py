"""SIGKILL at random moments during bursts of writes: every reload is consistent and keeps every acked commit.

A driver subprocess (tests/storage_driver.py burst) commits units of work: the credentials' counter c
plus eight ~1.2 KB session records tagged "c:" and a pre-key created or deleted according to c. After
each kill a fresh load must show one counter everywhere (creds never ahead of or behind their keys),
no torn file, and a counter no lower than the last one the driver saw committed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from storage import StoreConfig, open_store
from storage.folder import FolderStore
from storage.model import Snapshot
from tests.fixtures.mongo import MongoTestServer
from tests.storage_helpers import mongo_snapshot

DRIVER = Path(__file__).with_name("storage_driver.py")
KEYS = 8


def run_and_kill(args: list[str], delay: float) -> int:
    """Start the driver, SIGKILL it `delay` seconds after it started writing; the last acked counter."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "burst", *args], stdout=subprocess.PIPE, stderr=log, text=True
        )
        assert proc.stdout is not None
        start = proc.stdout.readline()
        if not start.startswith("START"):
            proc.kill()
            proc.wait()
            log.seek(0)
            raise AssertionError(f"driver failed to start: {start!r}\n{log.read().decode(errors='replace')[-3000:]}")
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out = proc.stdout.read()
    proc.wait()
    acked = [int(line.split()[1]) for line in out.splitlines() if line.startswith("COMMITTED")]
    return acked[-1] if acked else int(start.split()[1])


def check_consistent(snapshot: Snapshot, counter: int) -> None:
    sessions = {k: v for k, v in snapshot.keys.items() if k[0] == "session"}
    if counter == 0:
        assert sessions == {}
        return
    assert len(sessions) == KEYS
    for i in range(KEYS):
        value = sessions[("session", f"peer{i}.0")]
        assert value.startswith(f"{counter}:{i}:".encode()), (counter, i, value[:20])
        assert len(value) == len(f"{counter}:{i}:") + 1200
    pre_keys = {k[1] for k in snapshot.keys if k[0] == "pre-key"}
    assert pre_keys == ({str(counter)} if counter % 3 == 0 else set())


async def load_counter(config: StoreConfig) -> tuple[int, Snapshot]:
    store = await open_store(config)
    try:
        counter = int(store.creds.extra.get("counter", 0)) if store.loaded_from != "new" else 0
        snapshot = store.snapshot()
    finally:
        await store.close()
    return counter, snapshot


@pytest.mark.slow
async def test_sigkill_during_folder_writes_50_trials(tmp_path: Path) -> None:
    rng = random.Random(1234)
    config = StoreConfig(auth_dir=tmp_path, session_id="crash")
    previous = 0
    for trial in range(50):
        checkpoint_every = rng.choice([1, 4, 64])
        acked = run_and_kill(
            ["--auth-dir", str(tmp_path), "--checkpoint-every", str(checkpoint_every)], rng.uniform(0.0, 0.35)
        )
        counter, snapshot = await load_counter(config)
        where = f"trial {trial} (checkpoint every {checkpoint_every}): acked {acked}, loaded {counter}"
        assert acked <= counter <= acked + 1, where
        assert counter >= previous, f"{where}, previous load {previous}"
        try:
            check_consistent(snapshot, counter)
        except AssertionError as exc:
            raise AssertionError(f"{where}: inconsistent load {exc}") from exc
        previous = counter
    assert previous > 50  # the trials did write a lot


@pytest.mark.slow
@pytest.mark.mongo
async def test_sigkill_during_double_writes(tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str) -> None:
    rng = random.Random(f"99-{mongo_server.mode}")
    config = StoreConfig(
        auth_dir=tmp_path,
        session_id="crash",
        mongodb_uri=mongo_server.uri,
        mongodb_db=mongo_db_name,
        lease_ttl=1.0,
        lease_poll_interval=0.1,
        mongo_timeout=1.0,
    )
    args = ["--auth-dir", str(tmp_path), "--mongo-uri", mongo_server.uri, "--db", mongo_db_name, "--lease-ttl", "1.0"]
    previous = 0
    for trial in range(8):  # per server mode: both run (tests/fixtures/mongo.py)
        acked = run_and_kill(args, rng.uniform(0.0, 0.4))
        counter, snapshot = await load_counter(config)
        assert acked <= counter <= acked + 1, f"trial {trial}: acked {acked}, loaded {counter}"
        assert counter >= previous
        check_consistent(snapshot, counter)
        previous = counter
        # Taking the session over (after the dead driver's lease expires) makes both copies equal.
        store = await open_store(config)
        await store.acquire_lease()
        state = store.snapshot()
        await store.close()
        folder = FolderStore(tmp_path, "crash", None).load().snapshot
        stored = await mongo_snapshot(mongo_server.uri, mongo_db_name, "crash")
        assert folder is not None and stored is not None
        assert (folder.version, folder.creds, folder.keys) == (state.version, state.creds, state.keys)
        assert (stored.version, stored.creds, stored.keys) == (state.version, state.creds, state.keys)
    assert previous > 10
