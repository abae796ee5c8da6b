"""The framework's additions through the dispatcher: !help, cooldown's retry time, F.owner/F.admin,
per-chat and per-user state, scheduled jobs and the reply when a command fails."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any

from loguru import logger

from tests.bot_support import FakeClient, received
from whatsapp.bot import Context, Cooldown, Dispatcher, F, JobContext, Router, install
from whatsapp.bot.context import Scopes
from whatsapp.group_meta import GroupInfo, GroupMember
from whatsapp.jid import JID


def texts(client: FakeClient) -> list[str]:
    return [text for _, text, _ in client.sent]


def bot(*routers: Router, client: Any = None, **options: Any) -> Dispatcher:
    dispatcher = Dispatcher(client or FakeClient())
    dispatcher.include_routers(*routers)
    install(dispatcher, **options)
    return dispatcher


async def test_help_lists_commands_with_descriptions_and_describes_one() -> None:
    router = Router(name="tools")

    @router.command("weather", aliases=["w"])
    async def weather(ctx: Context) -> None:
        """Today's weather.

        Usage: !weather CITY"""

    @router.command("quiet")
    async def quiet(ctx: Context) -> None: ...

    dispatcher = bot(router)
    await dispatcher.process(received("!help"))
    await dispatcher.process(received("!help w"))
    await dispatcher.process(received("!help nope"))
    listing, one, missing = texts(dispatcher.client)  # type: ignore[arg-type]
    assert listing.splitlines() == [
        "Commands:", "!help — Lists the commands; `help NAME` describes one.",
        "!id — The chat's and your ids (phone number and LID): what OWNER_NUMBERS and filters use.", "!quiet",
        "!status — Whether the bot is connected, how long it has been up, handler calls and failures.",
        "!weather — Today's weather."]
    assert one.startswith("!weather: Today's weather.") and "Usage: !weather CITY" in one and "Aliases: w" in one
    assert missing.startswith("No command 'nope'")


async def test_a_plugins_own_help_is_kept() -> None:
    router = Router(name="mine")

    @router.command("help")
    async def mine(ctx: Context) -> None:
        await ctx.reply("my help")

    dispatcher = bot(router)
    await dispatcher.process(received("!help"))
    assert texts(dispatcher.client) == ["my help"]  # type: ignore[arg-type]


async def test_cooldown_says_when_to_retry() -> None:
    router = Router(name="limited")
    now = [0.0]
    router.message.middleware(Cooldown(30, clock=lambda: now[0]))

    @router.command("hi")
    async def hi(ctx: Context) -> None:
        await ctx.reply("hi")

    dispatcher = bot(router)
    await dispatcher.process(received("!hi"))
    now[0] = 12.5
    await dispatcher.process(received("!hi"))
    assert texts(dispatcher.client) == ["hi", "Please wait 18s before trying again."]  # type: ignore[arg-type]


class GroupClient(FakeClient):
    async def group_metadata(self, jid: JID | str, *, refresh: bool = False) -> GroupInfo:
        group = JID.parse(str(jid))
        admin = GroupMember(JID.parse("99@lid"), phone_number=JID.parse("5@s.whatsapp.net"), admin=True)
        return GroupInfo(group, "g", "lid", (admin.jid,), 0.0, members=(admin, GroupMember(JID.parse("6@lid"))))


async def test_owner_and_admin_filters() -> None:
    router = Router(name="guarded")

    @router.command("shutdown", F.owner, include_own=True)
    async def shutdown(ctx: Context) -> None:
        await ctx.reply("owner ok")

    @router.command("kick", F.group & F.admin)
    async def kick(ctx: Context) -> None:
        await ctx.reply("admin ok")

    dispatcher = bot(router, client=GroupClient(), owners=["+15550001111"])
    await dispatcher.process(received("!shutdown", sender="15550001111:3@s.whatsapp.net"))  # an OWNER_NUMBERS number
    await dispatcher.process(received("!shutdown", sender="16660001111@s.whatsapp.net"))  # not an owner
    await dispatcher.process(received("!shutdown", "7@s.whatsapp.net", sender="7@s.whatsapp.net",
                                      from_me=True))  # the account itself
    await dispatcher.process(received("!kick", "1-2@g.us", sender="99:1@lid", group=True))  # an admin
    await dispatcher.process(received("!kick", "1-2@g.us", sender="6@lid", group=True))  # a member
    await dispatcher.process(received("!kick", "7@s.whatsapp.net", sender="99@lid"))  # not a group
    assert texts(dispatcher.client) == ["owner ok", "owner ok", "admin ok"]  # type: ignore[arg-type]
    assert not await F.owner(received("!x"))  # outside a dispatcher: only from_me would pass


async def test_chat_and_user_state_are_separate_and_bounded(monkeypatch: Any) -> None:
    router = Router(name="counter")

    @router.command("count")
    async def count(ctx: Context) -> None:
        chat = int(str(ctx.chat_state.get("n", 0))) + 1
        user = int(str(ctx.user_state.get("n", 0))) + 1
        ctx.chat_state["n"], ctx.user_state["n"] = chat, user
        await ctx.reply(f"{chat}/{user}")

    dispatcher = bot(router)
    await dispatcher.process(received("!count", "1@s.whatsapp.net", sender="1@s.whatsapp.net"))
    await dispatcher.process(received("!count", "1-2@g.us", sender="1:4@s.whatsapp.net", group=True))
    await dispatcher.process(received("!count", "1-2@g.us", sender="3@s.whatsapp.net", group=True))
    assert texts(dispatcher.client) == ["1/1", "1/2", "2/1"]  # type: ignore[arg-type]

    monkeypatch.setattr(Scopes, "MAX_KEYS", 2)
    scopes = Scopes()
    for key in ("a", "b", "c"):
        scopes.keyed("x", key)["v"] = key
    assert scopes.keyed("x", "a") == {}  # the least recently used went first
    assert scopes.keyed("x", "c") == {"v": "c"}


async def test_jobs_run_periodically_one_failing_never_stops_the_others_and_stop_on_close() -> None:
    router = Router(name="jobs")
    ran: list[str] = []

    @router.every(0.05, first=0.0)
    async def tick(job: JobContext) -> None:
        ran.append("tick")
        job.state["ticks"] = job.runs + 1

    @router.every(0.05, first=0.0, name="broken")
    def broken(job: JobContext) -> None:
        ran.append("broken")
        raise RuntimeError("boom")

    dispatcher = bot(router).attach()
    await asyncio.sleep(0.22)
    await dispatcher.close()
    ticks = ran.count("tick")
    assert ticks >= 3 and ran.count("broken") >= 3
    assert dispatcher.scheduler.failures == ran.count("broken")
    await asyncio.sleep(0.1)
    assert ran.count("tick") == ticks  # stopped with the dispatcher
    assert dispatcher.scopes.get(("router", "jobs"))["ticks"] == ticks


async def test_jobs_skip_runs_while_disconnected() -> None:
    router = Router(name="offline")
    ran: list[int] = []

    @router.every(0.02, first=0.0)
    async def tick(job: JobContext) -> None:
        ran.append(1)

    client = FakeClient()
    client.connected = False  # type: ignore[attr-defined]
    dispatcher = bot(router, client=client).attach()
    await asyncio.sleep(0.08)
    await dispatcher.close()
    assert ran == []


async def test_a_failing_command_gets_the_error_reply_and_is_still_counted() -> None:
    router = Router(name="fragile")

    @router.command("boom")
    async def boom(ctx: Context) -> None:
        raise ValueError("secret detail")

    dispatcher = bot(router)
    await dispatcher.process(received("!boom"))
    assert texts(dispatcher.client) == ["Sorry, that command failed."]  # type: ignore[arg-type]
    assert dispatcher.failures == 1
    quiet = bot(router, error_reply=None)
    await quiet.process(received("!boom"))
    assert texts(quiet.client) == []  # type: ignore[arg-type]


async def test_id_answers_chat_and_sender_with_phone_number_and_lid() -> None:
    client = FakeClient()
    dispatcher = bot(client=client)
    event = replace(received("!id", "1-2@g.us", sender="100000000000009:4@lid", group=True),
                    sender_alt=JID.parse("15550009999@s.whatsapp.net"))
    await dispatcher.process(event)
    await dispatcher.process(received("!id", "15550001111@s.whatsapp.net", sender="15550001111@s.whatsapp.net"))
    group, private = texts(client)
    assert group.splitlines() == ["chat: 1-2@g.us", "sender: 100000000000009@lid (device 4)",
                                  "  (phone +15550009999, LID 100000000000009@lid)"]
    assert private.splitlines() == ["chat: 15550001111@s.whatsapp.net", "  (phone +15550001111, LID unknown)",
                                    "sender: 15550001111@s.whatsapp.net", "  (phone +15550001111, LID unknown)"]


async def test_status_says_connected_uptime_and_calls_and_plugins_may_replace_id_and_status() -> None:
    client = FakeClient()
    client.connected = True  # type: ignore[attr-defined]
    dispatcher = bot(client=client)
    await dispatcher.process(received("!status"))
    assert re.fullmatch(r"connected; up \d+s; \d+ handler calls, 0 failed", texts(client)[0])

    own = Router(name="mine")

    @own.command("id")
    async def my_id(ctx: Context) -> None:
        await ctx.reply("mine")

    other = FakeClient()
    replaced = bot(own, client=other)
    await replaced.process(received("!id"))
    await replaced.process(received("!status"))
    assert texts(other)[0] == "mine" and texts(other)[1].startswith("not connected; up ")


async def test_every_ignored_message_is_logged_at_debug_with_why() -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(f"{m.record['level'].name} {m.record['message']}"), level="DEBUG")
    try:
        router = Router(name="guarded")

        @router.command("secret", F.group)
        async def secret(ctx: Context) -> None:
            await ctx.reply("ok")

        dispatcher = bot(router)
        for event in (received("!ping", from_me=True, message_id="own"), received("!secret", message_id="filtered"),
                      received("!nope", message_id="unknown"), received("hello", message_id="chatter"),
                      received(None, message_id="empty"), received("!id", message_id="answered")):
            await dispatcher.process(event)
    finally:
        logger.remove(sink)
    ignored = {line.split()[2]: line for line in lines if line.startswith("DEBUG message ") and " ignored: " in line}
    assert sorted(ignored) == ["chatter", "empty", "filtered", "own", "unknown"]
    assert "sent from this account" in ignored["own"] and "refused by its filters" in ignored["filtered"]
    assert "'!nope' is not a known command" in ignored["unknown"] and "no text" in ignored["empty"]
