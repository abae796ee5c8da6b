"""A 100 MB document streamed up and down with bounded memory, measured in a process of its own
(tests/media_memory_probe.py): the peak RSS growth during the upload and the download stays under 20 MiB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LIMIT = 20 * 1024 * 1024


def test_a_100_mb_document_streams_up_and_down_in_bounded_memory(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "tests.media_memory_probe", str(tmp_path), "100"], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().split("\n")[-1])
    assert result["bytes"] >= 100_000_000 and result["identical"], result
    assert result["growth"] < LIMIT, f"peak RSS grew by {result['growth'] / 2**20:.1f} MiB: {result}"
