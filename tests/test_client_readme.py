"""The README's "Use the library" program, run as written against the emulator, so the README cannot rot.

The program's code is taken from README.md and executed unchanged; only `whatsapp.Client` is pointed at
the emulator (its URL and root key) for the duration of the test. A second Python client plays the contact
who writes `ping` and must get the `pong`, quoting the ping.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

import whatsapp
from tests.messaging_support import PEOPLE, paired_python
from whatsapp import events
from whatsapp.auth import AuthState
from whatsapp.client import Client
from whatsapp.events import MessageReceived
from whatsapp.testing import EmulatedServer

README = Path(__file__).resolve().parent.parent / "README.md"

pytestmark = [pytest.mark.slow]


def readme_program() -> str:
    text = README.read_text()
    section = text.split("## Use the library", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "README.md: the 'Use the library' section has no python block"
    return found.group(1)


def test_the_readme_program_uses_the_public_api() -> None:
    program = readme_program()
    assert "from whatsapp import Client, MemoryAuthState, events" in program
    assert len(program.strip().splitlines()) <= 25


async def test_the_readme_program_answers_ping(
    emulator: EmulatedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[Client] = []
    seen: list[events.Event] = []
    changed = asyncio.Event()

    def record(event: events.Event) -> None:
        seen.append(event)
        changed.set()

    def emulator_client(auth: AuthState, **kwargs: Any) -> Client:
        client = Client(auth, url=emulator.url, root_public_key=emulator.root_public_key, **kwargs)
        client.add_handler(events.Event, record)
        made.append(client)
        return client

    async def until(kind: type[events.Event]) -> Any:
        while not (found := [e for e in seen if isinstance(e, kind)]):
            changed.clear()
            await asyncio.wait_for(changed.wait(), 20)
        return found[0]

    monkeypatch.setattr(whatsapp, "Client", emulator_client)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(readme_program(), str(README), "exec"), namespace)  # the program as written
    bot_phone = PEOPLE["py"][0]
    account = emulator.create_account(bot_phone, push_name="Bot")
    program = asyncio.create_task(namespace["main"]())
    alice = None
    try:
        qr = await until(events.QR)
        await account.phone.scan_qr(qr.code)
        await until(events.Connected)
        await until(events.PrekeysUploaded)  # usync lists the bot's device once its keys are published
        assert f"scan in WhatsApp > Linked devices: {qr.code}" in capsys.readouterr().out

        alice = await paired_python(emulator, name="alice")
        ping = await alice.client.send_text(f"{bot_phone}@s.whatsapp.net", "ping")
        pong: MessageReceived = await alice.wait(MessageReceived, lambda e: e.text == "pong")
        context = pong.message.extendedTextMessage.contextInfo
        assert context.stanzaID == ping.id and context.quotedMessage.conversation == "ping"
    finally:
        if alice is not None:
            await alice.close()
        if made:
            await made[0].close()
        reason = await asyncio.wait_for(program, 10)  # client.run() returns once closed
    assert reason is None  # main() returns nothing
