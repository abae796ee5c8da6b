#!/usr/bin/env bash
# The whole test suite from a fresh clone: a virtualenv with the Python dev dependencies, the
# pinned Node oracles (Baileys, libsignal) under tests/node, then pytest. The MongoDB test server
# (SecantusDB) is a pip dependency that a pytest fixture starts on loopback by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt

if ! command -v node >/dev/null 2>&1; then
  echo "node is required for the interop tests (Baileys, libsignal): apt-get install nodejs npm" >&2
  exit 1
fi
# Debian's Chromium for the status page test (tests/test_bot_status_chromium.py), installed when missing
# and we can (root with apt-get); otherwise that test fails and says how to install it.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
    >/dev/null || echo "could not install chromium: the status page test will fail" >&2
fi
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error)

.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
