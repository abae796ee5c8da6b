"""Deployment files: a worker process, one replica, no overlap, numeric draining (Railway's config-as-code
reference for `deploy.*`; Heroku stops a dyno with SIGTERM, then SIGKILL after 30 s)."""

from __future__ import annotations

import json
import re
import sys
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


def test_dockerfile_matches_the_readme_the_procfile_and_the_lock() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    base = re.search(r"^FROM python:(\d+\.\d+)\.\d+-slim", docker, re.MULTILINE)
    assert base is not None, "a slim image of a pinned Python"
    assert (ROOT / ".python-version").read_text().strip() == base.group(1)
    assert base.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"  # what CI runs
    assert "pip install --require-hashes --no-deps -r requirements.lock" in docker
    assert "pip install --require-hashes -r requirements.lock" in readme
    assert re.search(r"^USER (?!root)\w+", docker, re.MULTILINE)
    cmd = re.search(r"^CMD (\[.*\])$", docker, re.MULTILINE)
    assert cmd is not None and json.loads(cmd.group(1)) == ["python", "bot.py"]  # exec form, as the Procfile
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_lock_pins_every_requirement_with_a_hash() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+) \\\n    --hash=sha256:[0-9a-f]{64}$", lock, re.MULTILINE))
    wanted = [re.split(r"[<>=]", line)[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert wanted and all(name in pins for name in wanted), set(wanted) - set(pins)


def test_app_json_runs_one_worker() -> None:
    app = json.loads((ROOT / "app.json").read_text())
    assert app["formation"]["worker"]["quantity"] == 1
