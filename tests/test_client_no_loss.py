"""No message lost, through the emulator (issue 9): the buffer across a restart, at-least-once delivery, a retry
receipt answered after a restart, and the floods that must stay bounded (SKDMs, a queue of messages, a
512 MiB WebSocket message)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.messaging_support import PyPeer, paired_python, pn
from tests.test_messaging_resilience import corrupter, intercept, open_folder_store
from whatsapp import decrypt
from whatsapp.auth import KeyType
from whatsapp.bot import Context, Dispatcher, Router
from whatsapp.events import MessageReceived
from whatsapp.proto import e2e_pb2
from whatsapp.signal import create_sender_key, distribution_message
from whatsapp.testing import EmulatedServer

ROOT = Path(__file__).resolve().parent.parent


async def test_a_message_whose_handler_never_finished_comes_back_once_after_a_restart(
    emulator: EmulatedServer, tmp_path: Path
) -> None:
    store = await open_folder_store(tmp_path / "py")
    py = await paired_python(emulator, store)
    alice = await paired_python(emulator, name="alice")
    held = []

    def take_along(event: MessageReceived) -> None:
        # A handler that takes its event along and dies with the process: the hold is never released.
        held.append(py.client.hold(event))

    py.client.add_handler(MessageReceived, take_along)
    try:
        sent = await alice.client.send_text(pn("py"), "handled at least once")
        first = await py.message(sent.id)
        assert not first.redelivered and first.stable_id
        # Our receipt was sent (the commit came first), so the server will not deliver it again: only the
        # buffer can bring it back.
        assert py.sent("receipt", id=sent.id)
        await py.close()
        await store.close()
        store = await open_folder_store(tmp_path / "py")
        again = PyPeer(emulator, store)
        await again.start_again()
        back = await again.message(sent.id)
        assert back.redelivered and back.stable_id == first.stable_id and back.text == "handled at least once"
        await asyncio.sleep(0.3)
        assert [e.id for e in again.messages].count(sent.id) == 1
        await again.close()
        # Handled now: a third start dispatches nothing.
        third = PyPeer(emulator, store)
        await third.start_again()
        await asyncio.sleep(0.3)
        assert not third.messages
        await third.close()
    finally:
        await alice.close()
        await store.close()


async def test_the_emulator_delivers_again_what_a_device_never_confirmed(emulator: EmulatedServer) -> None:
    py = await paired_python(emulator)
    alice = await paired_python(emulator, name="alice")
    try:
        original = py.client._connection.send_node  # PyPeer's recorder; drop our receipts from now on

        async def no_receipts(node):  # type: ignore[no-untyped-def]
            if node.tag != "receipt":
                await original(node)

        py.client._connection.send_node = no_receipts  # type: ignore[method-assign]
        sent = await alice.client.send_text(pn("py"), "kept until confirmed")
        await py.message(sent.id)
        py.client._connection.send_node = original  # type: ignore[method-assign]
        await py.close()
        offline_before = len([e for e in emulator.state.events.events if e.kind == "offline_done"])
        await py.start_again()
        async with asyncio.timeout(10):
            while len([e for e in emulator.state.events.events if e.kind == "offline_done"]) <= offline_before:
                await asyncio.sleep(0.05)
        done = [e for e in emulator.state.events.events if e.kind == "offline_done"][-1]
        assert done.data["count"] >= 1
        async with asyncio.timeout(10):
            while not py.sent("receipt", id=sent.id):
                await asyncio.sleep(0.05)
        # Delivered again (offline="1"); the buffer knew it: one event, and now the receipt.
        assert [e.id for e in py.messages].count(sent.id) == 1 and not py.failures
    finally:
        await py.close()
        await alice.close()


async def test_a_retry_receipt_after_a_restart_is_answered_and_the_contact_decrypts(
    emulator: EmulatedServer, tmp_path: Path
) -> None:
    store = await open_folder_store(tmp_path / "py")
    py = await paired_python(emulator, store)
    alice = await paired_python(emulator, name="alice")
    try:
        hello = await alice.client.send_text(pn("py"), "hello")
        await py.message(hello.id)
        await alice.close()
        sent = await py.client.send_text(pn("alice"), "answered after a restart")
        await py.close()
        await store.close()
        store = await open_folder_store(tmp_path / "py")
        again = PyPeer(emulator, store)  # a new process: nothing in memory
        await again.start_again()
        corrupt, corrupted = corrupter(("pkmsg", "msg"), set())
        intercept(alice, corrupt)
        await alice.start_again()
        got = await alice.message(sent.id, timeout=20)
        assert sent.id in corrupted and got.text == "answered after a restart"
        assert alice.sent("receipt", id=sent.id, type="retry")
        assert again.sent("message", id=sent.id)  # the resend came from the restarted client
        await again.close()
    finally:
        await alice.close()
        await store.close()


async def test_an_skdm_flood_for_groups_that_never_speak_stays_bounded(
    emulator: EmulatedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decrypt.SENDER_KEYS, "max_count", 100)
    py = await paired_python(emulator)
    alice = await paired_python(emulator, name="alice")
    try:
        for i in range(300):
            message = e2e_pb2.Message()
            message.senderKeyDistributionMessage.groupID = f"120363999{i:06d}@g.us"
            message.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage = distribution_message(
                create_sender_key())
            await alice.client.send_message(pn("py"), message)
        last = await alice.client.send_text(pn("py"), "after the flood")
        await py.message(last.id)
        kept = len(py.auth.keys.get(KeyType.SENDER_KEY, {}))  # type: ignore[attr-defined]
        assert kept <= 100 + 2 * decrypt.SENDER_KEYS.bucket_size, kept
        assert not py.failures
    finally:
        await py.close()
        await alice.close()


async def test_a_queue_flood_holds_back_reading_and_loses_nothing(emulator: EmulatedServer) -> None:
    py = await paired_python(emulator)
    py.client._log.max_in_flight = 16
    alice = await paired_python(emulator, name="alice")
    router = Router(name="slow")
    handled: list[str] = []
    peak = 0

    @router.message()
    async def slow(ctx: Context) -> None:
        nonlocal peak
        peak = max(peak, py.client._log.in_flight)
        await asyncio.sleep(0.01)
        handled.append(ctx.event.id)

    dispatcher = Dispatcher(py.client, max_concurrency=1)
    dispatcher.include_routers(router)
    dispatcher.attach()
    try:
        ids = [(await alice.client.send_text(pn("py"), f"flood {i}")).id for i in range(200)]
        async with asyncio.timeout(60):
            while len(handled) < len(ids):
                await asyncio.sleep(0.05)
        assert sorted(handled) == sorted(ids) and len(set(handled)) == len(ids)
        assert peak <= 16
        await asyncio.sleep(0.2)
        assert py.client._log.in_flight == 0
    finally:
        await dispatcher.close()
        await py.close()
        await alice.close()


HUGE_MESSAGE = """
import asyncio, sys
from loguru import logger
from whatsapp.events import Connected
from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.peers import paired_python

logger.remove()
lines = []
logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")

def rss(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))

async def main():
    async with EmulatedServer() as server:
        py = await paired_python(server)
        device = server.state.device_for(py.auth.creds.me_id)
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # the peak (VmHWM) starts again from the current RSS
        before = rss("VmRSS:")

        async def fragments():
            chunk = b"\\0" * (1 << 20)
            for _ in range(512):  # 512 MiB, never all in memory on either side
                yield chunk

        try:
            await device.connection.websocket.send(fragments())
        except Exception:
            pass
        await py.wait_count(Connected, 2, timeout=30)  # the connection was recycled
        print(rss("VmHWM:") - before, sum("refused a WebSocket message" in line for line in lines))
        await py.close()

asyncio.run(main())
"""


@pytest.mark.slow
def test_a_512_mib_websocket_message_is_refused_with_bounded_memory() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(HUGE_MESSAGE)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    growth, refusals = (int(x) for x in result.stdout.split())
    print(f"peak RSS growth while refusing 512 MiB: {growth / 2**20:.1f} MiB")
    assert refusals == 1
    assert growth < 3 * 16 * 2**20
