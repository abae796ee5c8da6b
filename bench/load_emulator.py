"""The emulator process of bench/load.py and bench/soak.py: an EmulatedServer plus the load generator's contacts.

    .venv/bin/python bench/load_emulator.py      # driven by bench/load.py / bench/soak.py over stdin/stdout

It runs in its own process so neither the emulator's CPU nor the load generator's is counted as the bot's.
Protocol: one JSON object per line. It prints {"event": "ready", "url", "root_key"} first, then answers each
command with {"event": "result", ...} (or {"event": "error", "error"}):
    {"cmd": "account", "phone"}                      create an account (the bot's)
    {"cmd": "scan", "phone", "qr"}                   the account's phone scans a companion's QR
    {"cmd": "contacts", "n"}                         link contacts until there are n (phones 1555700xxxx)
    {"cmd": "load", "target", "k", "m", "text"}      contacts 0..k-1 each send m texts to target, one after the
                                                     other, each waiting for the bot's answer (closed loop);
                                                     answers {"wall", "latencies", "answered", "sent"}
    {"cmd": "steady", "target", "rate", "seconds", "contacts"}  open loop: `rate` messages/s spread over the
                                                     contacts for `seconds`; answers like "load"
    {"cmd": "quit"}
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import asyncio  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

from loguru import logger  # noqa: E402

from whatsapp import events  # noqa: E402
from whatsapp.jid import JID  # noqa: E402
from whatsapp.testing import EmulatedServer  # noqa: E402
from whatsapp.testing.contact import Contact  # noqa: E402

ANSWER_TIMEOUT = 60.0


class Generator:
    """The contacts and, per contact, the futures of the answers it waits for (one chat each: the bot)."""

    def __init__(self, server: EmulatedServer) -> None:
        self.server = server
        self.contacts: list[Contact] = []
        self.waiting: dict[int, list[asyncio.Future[float]]] = {}

    async def grow(self, n: int) -> None:
        async def link(index: int) -> None:
            contact = await Contact.link(self.server, f"1555700{index:04d}", f"Load {index}")
            contact.listeners.append(partial(self._heard, index))
            self.contacts.append(contact)

        first = len(self.contacts)
        for start in range(first, n, 5):  # a few at a time: pairing is CPU-heavy
            await asyncio.gather(*(link(i) for i in range(start, min(start + 5, n))))
        self.contacts.sort(key=lambda c: c.phone)

    def _heard(self, index: int, event: events.Event) -> None:
        if isinstance(event, events.MessageReceived) and not event.from_me:
            queue = self.waiting.get(index)
            if queue:
                future = queue.pop(0)
                if not future.done():
                    future.set_result(time.perf_counter())

    async def _one(self, index: int, target: JID, text: str, latencies: list[float]) -> bool:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(index, []).append(future)
        started = time.perf_counter()
        await self.contacts[index].client.send_text(target, text)
        try:
            answered = await asyncio.wait_for(future, ANSWER_TIMEOUT)
        except TimeoutError:
            queue = self.waiting.get(index, [])
            if future in queue:
                queue.remove(future)
            return False
        latencies.append(answered - started)
        return True

    async def load(self, target: JID, k: int, m: int, text: str) -> dict[str, Any]:
        latencies: list[float] = []

        async def contact(index: int) -> int:
            ok = 0
            for _ in range(m):
                ok += await self._one(index, target, text, latencies)
            return ok

        started = time.perf_counter()
        answered = sum(await asyncio.gather(*(contact(i) for i in range(k))))
        return {"wall": time.perf_counter() - started, "latencies": latencies, "answered": answered, "sent": k * m}

    async def steady(self, target: JID, rate: float, seconds: float, contacts: int, text: str) -> dict[str, Any]:
        latencies: list[float] = []
        tasks: list[asyncio.Task[bool]] = []
        started = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) - started < seconds:
            due = int((now - started) * rate) + 1
            while sent < due:
                tasks.append(asyncio.create_task(self._one(sent % contacts, target, text, latencies)))
                sent += 1
            await asyncio.sleep(max(0.0, sent / rate - (time.perf_counter() - started)))
        answered = sum(await asyncio.gather(*tasks))
        return {"wall": time.perf_counter() - started, "latencies": latencies, "answered": answered, "sent": sent}


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def handle(server: EmulatedServer, gen: Generator, cmd: dict[str, Any]) -> dict[str, Any] | None:
    name = cmd["cmd"]
    if name == "quit":
        return None
    if name == "account":
        account = server.state.accounts.get(cmd["phone"]) or server.create_account(cmd["phone"])
        return {"phone": account.phone_number}
    if name == "scan":
        device = await server.account(cmd["phone"]).phone.scan_qr(cmd["qr"])
        return {"jid": str(device.jid)}
    if name == "contacts":
        await gen.grow(int(cmd["n"]))
        return {"contacts": len(gen.contacts)}
    target = JID(cmd["target"], "s.whatsapp.net")
    if name == "load":
        return await gen.load(target, int(cmd["k"]), int(cmd["m"]), cmd.get("text", "!ping"))
    if name == "steady":
        return await gen.steady(target, float(cmd["rate"]), float(cmd["seconds"]), int(cmd["contacts"]),
                                cmd.get("text", "!ping"))
    raise ValueError(f"unknown command {name!r}")


async def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with EmulatedServer() as server:
        gen = Generator(server)
        emit({"event": "ready", "url": server.url, "root_key": server.root_public_key.hex()})
        try:
            while line := await reader.readline():
                cmd = json.loads(line)
                try:
                    result = await handle(server, gen, cmd)
                except Exception as exc:  # report, keep serving
                    emit({"event": "error", "cmd": cmd.get("cmd"), "error": repr(exc)})
                    continue
                if result is None:
                    break
                emit({"event": "result", "cmd": cmd["cmd"], **result})
        finally:
            for contact in gen.contacts:
                await contact.close()


if __name__ == "__main__":
    asyncio.run(main())
