"""Injected faults make a real Baileys client react as it does against WhatsApp (how it maps stream errors and
failures to disconnect reasons: Baileys `src/Socket/socket.ts`, `src/Utils/generics.ts` getErrorCodeFromStreamError)."""

from __future__ import annotations

import shutil

import pytest

from tests.fixtures.emulator import pair_baileys_by_qr
from whatsapp.testing import EmulatedServer

pytestmark = pytest.mark.node

PHONE = "15550002222"


def logins(server: EmulatedServer, device) -> int:
    return sum(1 for ev in server.state.events.of_kind("logged_in") if ev.device is device)


@pytest.mark.parametrize("fault", ["restart_required", "service_unavailable", "drop"])
async def test_transient_faults_make_baileys_reconnect(emulator: EmulatedServer, make_baileys, tmp_path, fault) -> None:
    emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth")
    device = await pair_baileys_by_qr(emulator, client, PHONE)
    before = logins(emulator, device)

    if fault == "drop":
        emulator.faults.drop(device)
    else:
        await getattr(emulator.faults, fault)(device)

    closed = await client.wait_for("connection", connection="close")
    expected = {"restart_required": 515, "service_unavailable": 503, "drop": 428}[fault]
    assert closed["statusCode"] == expected and closed["willReconnect"]
    await client.wait_for("connection", connection="open")
    await emulator.wait_for(
        lambda ev: ev.kind == "logged_in" and ev.device is device and logins(emulator, device) > before
    )
    assert (await client.command("query_ping"))["type"] == "result"


async def test_unlink_reports_logged_out_and_later_logins_fail(emulator: EmulatedServer, make_baileys,
                                                               tmp_path) -> None:
    account = emulator.create_account(PHONE)
    auth = tmp_path / "auth"
    client = await make_baileys(emulator, auth)
    device = await pair_baileys_by_qr(emulator, client, PHONE)

    await account.phone.unlink(device)
    closed = await client.wait_for("connection", connection="close")
    assert closed["statusCode"] == 401 and not closed["willReconnect"]
    assert account.phone.linked_devices() == []
    await client.stop()

    again = await make_baileys(emulator, auth)
    refused = await again.wait_for("connection", connection="close")
    assert refused["statusCode"] == 401
    await emulator.wait_for(lambda ev: ev.kind == "login_failed" and ev.device is device)


async def test_second_connection_replaces_the_first(emulator: EmulatedServer, make_baileys, tmp_path) -> None:
    emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth")
    device = await pair_baileys_by_qr(emulator, client, PHONE)
    await emulator.wait_for_event("prekeys_uploaded", device)
    shutil.copytree(tmp_path / "auth", tmp_path / "auth-copy")

    twin = await make_baileys(emulator, tmp_path / "auth-copy")
    await twin.wait_for("connection", connection="open")
    replaced = await client.wait_for("connection", connection="close")
    assert replaced["statusCode"] == 440 and not replaced["willReconnect"]
    assert device.connection is not None and (await twin.command("query_ping"))["type"] == "result"


@pytest.mark.parametrize("reason", [401, 403, 405])
async def test_injected_login_failure(emulator: EmulatedServer, make_baileys, tmp_path, reason) -> None:
    emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth")
    device = await pair_baileys_by_qr(emulator, client, PHONE)
    emulator.faults.fail_next_login(device, reason)
    await emulator.faults.restart_required(device)  # Baileys reconnects at once and meets the failure
    await client.wait_for("connection", connection="close", statusCode=515)
    failed = await client.wait_for("connection", connection="close")
    assert failed["statusCode"] == reason and not failed["willReconnect"]


async def test_malformed_frame_closes_only_that_connection(emulator: EmulatedServer, make_baileys, tmp_path) -> None:
    emulator.create_account(PHONE)
    emulator.create_account("15550003333")
    bad = await make_baileys(emulator, tmp_path / "bad", reconnect=False)
    bad_device = await pair_baileys_by_qr(emulator, bad, PHONE)
    good = await make_baileys(emulator, tmp_path / "good")
    good_device = await pair_baileys_by_qr(emulator, good, "15550003333")

    await bad.command("send_garbage")
    closed = await emulator.wait_for(lambda ev: ev.kind == "closed" and ev.device is bad_device)
    assert "malformed frame" in closed.data["reason"]
    await bad.wait_for("connection", connection="close")
    assert (await good.command("query_ping"))["type"] == "result"
    assert good_device.online and not bad_device.online


async def test_silenced_connection_stays_open_but_mute(emulator: EmulatedServer, make_baileys, tmp_path) -> None:
    emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth", reconnect=False)
    device = await pair_baileys_by_qr(emulator, client, PHONE)
    emulator.faults.silence(device)
    with pytest.raises(Exception, match=r"failed|Timed Out|timed out"):
        await client.command("query_ping", timeout=15)
    assert device.online


async def test_baileys_echoes_edge_routing_when_it_reconnects(emulator: EmulatedServer, make_baileys,
                                                              tmp_path) -> None:
    emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth")
    device = await pair_baileys_by_qr(emulator, client, PHONE)
    first_login = await emulator.wait_for_event("logged_in", device)
    assert first_login.connection.routing_info is None
    await client.wait_for("offline_done")
    await emulator.faults.restart_required(device)
    await client.wait_for("connection", connection="close", statusCode=515)
    await client.wait_for("connection", connection="open")
    relogin = await emulator.wait_for(lambda ev: ev.kind == "logged_in" and ev.connection is not first_login.connection
                                      and ev.device is device)
    assert relogin.connection.routing_info == emulator.edge_routing


async def test_baileys_logout_unlinks_its_device(emulator: EmulatedServer, make_baileys, tmp_path) -> None:
    account = emulator.create_account(PHONE)
    client = await make_baileys(emulator, tmp_path / "auth")
    device = await pair_baileys_by_qr(emulator, client, PHONE)
    await client.command("logout")
    await emulator.wait_for(lambda ev: ev.kind == "unlinked" and ev.device is device)
    assert device.removed and account.phone.linked_devices() == []
