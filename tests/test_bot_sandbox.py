"""`python bot.py --sandbox` as a user runs it: lines in (a pipe, a pseudo-terminal), the bot's answers out."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.media_support import png

ROOT = Path(__file__).resolve().parent.parent


def sandbox_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "MONGODB", "BOT_", "SESSION_"))}
    # A real session folder and MongoDB are named, and must stay untouched.
    env.update(AUTH_DIR=str(tmp_path / "real_auth"), MONGODB_URI="mongodb://127.0.0.1:1/never", **extra)
    return env


def test_sandbox_through_a_pipe_ping_user_plugin_image_and_group(tmp_path: Path) -> None:
    package = tmp_path / "mine"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hello.py").write_text(
        "from whatsapp.bot import Context, Router\n\nrouter = Router()\n\n\n"
        "@router.command('hello')\nasync def hello(ctx: Context) -> None:\n"
        "    \"\"\"Greets.\"\"\"\n    await ctx.reply('hello from my plugin')\n"
    )
    image = tmp_path / "cat.png"
    image.write_bytes(png(40, 30))
    script = f"!ping\n!hello\n/image {image}\n/group Team\n!ping\n/quit\nnever sent\n"
    env = sandbox_env(tmp_path, BOT_PLUGINS="plugins mine", PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "bot.py", "--sandbox"], input=script, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sandbox: you are +"), proc.stdout
    assert "bot: pong" in lines
    assert "bot: hello from my plugin" in lines
    saved = [line for line in lines if line.startswith("bot: [image] ")]
    assert len(saved) == 1, proc.stdout
    path = Path(saved[0].removeprefix("bot: [image] ").split()[0])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the echo, downloaded and decrypted
    assert "40×30 image/png" in saved[0]
    assert "[Team] bot: pong" in lines
    assert any(re.fullmatch(r"\[Team\] \(read by bot\)", line) for line in lines)
    assert lines.index("bot: pong") < lines.index("bot: hello from my plugin") < lines.index("[Team] bot: pong")
    assert not (tmp_path / "real_auth").exists()  # the real session folder was never created
    assert "never sent" not in proc.stdout


def test_sandbox_under_a_pseudo_terminal(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "bot.py", "--sandbox"], stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=sandbox_env(tmp_path), text=True)
    os.close(slave)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("sandbox: you are +"), banner
        os.write(master, b"!ping\n")
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline and "bot: pong" not in seen:
            seen.append(proc.stdout.readline().rstrip("\n"))
        assert "bot: pong" in seen
        os.write(master, b"/quit\n")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
