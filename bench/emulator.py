"""How fast the emulated server routes messages, and what it costs in memory.

Two measurements, so later benchmarks can tell whether the emulator is their bottleneck:

1. End to end: two real Baileys 7 clients (tests/node/baileys_harness.mjs) paired with the emulator;
   one sends N texts to the other. Reports messages/s received, and how much of the wall time the
   server spent routing (the rest is Baileys' Signal work, Node and the sockets).
2. Routing alone: the sans-I/O Router fed N prebuilt 1:1 stanzas (4 device copies each) and N group
   stanzas (3 members × 2 devices), no sockets: the emulator's ceiling.

Memory: the server process' RSS (VmRSS, peak VmHWM) and tracemalloc's current/peak of Python allocations
during the end-to-end burst (tracemalloc slows Python down, so the routing-alone timing runs without it).

Usage: .venv/bin/python bench/emulator.py [--messages 500] [--routing 20000] [--flavour b7|b6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loguru import logger

from whatsapp.binary.node import Node
from whatsapp.keys import KeyPair
from whatsapp.testing import routing
from whatsapp.testing.delivery import Outcome
from whatsapp.testing.harness.baileys import FLAVOURS, BaileysHarness, network_delay, pair_baileys_by_qr
from whatsapp.testing.routing import Router
from whatsapp.testing.server import EmulatedServer
from whatsapp.testing.state import Device, PreKey, ServerState, SignedPreKey


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB, from /proc."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _unit = line.split()
                values[key] = int(amount) / 1024
    return values.get("VmRSS:", 0.0), values.get("VmHWM:", 0.0)


class RoutingTimer:
    """Accumulates the time the server spends inside Router.handle (the sans-I/O routing decision)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._original = Router.handle

    def __enter__(self) -> RoutingTimer:
        original = self._original
        timer = self

        def timed(self: Router, sender: Device, node: Node) -> Outcome:
            start = time.perf_counter()
            try:
                return original(self, sender, node)
            finally:
                timer.seconds += time.perf_counter() - start
                timer.calls += 1

        # Patched on the class: the server's handlers look `router.handle` up at each stanza.
        Router.handle = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Router.handle = self._original  # type: ignore[method-assign]


async def end_to_end(count: int, flavour: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-emulator-"))
    package = FLAVOURS[0] if flavour == "b7" else FLAVOURS[1]
    async with EmulatedServer() as server:
        network_delay(server, package)  # Baileys 6.7 needs a network hop before the first frame
        server.create_account("15550001111", push_name="Alice")
        server.create_account("15550002222", push_name="Bob")
        alice = BaileysHarness(server.url, server.root_public_key, tmp / "alice", flavour=package)
        bob = BaileysHarness(server.url, server.root_public_key, tmp / "bob", flavour=package)
        try:
            await alice.start()
            await bob.start()
            await pair_baileys_by_qr(server, alice, "15550001111")
            await pair_baileys_by_qr(server, bob, "15550002222")
            bob_jid = "15550002222@s.whatsapp.net"
            # Warm up: the first message builds the Signal sessions (prekey fetch, pkmsg).
            warm = (await alice.command("send_text", jid=bob_jid, text="warm-up"))["id"]
            await bob.wait_for("message", lambda e: e["id"] == warm)
            tracemalloc.start()
            with RoutingTimer() as timer:
                cpu_started = time.process_time()
                started = time.perf_counter()
                burst = await alice.command("send_burst", timeout=600, jid=bob_jid, count=count, prefix="m")
                last = burst["ids"][-1]
                await bob.wait_for("message", lambda e: e["id"] == last, timeout=600)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            wanted = set(burst["ids"])
            received = sum(1 for e in bob.seen("message") if e["id"] in wanted and not e["fromMe"])
            rss, hwm = rss_mib()
            print(f"end-to-end ({flavour} -> {flavour}, 1:1 text, {count} messages)")
            print(f"  sender's send loop:       {burst['seconds']:.2f} s ({count / burst['seconds']:.0f} msg/s)")
            print(f"  received by the peer:     {received} in {elapsed:.2f} s -> {received / elapsed:.0f} msg/s")
            print(f"  server routing time:      {timer.seconds * 1000:.1f} ms over {timer.calls} stanzas "
                  f"({timer.seconds / max(timer.calls, 1) * 1e6:.0f} us each, "
                  f"{timer.seconds / elapsed * 100:.1f}% of wall time)")
            print(f"  server process CPU:       {cpu:.2f} s ({cpu / elapsed * 100:.0f}% of one core: Noise, codec, "
                  f"routing, asyncio; the clients run in their own Node processes)")
            print(f"  server memory:            RSS {rss:.1f} MiB (peak {hwm:.1f} MiB); "
                  f"tracemalloc {current / 2**20:.2f} MiB now, {peak / 2**20:.2f} MiB peak during the burst")
        finally:
            await alice.stop()
            await bob.stop()


def routing_alone(count: int) -> None:
    state = ServerState()
    accounts = [state.add_account(phone, push_name=name) for phone, name in
                (("15550001111", "Alice"), ("15550002222", "Bob"), ("15550003333", "Carol"))]
    for account in accounts:
        device = account.new_companion()
        device.identity_public = KeyPair.generate().public
        device.registration_id = 1
        device.signed_prekey = SignedPreKey(1, os.urandom(32), os.urandom(64))
        device.add_prekeys([PreKey(1, os.urandom(32))])
    router = Router(state)
    alice1 = accounts[0].devices[1]
    bob = accounts[1]
    payload = os.urandom(180)  # the size of a padded short text in a whisper message

    def direct(i: int) -> Node:
        targets = [bob.devices[0].jid, bob.devices[1].jid, accounts[0].devices[0].jid]
        return Node("message", {"id": f"3EB0{i:018X}", "to": bob.jid, "type": "text"}, [
            Node("participants", {}, [Node("to", {"jid": j}, [Node("enc", {"v": "2", "type": "msg"}, payload)])
                                      for j in targets])])

    group = state.add_group("Bench", accounts[0], accounts[1:], addressing_mode="lid")

    def grouped(i: int) -> Node:
        return Node("message", {"id": f"3EB1{i:018X}", "to": group.jid, "type": "text"},
                    [Node("enc", {"v": "2", "type": "skmsg"}, payload)])

    for name, build in (("1:1 (3 device copies)", direct), ("group (5 device copies)", grouped)):
        nodes = [build(i) for i in range(count)]
        started = time.perf_counter()
        copies = 0
        for node in nodes:
            copies += len(router.handle(alice1, node).deliveries)
        elapsed = time.perf_counter() - started
        print(f"routing alone, {name}: {count / elapsed:,.0f} msg/s, {copies / elapsed:,.0f} copies/s, "
              f"{elapsed / count * 1e6:.1f} us/msg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500, help="texts sent end to end")
    parser.add_argument("--routing", type=int, default=20_000, help="stanzas for the routing-alone run")
    parser.add_argument("--flavour", choices=("b7", "b6"), default="b7")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    print(f"emulator benchmark (python {sys.version.split()[0]}, routing module {routing.__name__})")
    routing_alone(args.routing)
    asyncio.run(end_to_end(args.messages, args.flavour))


if __name__ == "__main__":
    main()
