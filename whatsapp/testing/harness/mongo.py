"""A MongoDB test server: SecantusDB's `secantusd-py` (a real wire-protocol server) on loopback.

`MongoTestServer(base_dir, mode=...)` binds a free 127.0.0.1 port over a data directory of its own; `.uri`
stays the same across `stop()` / `start()` / `restart(signal.SIGKILL)`, which is what crash tests need.
Mode "replset" is SecantusDB's default (a single-node replica set); "standalone" runs `--standalone` behind
whatsapp/testing/harness/mongo_proxy.py, which refuses transactions as a standalone mongod does. The pytest fixtures
around it live in tests/fixtures/mongo.py; bench/storage.py uses it directly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SECANTUSD = Path(sys.executable).with_name("secantusd-py")
# The standalone-mode proxy runs as its own process (a subprocess, never imported here).
PROXY = Path(__file__).resolve().with_name("mongo_proxy.py")
MODES = ("replset", "standalone")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MongoTestServer:
    """A `secantusd-py` subprocess bound to loopback; `.uri` stays the same across restarts."""

    def __init__(self, base_dir: Path, *, sync_on_commit: bool = True, mode: str = "replset") -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.config_file = base_dir / "empty.toml"
        self.log_file = base_dir / "secantusd.log"
        self.sync_on_commit = sync_on_commit
        self.port = free_port()  # the server's own port
        # Clients connect to the proxy in standalone mode, to the server itself otherwise.
        self.client_port = free_port() if mode == "standalone" else self.port
        self.uri = f"mongodb://127.0.0.1:{self.client_port}/"
        self.process: subprocess.Popen[bytes] | None = None
        self.proxy: subprocess.Popen[bytes] | None = None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        command = [
            str(SECANTUSD),
            "--config",
            str(self.config_file),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.data_dir),
            "--log-level",
            "WARNING",
        ]
        if self.sync_on_commit:
            # An acknowledged write must survive the SIGKILL crash tests.
            command.append("--sync-on-commit")
        if self.mode == "standalone":
            command.append("--standalone")
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.base_dir,
            env={**os.environ, "HOME": str(self.base_dir)},
        )
        if self.mode == "standalone":
            self.proxy = subprocess.Popen(
                [sys.executable, str(PROXY), "--listen", str(self.client_port), "--upstream", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.base_dir,
            )
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        from pymongo import MongoClient

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for name, process in (("secantusd-py", self.process), ("mongo_proxy.py", self.proxy)):
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {self.log_file}")
            try:
                client: MongoClient[dict[str, object]]
                with MongoClient(self.uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300) as client:
                    client.admin.command("ping")
                return
            except Exception as exc:  # not up yet
                last_error = exc
                time.sleep(0.1)
        raise RuntimeError(f"secantusd-py did not answer ping within {timeout} s: {last_error}; see {self.log_file}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Stop the server (with `sig`) and its proxy: the URI then refuses connections, as a stopped mongod's."""
        for attr in ("proxy", "process"):
            process: subprocess.Popen[bytes] | None = getattr(self, attr)
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(sig if attr == "process" else signal.SIGKILL)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=timeout)
            setattr(self, attr, None)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()
