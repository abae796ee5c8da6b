"""`python -m storage` without a terminal (stdin=DEVNULL, as in CI, `railway run`, `heroku run --no-tty`):
nothing is asked, `--yes` and the passphrase variable are enough, and `status` says what is where."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import open_store
from storage.archive import list_archives
from storage.config import StoreConfig
from storage.history import SessionHistory
from tests.fixtures.mongo import MongoTestServer
from whatsapp.auth import KeyType

ROOT = Path(__file__).resolve().parent.parent
ME = "15551234567:3@s.whatsapp.net"


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "SESSION_", "BACKUP_", "AUTH_"))}
    return subprocess.run(
        [sys.executable, "-m", "storage", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        timeout=60,
    )


async def seed(config: StoreConfig) -> int:
    """A paired-looking session with one key and two history entries; returns its version."""
    store = await open_store(config)
    await store.acquire_lease()
    async with store.transaction() as tx:
        tx.set_creds(dataclasses.replace(store.creds, me_id=ME))
        tx.set(KeyType.PRE_KEY, "1", b"\x01" * 32)
    history = SessionHistory(config)
    history.record("lease_taken", code=store.lease_token)
    history.record("open", reason=ME)
    await history.aclose()
    version = store.version
    await store.close()
    return version


@pytest.mark.mongo
async def test_operator_commands_without_a_terminal(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    env = {
        "AUTH_DIR": str(tmp_path / "auth"),
        "SESSION_ID": "ops",
        "MONGODB_URI": mongo_server.uri,
        "MONGODB_DB": mongo_db_name,
        "SESSION_ENCRYPTION_KEY": "k-ops",
    }
    config = StoreConfig.from_env(env)
    version = await seed(config)

    status = cli(["status"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert f"account:      {ME}" in out
    assert "encryption:   on (SESSION_ENCRYPTION_KEY opens it)" in out
    assert f"folder copy:  {tmp_path / 'auth' / 'ops'}: version {version}, 1 keys, paired" in out
    assert f"{mongo_db_name}.whatsapp_sessions: version {version}, 1 keys" in out
    assert "lease:        free (token 1" in out  # released by close()
    topology = "replica set secantus" if mongo_server.mode == "replset" else "standalone"  # from `hello`
    assert f"commit mode:  {topology}: single-document change log" in out
    assert f"loads from:   mongodb (version {version}, 1 keys)" in out
    assert "history:      2 entries" in out and "open" in out

    holder = await open_store(config)
    await holder.acquire_lease()
    try:
        held = cli(["status"], env, tmp_path)
    finally:
        await holder.close()
    assert held.returncode == 0, held.stderr
    assert "lease:        held by " in held.stdout and f"pid {os.getpid()}), token 2, expires " in held.stdout

    history = cli(["history"], env, tmp_path)
    assert history.returncode == 0 and "lease_taken 1" in history.stdout and f"open ({ME})" in history.stdout

    # No passphrase variable and no key: exit 2 naming the variable, never an EOFError.
    no_key = {k: v for k, v in env.items() if k != "SESSION_ENCRYPTION_KEY"}
    refused = cli(["export", str(tmp_path / "x.export")], no_key, tmp_path)
    assert refused.returncode == 2 and "SESSION_EXPORT_PASSPHRASE" in refused.stderr
    assert "EOFError" not in refused.stderr and "Traceback" not in refused.stderr

    exported = cli(["export", str(tmp_path / "a.export")], {**env, "SESSION_EXPORT_PASSPHRASE": "pw"}, tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "deprecated" not in exported.stderr
    # The old variable still works, with a deprecation warning.
    old = cli(["import", str(tmp_path / "a.export")], {**env, "BACKUP_PASSPHRASE": "pw"}, tmp_path)
    assert old.returncode == 0, old.stderr
    assert "BACKUP_PASSPHRASE is deprecated; set SESSION_EXPORT_PASSPHRASE" in old.stderr
    assert len(await list_archives(config)) == 1  # the import archived what it replaced

    # reset without --yes and without a terminal: refused, nothing deleted.
    unconfirmed = cli(["reset"], env, tmp_path)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    assert (tmp_path / "auth" / "ops" / "creds.json").exists()
    reset = cli(["reset", "--yes"], env, tmp_path)
    assert reset.returncode == 0, reset.stderr
    assert not (tmp_path / "auth" / "ops").exists()
    archives = cli(["archives"], env, tmp_path)
    assert archives.returncode == 0 and "2 archive(s)" in archives.stdout and "reset" in archives.stdout
    newest = (await list_archives(config))[0]
    assert newest.reason == "reset"

    restored = cli(["restore", newest.name], env, tmp_path)
    assert restored.returncode == 0, restored.stderr
    after = cli(["status"], env, tmp_path)
    assert f"account:      {ME}" in after.stdout and "archives:     2" in after.stdout


def test_a_malformed_webhook_url_is_a_usage_error(tmp_path: Path) -> None:
    result = cli(["status"], {"AUTH_DIR": str(tmp_path), "SESSION_WEBHOOK_URL": "hooks.example.com"}, tmp_path)
    assert result.returncode == 2 and "SESSION_WEBHOOK_URL" in result.stderr
