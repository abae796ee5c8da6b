"""Deployment files: a worker process, one replica, no overlap, numeric draining (Railway's config-as-code
reference for `deploy.*`; Heroku stops a dyno with SIGTERM, then SIGKILL after 30 s)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_procfile_runs_the_bot_as_a_worker() -> None:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert lines == ["worker: python bot.py"]


def test_railway_json() -> None:
    deploy = json.loads((ROOT / "railway.json").read_text())["deploy"]
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    assert deploy["numReplicas"] == 1
    assert deploy["overlapSeconds"] == 0 and isinstance(deploy["overlapSeconds"], int)
    assert isinstance(deploy["drainingSeconds"], int) and 20 <= deploy["drainingSeconds"] <= 30
    assert deploy["sleepApplication"] is False
    assert deploy["startCommand"] == "python bot.py"


def test_env_example_documents_every_variable() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    read = set(re.findall(r'get\("([A-Z][A-Z0-9_]+)"\)', (ROOT / "botconfig.py").read_text()))
    expected = {
        "WA_URL",
        "WA_ROOT_KEY",
        "AUTH_DIR",
        "SESSION_ID",
        "PHONE_NUMBER",
        "LOG_LEVEL",
        "MONGODB_URI",
        "MONGODB_DB",
        "SESSION_ENCRYPTION_KEY",
    }
    assert expected <= read
    assert read <= documented, read - documented
