"""Receive throughput of the Python client: decrypt + persist + delivery receipt, from a real Baileys sender.

    .venv/bin/python bench/messaging.py [--count 500]

1. End to end: Baileys (7.0.0-rc14) sends --count texts one after the other (each awaited, as an app
   would); the figure is messages/s until the Python client has emitted every MessageReceived.
2. Receive path alone: the same number of stanzas is held back as they arrive, then fed through the
   client's stanza handler at once; the figures are messages/s (wall) and CPU time per message of the
   Python process (decrypt, unpad, parse, MemoryAuthState commit, event, receipt on the socket).
Everything runs on loopback against `whatsapp.testing.EmulatedServer`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds a signal.py that would shadow the standard library's `signal` (asyncio imports it).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from loguru import logger  # noqa: E402

from whatsapp.binary import Node  # noqa: E402
from whatsapp.testing import EmulatedServer  # noqa: E402
from whatsapp.testing.harness.baileys import BaileysHarness, pair_baileys_by_qr  # noqa: E402
from whatsapp.testing.harness.peers import PEOPLE, paired_python, pn  # noqa: E402


async def run(count: int) -> None:
    async with EmulatedServer() as server:
        py = await paired_python(server)
        phone, name = PEOPLE["alice"]
        server.create_account(phone, push_name=name)
        with tempfile.TemporaryDirectory() as tmp:
            alice = BaileysHarness(server.url, server.root_public_key, Path(tmp) / "alice")
            await alice.start()
            try:
                await pair_baileys_by_qr(server, alice, phone)
                warm = (await alice.command("send_text", jid=pn("py"), text="warm-up"))["id"]
                await py.message(warm)

                # 1. end to end
                before = len(py.messages)
                started = time.perf_counter()
                await alice.command("send_burst", jid=pn("py"), count=count, prefix="e2e ", timeout=600)
                await py.wait_count(type(py.messages[0]), before + count, timeout=600)
                e2e = count / (time.perf_counter() - started)

                # 2. the receive path alone
                held: list[Node] = []
                original = py.client._handle

                async def hold(node: Node) -> None:
                    if node.tag == "message":
                        held.append(node)
                    else:
                        await original(node)

                py.client._handle = hold  # type: ignore[method-assign]
                await alice.command("send_burst", jid=pn("py"), count=count, prefix="held ", timeout=600)
                while len(held) < count:
                    await asyncio.sleep(0.05)
                before = len(py.messages)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for node in held:
                    await original(node)
                await py.wait_count(type(py.messages[0]), before + count, timeout=600)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                assert not py.failures, py.failures[:3]
            finally:
                await py.close()
                await alice.stop()
    print(f"end to end (Baileys sends {count}, each awaited): {e2e:.0f} msg/s")
    print(f"receive path alone: {count / wall:.0f} msg/s, {cpu / count * 1e3:.2f} ms CPU per message")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    asyncio.run(run(args.count))


if __name__ == "__main__":
    main()
