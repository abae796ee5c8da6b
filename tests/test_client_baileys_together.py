"""Our client and an unmodified Baileys client online on the same emulated server at once, on different accounts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fixtures.emulator import pair_baileys_by_qr
from whatsapp import events
from whatsapp.auth import MemoryAuthState
from whatsapp.client import Client
from whatsapp.keepalive import KeepaliveTiming
from whatsapp.testing import EmulatedServer


@pytest.mark.node
async def test_python_and_baileys_online_together(emulator: EmulatedServer, make_baileys, tmp_path: Path) -> None:
    py_account = emulator.create_account("15550005555")
    emulator.create_account("15550006666")
    auth = MemoryAuthState()
    # Short keepalive so the shared period below covers several ping rounds on our side.
    client = Client(
        auth,
        url=emulator.url,
        root_public_key=emulator.root_public_key,
        keepalive=KeepaliveTiming(interval_min=0.2, interval_max=0.4, response_timeout=2, max_silence=10),
    )
    opened = asyncio.Event()
    qrs: asyncio.Queue[str] = asyncio.Queue()
    client.add_handler(events.QR, lambda e: qrs.put_nowait(e.code))
    client.add_handler(events.Connected, lambda e: opened.set())
    await client.start()

    harness = await make_baileys(emulator, tmp_path / "baileys")
    baileys_device = await pair_baileys_by_qr(emulator, harness, "15550006666")
    await py_account.phone.scan_qr(await asyncio.wait_for(qrs.get(), 10))
    await asyncio.wait_for(opened.wait(), 15)

    py_device = emulator.state.device_for(auth.creds.me_id)
    assert py_device is not None and py_device is not baileys_device
    await asyncio.sleep(2)  # both stay online side by side
    assert emulator.connections_of(py_device) and emulator.connections_of(baileys_device)
    assert client.connected
    closes = harness.seen("connection", connection="close")
    assert [c["statusCode"] for c in closes] == [515]  # only its own post-pairing restart
    assert [r.kind.value for r, _ in client.history] == ["restart"]
    await client.close()
