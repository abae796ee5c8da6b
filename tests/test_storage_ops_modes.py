"""AUTH_DIR is created 0700 whatever the umask (a WARNING when an existing one is open to others); scrypt runs
off the event loop; KDF parameters read from a stored header are bounded before anything is computed."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

import storage.records
from storage import BackupError, CorruptSessionError, StoreConfig, export_session, import_session, open_store
from storage.config import warn_if_exposed
from storage.records import Sealer, dump_checked, load_checked


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


async def paired_folder(config: StoreConfig) -> None:
    store = await open_store(config)
    await store.acquire_lease()
    async with store.transaction() as tx:
        tx.set_creds(store.creds)
    await store.close()


async def test_auth_dir_and_its_missing_parents_are_created_0700_under_umask_000(
    tmp_path: Path, open_umask: None
) -> None:
    auth = tmp_path / "deploy" / "data" / "auth"
    await paired_folder(StoreConfig(auth_dir=auth, session_id="m"))
    for path in (tmp_path / "deploy", tmp_path / "deploy" / "data", auth, auth / "m", auth / "m" / "keys"):
        assert path.stat().st_mode & 0o777 == 0o700, path


def test_an_existing_open_auth_dir_gets_one_warning(tmp_path: Path, warnings: list[str]) -> None:
    auth = tmp_path / "auth"
    auth.mkdir()
    auth.chmod(0o755)
    assert warn_if_exposed(auth) and warn_if_exposed(auth)
    assert len([w for w in warnings if str(auth) in w and "755" in w]) == 1
    assert auth.stat().st_mode & 0o777 == 0o755  # the operator's directory is not changed behind their back
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert not warn_if_exposed(private)


async def test_opening_a_store_warns_about_an_open_auth_dir(tmp_path: Path, warnings: list[str]) -> None:
    auth = tmp_path / "shared-auth"
    auth.mkdir()
    auth.chmod(0o777)
    store = await open_store(StoreConfig(auth_dir=auth, session_id="w"))
    await store.close()
    assert any(str(auth) in w and "accessible to other users" in w for w in warnings)


async def test_scrypt_runs_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = StoreConfig(auth_dir=tmp_path / "auth", session_id="k", encryption_key="a key")
    await paired_folder(config)
    threads: list[str] = []
    original = storage.records._derive_master

    def spy(*args: object) -> bytes:
        threads.append(threading.current_thread().name)
        return original.__wrapped__(*args)  # type: ignore[attr-defined]

    monkeypatch.setattr(storage.records, "_derive_master", spy)
    store = await open_store(config)
    await store.close()
    await export_session(config, tmp_path / "e.export", "pass")
    await import_session(config, tmp_path / "e.export", "pass")
    assert threads and threading.main_thread().name not in threads


def forge_header(path: Path, **params: int) -> None:
    body = load_checked(path.read_bytes(), str(path))
    encryption = body["encryption"]
    for name, value in params.items():
        encryption[name] = value
    path.write_bytes(dump_checked(body))


@pytest.mark.parametrize(
    "params", [{"n": 2**40}, {"n": 3000}, {"r": 10_000}, {"p": 1_000_000}, {"n": 2**20, "r": 32}, {"n": 1}]
)
async def test_absurd_stored_scrypt_parameters_are_refused_before_computing(
    tmp_path: Path, params: dict[str, int]
) -> None:
    config = StoreConfig(auth_dir=tmp_path / "auth", session_id="b", encryption_key="a key")
    await paired_folder(config)
    meta = tmp_path / "auth" / "b" / "session.json"
    forge_header(meta, **params)
    started = time.perf_counter()
    with pytest.raises(CorruptSessionError, match=str(meta)):
        await open_store(config)
    assert time.perf_counter() - started < 2.0


async def test_absurd_parameters_in_an_export_file_are_refused(tmp_path: Path) -> None:
    config = StoreConfig(auth_dir=tmp_path / "auth", session_id="x")
    await paired_folder(config)
    target = tmp_path / "s.export"
    await export_session(config, target, "pass")
    document = json.loads(target.read_text())
    document["kdf"]["n"] = 2**36
    target.write_text(json.dumps(document))
    with pytest.raises(CorruptSessionError, match=str(target)):
        await import_session(config, target, "pass")
    document["kdf"]["salt"] = base64.b64encode(b"").decode()
    document["kdf"]["n"] = 2**14
    target.write_text(json.dumps(document))
    with pytest.raises((CorruptSessionError, BackupError)):
        await import_session(config, target, "pass")


def test_todays_parameters_pass_the_bounds() -> None:
    sealer = Sealer.create("k")
    assert Sealer.from_info("k", sealer.info(), "here").key == sealer.key
