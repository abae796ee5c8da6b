"""`python -m whatsapp.testing` as a daemon: serving without a terminal until SIGTERM, and its `send` command."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from whatsapp import events
from whatsapp.auth import MemoryAuthState
from whatsapp.client import Client

ROOT = Path(__file__).resolve().parent.parent
BOT = "15550001111"


async def start_emulator(stdin: int) -> tuple[asyncio.subprocess.Process, str, bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "whatsapp.testing", "--account", BOT, cwd=ROOT, env=env, stdin=stdin,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip().removeprefix("url: ")
    key = (await proc.stdout.readline()).decode().strip().removeprefix("root public key: ")
    return proc, url, bytes.fromhex(key)


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return proc.returncode or 0, err.decode()


async def test_without_a_terminal_it_serves_until_sigterm() -> None:
    proc, url, _ = await start_emulator(asyncio.subprocess.DEVNULL)
    assert url.startswith("ws://127.0.0.1:")
    await asyncio.sleep(1.5)
    assert proc.returncode is None  # stdin at its end did not stop it
    code, err = await stop(proc)
    assert code == 0
    assert "standard input ended (not a terminal): serving until SIGTERM" in err
    assert "emulator: stop signal received" in err


async def test_send_from_a_contact_reaches_a_linked_client() -> None:
    proc, url, key = await start_emulator(asyncio.subprocess.PIPE)
    assert proc.stdin is not None
    client = Client(MemoryAuthState(), url=url, root_public_key=key)
    got: asyncio.Queue[events.Event] = asyncio.Queue()
    client.add_handler(events.Event, got.put_nowait)
    try:
        await client.start()

        async def next_of(kind: type[events.Event]) -> events.Event:
            while not isinstance(event := await asyncio.wait_for(got.get(), 30), kind):
                pass
            return event

        qr = await next_of(events.QR)
        assert isinstance(qr, events.QR)
        proc.stdin.write(f"scan {BOT} {qr.code}\n".encode())
        await next_of(events.PrekeysUploaded)
        proc.stdin.write(f"send +15550002222 {BOT} hello from the prompt\n".encode())
        message = await next_of(events.MessageReceived)
        assert isinstance(message, events.MessageReceived)
        assert message.text == "hello from the prompt"
        assert message.sender.user == "15550002222" or message.sender_alt is not None
        proc.stdin.close()  # a pipe's end leaves the emulator serving
        await asyncio.sleep(0.5)
        assert proc.returncode is None
    finally:
        await client.close()
        code, err = await stop(proc)
    assert code == 0, err
