"""What the daemon checks and says at start: configuration cases, the session folder, the first INFO lines,
the JSON log format, SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from loguru import logger

from botconfig import BotConfig
from botlog import configure_logging
from botstart import check_auth_dir, log_start, platform_warning, server_name
from storage import open_store
from tests.bot_support import capture_logs
from tests.storage_helpers import folder_config
from tests.test_bot_process import ONLINE, PHONE, QR_LINE, BotProcess, launch, stop_gracefully
from tests.test_storage_folder import write_keys
from whatsapp.testing import EmulatedServer

ROOT = Path(__file__).resolve().parent.parent

log_lines = pytest.fixture(capture_logs)


@pytest.mark.parametrize("raw", ["+1 555 000 1111", "+1 (555) 000-1111", "1-555-000-1111", " 15550001111 "])
def test_phone_number_as_users_copy_it(raw: str) -> None:
    assert BotConfig.from_env({"PHONE_NUMBER": raw}).phone_number == "15550001111"


def test_unknown_bot_variables_are_listed_for_a_warning() -> None:
    config = BotConfig.from_env({"BOT_PREFIX": "!", "BOT_PREFIXES": "!", "BOT_REJECT_CALL": "on"})
    assert config.unknown_variables == ("BOT_PREFIX", "BOT_REJECT_CALL")


def test_auth_dir_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = check_auth_dir(str(blocker / "auth"))
    assert problem is not None and "\n" not in problem and str(blocker / "auth") in problem
    assert check_auth_dir(str(tmp_path / "fine" / "auth")) is None


def run_bot(env_extra: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "MONGODB", "BOT_", "SESSION_"))}
    env.update(WA_URL="ws://127.0.0.1:9/ws/chat", **env_extra)
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_auth_dir_not_creatable_exits_2_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_bot({"AUTH_DIR": str(blocker / "auth")}, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("configuration error: AUTH_DIR: ")


async def test_wrong_session_encryption_key_exits_2(tmp_path: Path) -> None:
    store = await open_store(folder_config(tmp_path, session_id="default", encryption_key="right key"))
    await store.acquire_lease()
    await write_keys(store, {("session", "a.0"): b"x" * 40})
    await store.close()
    proc = run_bot({"AUTH_DIR": str(tmp_path / "auth"), "SESSION_ENCRYPTION_KEY": "wrong key"}, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "WrongEncryptionKeyError" in proc.stdout and "configuration error" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_first_info_lines_say_server_session_store_version_plugins(log_lines: list[str]) -> None:
    config = BotConfig.from_env({"WA_URL": "wss://user:pw@example.com:8443/ws/chat?token=t", "SESSION_ID": "shop",
                                 "MONGODB_URI": "mongodb://db", "SESSION_ENCRYPTION_KEY": "k"})
    log_start(config, False, (2, 3000, 1), ["ping", "uptime"])
    info = [line for line in log_lines if line.startswith("INFO")]
    assert "server wss://example.com:8443/ws/chat" in info[0] and "'shop'" in info[0]
    assert "MongoDB" in info[0] and "encrypted" in info[0] and "pw" not in info[0] and "token" not in info[0]
    assert "2.3000.1" in info[1] and "ping, uptime" in info[1]
    assert server_name("ws://127.0.0.1:5000/ws/chat") == "ws://127.0.0.1:5000/ws/chat"


def test_platform_without_mongodb_warns() -> None:
    config = BotConfig.from_env({})
    assert platform_warning(config, {"RAILWAY_ENVIRONMENT": "production"}) is not None
    assert "Heroku" in (platform_warning(config, {"DYNO": "worker.1"}) or "")
    assert platform_warning(config, {}) is None
    assert platform_warning(BotConfig.from_env({"MONGODB_URI": "mongodb://db"}), {"DYNO": "worker.1"}) is None


def test_json_log_format_is_one_object_per_line(tmp_path: Path) -> None:
    out = (tmp_path / "log").open("w")
    try:
        configure_logging("INFO", "json", out)
        logger.bind(session="shop").info("hello {}", "there")
        logger.debug("not at INFO")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.remove()
        logger.add(sys.stderr)
        out.close()
    lines = (tmp_path / "log").read_text().splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first["message"] == "hello there" and first["level"] == "INFO" and first["session"] == "shop"
    assert "time" in first and second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


async def test_sigint_stops_like_sigterm_and_releases_the_lease(tmp_path: Path) -> None:
    async with EmulatedServer() as server:
        server.create_account(PHONE)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "MONGODB", "SESSION_", "BOT_"))}
        env.update(WA_URL=server.url, WA_ROOT_KEY=server.root_public_key.hex(), AUTH_DIR=str(tmp_path / "auth"),
                   SESSION_ID="test", PYTHONUNBUFFERED="1")
        bots: list[BotProcess] = []
        try:
            bot = await launch(bots, env)
            await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
            await bot.wait_line(ONLINE)
            await stop_gracefully(bot, signal.SIGINT)  # SIGHUP reloads the plugins: tests/test_bot_reload.py
            assert any("SIGINT received" in line for line in bot.lines)
            again = await launch(bots, env)  # the folder lease was released: no wait for it
            await again.wait_line(ONLINE, timeout=15)
            assert not any("waiting" in line and "lease" in line for line in again.lines), again.tail()
            await stop_gracefully(again)
        finally:
            for started in bots:
                await started.kill()


async def test_wrong_root_key_gets_one_hint_line_while_it_retries(tmp_path: Path) -> None:
    async with EmulatedServer() as server:
        server.create_account(PHONE)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "MONGODB", "SESSION_", "BOT_"))}
        wrong = bytes(31) + b"\x09"  # 32 bytes, not the emulator's root key
        env.update(WA_URL=server.url, WA_ROOT_KEY=wrong.hex(), AUTH_DIR=str(tmp_path / "auth"), SESSION_ID="test",
                   PYTHONUNBUFFERED="1")
        bots: list[BotProcess] = []
        try:
            bot = await launch(bots, env)
            hint = await bot.wait_line("certificate chain did not verify", timeout=15)
            assert "check WA_ROOT_KEY" in hint.string and "ERROR" in hint.string
            await bot.wait_line("handshake failed", timeout=15, start=bot.lines.index(hint.string) + 1)
            assert sum("certificate chain did not verify" in line for line in bot.lines) == 1, bot.tail()
            assert not any(QR_LINE.search(line) for line in bot.lines)
            await stop_gracefully(bot)
        finally:
            for started in bots:
                await started.kill()
