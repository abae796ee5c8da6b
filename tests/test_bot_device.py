# ruff: noqa: F811  (pytest fixtures imported from test_bot_process are parameters here)
"""`python bot.py --logout`, `--devices` and `--reset-session` against the emulated server: a logout unlinks the
device on the phone, a reset logs out first (no ghost in "Linked devices") or says that it could not."""

from __future__ import annotations

import socket
from pathlib import Path

from bot import store_config
from botconfig import BotConfig
from storage.archive import list_archives
from tests.test_bot_process import (  # noqa: F401  (the fixtures are used by name)
    ONLINE,
    PHONE,
    QR_LINE,
    BotProcess,
    bot_env,
    bots,
    launch,
    server,
    stop_gracefully,
)
from whatsapp.testing import EmulatedServer


async def _paired_bot(server: EmulatedServer, env: dict[str, str], bots: list[BotProcess]) -> str:
    bot = await launch(bots, env)
    await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
    me = (await bot.wait_line(ONLINE + r" (\S+)")).group(1)
    await stop_gracefully(bot)
    return me


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ws/chat"


async def test_logout_flag_unlinks_the_device_and_archives_the_session(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess], tmp_path: Path
) -> None:
    me = await _paired_bot(server, bot_env, bots)
    phone = server.account(PHONE).phone
    assert [str(d.jid) for d in phone.linked_devices()] == [me]

    listing = await launch(bots, bot_env, "--devices")
    assert await listing.wait_exit(30) == 0, listing.tail()
    listing.assert_clean_log()

    out = await launch(bots, bot_env, "--logout")
    await out.wait_line("phone no longer lists this device", timeout=30)
    assert await out.wait_exit(15) == 0, out.tail()
    out.assert_clean_log()
    assert phone.linked_devices() == []
    [entry] = await list_archives(store_config(BotConfig.from_env(bot_env)))
    assert "logged out by this device" in entry.reason

    again = await launch(bots, bot_env, "--logout")  # nothing linked any more: says so, exit 0
    await again.wait_line("nothing to log out")
    assert await again.wait_exit(15) == 0
    fresh = await launch(bots, bot_env)  # the next start pairs anew
    await fresh.wait_line(QR_LINE)
    await stop_gracefully(fresh)


async def test_reset_session_logs_out_first_and_leaves_no_ghost(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess]
) -> None:
    first = await _paired_bot(server, bot_env, bots)
    reset = await launch(bots, bot_env, "--reset-session")
    await reset.wait_line("phone no longer lists this device", timeout=30)
    phone = server.account(PHONE).phone
    await phone.scan_qr((await reset.wait_line(QR_LINE)).group(3))
    after_qr = next(i for i, line in enumerate(reset.lines) if QR_LINE.search(line))
    second = (await reset.wait_line(ONLINE + r" (\S+)", start=after_qr)).group(1)
    assert second != first and [str(d.jid) for d in phone.linked_devices()] == [second]
    await stop_gracefully(reset)


async def test_reset_session_against_an_unreachable_server_says_the_device_stays_linked(
    server: EmulatedServer, bot_env: dict[str, str], bots: list[BotProcess]
) -> None:
    first = await _paired_bot(server, bot_env, bots)
    offline = {**bot_env, "WA_URL": _closed_port_url()}
    reset = await launch(bots, offline, "--reset-session")
    await reset.wait_line("stays on the phone until it is removed there", timeout=40)
    await reset.wait_line("the next start pairs anew", timeout=20)  # the local reset went ahead
    await stop_gracefully(reset)
    assert [str(d.jid) for d in server.account(PHONE).phone.linked_devices()] == [first]
