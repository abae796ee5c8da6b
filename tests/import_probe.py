"""Import each named project module in a process of its own; run by tests/test_architecture.py.

    python tests/import_probe.py WORKERS ROOTS_JSON PRELOAD_JSON < MODULES_JSON  →  a JSON line per module

(run from the project root; ROOTS_JSON names the project's top-level packages and modules).

A fresh interpreter per module costs half a second of CPU, nearly all of it re-importing the standard
library and third-party packages. So this process (itself fresh) first imports the non-project modules the
project imports (PRELOAD_JSON: names; one that fails to import is skipped), checks that doing so loaded no
project module, then forks one child per project module. Each child starts from that state, so it sees no
project module imported before its own: what it proves is exactly "this module imports on its own".
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tempfile
import traceback


def _child(module: str, output_fd: int) -> None:
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    try:
        importlib.import_module(module)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    # Run as a script, Python put tests/ first on the path; the project root (the cwd) belongs there instead.
    sys.path[0] = os.getcwd()
    workers = int(sys.argv[1])
    project_roots = set(json.loads(sys.argv[2]))
    preload: list[str] = json.loads(sys.argv[3])
    modules: list[str] = json.load(sys.stdin)
    for name in preload:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in project_roots)
    if leaked:
        raise SystemExit(f"preloading imported project modules: {leaked}")
    sys.stdout.flush()
    sys.stderr.flush()

    pending = list(reversed(modules))
    running: dict[int, tuple[str, tempfile._TemporaryFileWrapper[bytes]]] = {}
    while pending or running:
        while pending and len(running) < workers:
            module = pending.pop()
            output = tempfile.NamedTemporaryFile(prefix="import-probe-")  # noqa: SIM115 - closed when reaped
            pid = os.fork()
            if pid == 0:
                _child(module, output.fileno())
            running[pid] = (module, output)
        pid, status = os.wait()
        module, output = running.pop(pid)
        output.seek(0)
        text = output.read().decode(errors="replace")[-3000:]
        output.close()
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"module": module, "returncode": code, "output": text}), flush=True)


if __name__ == "__main__":
    main()
