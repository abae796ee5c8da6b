"""`python bot.py` with the emulator and default settings: a handled `!ping` is marked read, a slow command
shows "typing…" while it runs, and with BOT_REJECT_CALLS=on a call is declined."""

from __future__ import annotations

from tests.messaging_support import paired_python
from tests.test_bot_process import (  # noqa: F401  (bot_env, bots, server, slow_env: fixtures)
    PHONE,
    QR_LINE,
    BotProcess,
    bot_env,
    bots,
    launch,
    server,
    slow_env,
    stop_gracefully,
)
from whatsapp import events
from whatsapp.testing import EmulatedServer


async def test_bot_reads_handled_messages_types_while_slow_and_rejects_calls(
    server: EmulatedServer, slow_env: dict[str, str], bots: list[BotProcess]  # noqa: F811
) -> None:
    bot = await launch(bots, {**slow_env, "BOT_REJECT_CALLS": "on"})
    await server.account(PHONE).phone.scan_qr((await bot.wait_line(QR_LINE)).group(3))
    await bot.wait_line("uploaded 812 prekeys")
    await bot.wait_line("plugins loaded")
    alice = await paired_python(server, name="alice")
    bot_users = {PHONE, server.account(PHONE).lid}
    try:
        ping = await alice.client.send_text(f"{PHONE}@s.whatsapp.net", "!ping")
        await alice.wait(events.MessageReceived, lambda e: e.text == "pong")
        read = await alice.wait(events.Receipt, lambda r: ping.id in r.ids and r.type == "read")
        assert read.sender.user in bot_users

        slow = await alice.client.send_text(f"{PHONE}@s.whatsapp.net", "!slow")
        typing = await alice.wait(events.PresenceUpdate, lambda p: p.state == "composing", timeout=10)
        assert typing.sender.user in bot_users
        assert not [m for m in alice.messages if m.text == "slow pong"], "typing shows while the command runs"
        await alice.wait(events.MessageReceived, lambda e: e.text == "slow pong")
        await alice.wait(events.PresenceUpdate, lambda p: p.state == "paused")
        await alice.wait(events.Receipt, lambda r: slow.id in r.ids and r.type == "read")

        caller = server.account("15550001111").devices[0]  # Alice's phone rings the bot
        call_id = await server.calls.offer(caller, server.account(PHONE))
        rejected = await server.wait_for(lambda e: e.kind == "call_rejected" and e.data["call_id"] == call_id)
        assert rejected.device is not None and rejected.device.account.phone_number == PHONE
        await bot.wait_line("call from .* rejected")
        await stop_gracefully(bot)
    finally:
        await alice.close()
