"""A real Baileys client pairs with the emulated server by QR and by pairing code, then logs in."""

from __future__ import annotations

import pytest

from tests.fixtures.emulator import FLAVOURS
from whatsapp.testing import EmulatedServer

pytestmark = pytest.mark.node

PHONE = "15550001111"


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_baileys_pairs_by_qr_and_logs_in(emulator: EmulatedServer, make_baileys, tmp_path, flavour) -> None:
    account = emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth", flavour=flavour)

    qr = (await client.wait_for("qr"))["qr"]
    device = await account.phone.scan_qr(qr)
    assert device.device_id == 1 and device.identity_public and device.noise_public

    # Baileys handles the 515, reconnects with its new identity and logs in.
    restart = await client.wait_for("connection", connection="close")
    assert restart["statusCode"] == 515 and restart["willReconnect"]
    await client.wait_for("connection", connection="open")
    login = await emulator.wait_for_event("logged_in", device)
    assert login.connection.device is device

    # It uploads its prekeys (812 on first login, as INITIAL_PREKEY_COUNT says) and sees the offline marker.
    uploaded = await emulator.wait_for_event("prekeys_uploaded", device)
    assert uploaded.data["count"] >= 30 and len(device.prekeys) == uploaded.data["total"]
    assert device.signed_prekey is not None and device.registration_id
    await client.wait_for("offline_done")

    creds = (await client.command("state"))
    assert creds["me"].split(":")[0] == PHONE and creds["me"].endswith("@s.whatsapp.net")
    assert creds["lid"] == str(device.lid_jid)
    assert account.phone.linked_devices() == [device]
    assert device.online and emulator.state.connection_for(device.jid) is device.connection


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_baileys_pairs_by_pairing_code(emulator: EmulatedServer, make_baileys, tmp_path, flavour) -> None:
    account = emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth", pair_phone=PHONE, flavour=flavour)

    code = (await client.wait_for("pairing_code"))["code"]
    assert len(code) == 8
    device = await account.phone.enter_pairing_code(code)
    assert device is not None and device.device_id == 1

    restart = await client.wait_for("connection", connection="close")
    assert restart["statusCode"] == 515
    await client.wait_for("connection", connection="open")
    await emulator.wait_for_event("logged_in", device)
    await emulator.wait_for_event("prekeys_uploaded", device)
    assert (await client.command("state"))["registered"] is True


async def test_wrong_pairing_code_links_nothing(emulator: EmulatedServer, make_baileys, tmp_path) -> None:
    account = emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth", pair_phone=PHONE, reconnect=False)
    code = (await client.wait_for("pairing_code"))["code"]
    wrong = ("2" if code[0] != "2" else "3") + code[1:]
    with pytest.raises(Exception, match=r"key bundle|pairing"):
        await account.phone.enter_pairing_code(wrong, timeout=15)
    assert account.phone.linked_devices() == []
    await emulator.wait_for_event("pair_failed")


async def test_restarted_baileys_logs_back_in_without_qr(emulator: EmulatedServer, make_baileys, tmp_path) -> None:
    account = emulator.create_account(PHONE)
    auth = tmp_path / "auth"
    first = await make_baileys(emulator, auth)
    device = await account.phone.scan_qr((await first.wait_for("qr"))["qr"])
    await first.wait_for("connection", connection="open")
    await emulator.wait_for_event("prekeys_uploaded", device)
    await first.stop()
    await emulator.wait_for(lambda ev: ev.kind == "closed" and ev.device is device)

    second = await make_baileys(emulator, auth)
    await second.wait_for("connection", connection="open")
    assert not second.seen("qr")
    logins = [ev for ev in emulator.state.events.of_kind("logged_in") if ev.device is device]
    assert len(logins) == 2
    assert account.phone.linked_devices() == [device]


async def test_qr_rotation_and_refs_running_out(make_baileys, tmp_path) -> None:
    from whatsapp.errors import PairingError
    from whatsapp.testing import QRTimings

    async with EmulatedServer(qr_timings=QRTimings(ref_count=3, first=1.5, following=1.5)) as server:
        account = server.create_account(PHONE)
        # Nobody scans: Baileys shows each ref in turn, then gives up (408) as the server drops it.
        idle = await make_baileys(server, tmp_path / "idle", qr_timeout_ms=1500, reconnect=False)
        qrs = [(await idle.wait_for("qr", timeout=10))["qr"] for _ in range(3)]
        assert len(set(qrs)) == 3
        ended = await idle.wait_for("connection", connection="close", timeout=15)
        assert ended["statusCode"] == 408
        with pytest.raises(PairingError):
            await account.phone.scan_qr(qrs[0])

        # The second QR shown, scanned while it is displayed, links.
        client = await make_baileys(server, tmp_path / "auth", qr_timeout_ms=1500, reconnect=False)
        await client.wait_for("qr")
        second = (await client.wait_for("qr", timeout=10))["qr"]
        device = await account.phone.scan_qr(second)
        await client.wait_for("connection", connection="open")
        await server.wait_for_event("logged_in", device)
