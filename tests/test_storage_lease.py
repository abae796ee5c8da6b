"""Two bot processes on one session (driver subprocesses): one holds the lease, the other waits and takes over."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from storage.folder import FolderStore
from storage.model import Snapshot
from tests.fixtures.mongo import MongoTestServer

DRIVER = Path(__file__).with_name("storage_driver.py")
pytestmark = pytest.mark.slow


class Driver:
    """A `storage_driver.py hold` process with its stdout lines and its log (stderr) collected by threads."""

    def __init__(self, auth_dir: Path, uri: str | None, db: str, ttl: float) -> None:
        mongo = ["--mongo-uri", uri, "--db", db] if uri else []
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "hold", "--auth-dir", str(auth_dir), *mongo, "--lease-ttl", str(ttl)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.log.append), daemon=True).start()

    @staticmethod
    def _pump(stream, sink) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            sink(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        return None

    def drain(self) -> None:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def last_committed(self) -> int:
        self.drain()
        values = [int(line.split()[1]) for line in self.seen if line.startswith("COMMITTED")]
        return values[-1] if values else 0

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=15)


@pytest.mark.mongo
def test_second_process_waits_then_takes_over_after_sigkill(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    ttl = 2.0
    first = Driver(tmp_path / "a", mongo_server.uri, mongo_db_name, ttl)
    second = None
    try:
        assert first.wait_for("ACQUIRED", 20), first.log
        second = Driver(tmp_path / "b", mongo_server.uri, mongo_db_name, ttl)
        # The second one does not take the session while the first one is alive, and says why.
        assert second.wait_for("ACQUIRED", 3 * ttl) is None
        assert any("in use by another instance" in line and "waiting" in line for line in second.log), second.log
        time.sleep(0.3)
        first.kill(signal.SIGKILL)
        killed_at = time.monotonic()
        last = first.last_committed()
        acquired = second.wait_for("ACQUIRED", ttl + 5)
        assert acquired, second.log
        assert time.monotonic() - killed_at <= ttl + 2.0  # within the lease expiry (+ poll and scheduling slack)
        # It continued from everything the first one committed (no lost or forked history).
        _word, _token, counter = acquired.split()
        assert int(counter) >= last
        assert second.wait_for("COMMITTED", 5)
    finally:
        first.kill()
        if second is not None:
            second.kill()


@pytest.mark.mongo
def test_sigterm_releases_the_lease_for_an_immediate_take_over(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    ttl = 30.0  # far longer than the test: only a release lets the second one in
    first = Driver(tmp_path / "a", mongo_server.uri, mongo_db_name, ttl)
    second = None
    try:
        assert first.wait_for("ACQUIRED", 20), first.log
        second = Driver(tmp_path / "b", mongo_server.uri, mongo_db_name, ttl)
        assert second.wait_for("ACQUIRED", 2.0) is None
        first.proc.send_signal(signal.SIGTERM)
        assert first.wait_for("RELEASED", 10), first.log
        last = first.last_committed()
        assert first.proc.wait(timeout=10) == 0
        acquired = second.wait_for("ACQUIRED", 5)
        assert acquired, second.log
        assert int(acquired.split()[2]) == last
    finally:
        first.kill()
        if second is not None:
            second.kill()


def final_state(auth_dir: Path) -> Snapshot:
    loaded = FolderStore(auth_dir, "crash", None).load().snapshot
    assert loaded is not None
    return loaded


def one_folder_trial(auth_dir: Path, uri: str | None, db: str, sig: int) -> None:
    """A holds the session and writes; B, on the same folder, waits; A dies (`sig`); B continues from A's last
    unit of work; B dies too; a third process starts cleanly on what B left."""
    ttl = 2.0
    first = Driver(auth_dir, uri, db, ttl)
    second = third = None
    try:
        assert first.wait_for("ACQUIRED", 20), first.log
        assert first.wait_for("COMMITTED", 10), first.log
        second = Driver(auth_dir, uri, db, ttl)
        deadline = time.monotonic() + 15
        while not any("another process on this machine uses" in line for line in second.log):
            assert time.monotonic() < deadline, second.log
            time.sleep(0.05)
        assert second.wait_for("ACQUIRED", 1.0) is None  # waiting on the folder lock, while the first one writes
        first.kill(sig)
        last = first.last_committed()
        acquired = second.wait_for("ACQUIRED", ttl + 10)
        assert acquired, second.log
        counter = int(acquired.split()[2])
        # From the first one's latest state (a SIGKILL may cut after a commit and before its "COMMITTED" line).
        assert last <= counter <= last + 1, (last, counter)
        assert any("reloading the session it left" in line for line in second.log), second.log
        assert second.wait_for("COMMITTED", 10), second.log
        time.sleep(0.3)
        second.kill(signal.SIGKILL)
        after_second = second.last_committed()
        assert after_second > counter
        third = Driver(auth_dir, uri, db, ttl)
        acquired = third.wait_for("ACQUIRED", ttl + 10)
        assert acquired, third.log
        assert after_second <= int(acquired.split()[2]) <= after_second + 1
        assert third.wait_for("COMMITTED", 10), third.log
        third.kill(signal.SIGTERM)
        assert third.proc.returncode == 0, third.log
        assert not any("Corrupt" in line or "Traceback" in line for line in first.log + second.log + third.log)
        state = final_state(auth_dir)
        assert state.creds is not None and int(state.creds["extra"]["counter"]) >= after_second
    finally:
        for driver in (first, second, third):
            if driver is not None:
                driver.kill()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_one_folder_two_processes_without_mongodb(tmp_path: Path, sig: int) -> None:
    one_folder_trial(tmp_path / "shared", None, "", sig)


@pytest.mark.mongo
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_one_folder_two_processes_with_mongodb(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str, sig: int
) -> None:
    one_folder_trial(tmp_path / "shared", mongo_server.uri, mongo_db_name, sig)
