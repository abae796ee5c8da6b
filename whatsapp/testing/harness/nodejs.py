"""Running the pinned Node.js oracles under tests/node (Baileys, libsignal, curve25519-js).

Each oracle is a script that reads its input on stdin and prints its answer on stdout; a non-zero exit is
a failure of the check that ran it, so it raises AssertionError with both streams' tails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

# The oracles live beside the tests (npm installs them there); WA_NODE_ORACLES points elsewhere if needed.
NODE_DIR = Path(os.environ.get("WA_NODE_ORACLES") or Path(__file__).resolve().parents[3] / "tests" / "node")


def node_executable() -> str:
    """The `node` binary, checked to have the oracles' packages installed beside it."""
    node = shutil.which("node")
    assert node, "node is not installed"
    assert (NODE_DIR / "node_modules").is_dir(), "run scripts/test.sh (it runs npm ci in tests/node)"
    return node


def run_node(script: str, *args: str, input_data: str | bytes | None = None, timeout: float = 120) -> str:
    """Run `node tests/node/<script> args...` and return its stdout; a non-zero exit raises AssertionError."""
    if isinstance(input_data, str):
        input_data = input_data.encode()
    proc = subprocess.run(
        [node_executable(), str(NODE_DIR / script), *args],
        cwd=NODE_DIR,
        input=input_data,
        capture_output=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"node {script} exited {proc.returncode}\nstdout:\n{proc.stdout.decode(errors='replace')[-4000:]}"
            f"\nstderr:\n{proc.stderr.decode(errors='replace')[-4000:]}"
        )
    return proc.stdout.decode()


def run_node_json(script: str, *args: str, input_obj: object = None, timeout: float = 120) -> Any:
    """Run a Node oracle that reads one JSON document on stdin and prints one on stdout (its last line).

    Returns the decoded JSON, whose shape each oracle defines (hence Any)."""
    data = None if input_obj is None else json.dumps(input_obj)
    out = run_node(script, *args, input_data=data, timeout=timeout)
    # split on "\n" only: JSON.stringify leaves U+2028 and friends raw, which str.splitlines() breaks on
    return json.loads(out.strip().split("\n")[-1])
