"""`!uptime`: how long the connection has been open; and one log line per connection with its duration."""

from __future__ import annotations

import time

from loguru import logger

from whatsapp import events
from whatsapp.bot import Context, EventContext, Router
from whatsapp.bot.info import duration

router = Router(name="uptime")

OPENED_AT = "opened_at"  # key in ctx.state (per bot): time.monotonic() at the last Connected


format_duration = duration  # `3d 4h 5m`, `12m 30s`, `42s`: the same wording as !status


@router.on(events.Connected)
def connection_opened(ctx: EventContext[events.Connected]) -> None:
    ctx.state[OPENED_AT] = time.monotonic()


@router.on(events.Disconnected)
def connection_closed(ctx: EventContext[events.Disconnected]) -> None:
    opened_at = ctx.state.pop(OPENED_AT, None)
    if isinstance(opened_at, float):
        logger.info("connection was open for {:.0f}s", time.monotonic() - opened_at)


@router.command("uptime")
async def uptime(ctx: Context) -> None:
    """How long the bot has been connected."""
    opened_at = ctx.state.get(OPENED_AT)
    if isinstance(opened_at, float):
        await ctx.reply(f"connected for {format_duration(time.monotonic() - opened_at)}")
    else:
        await ctx.reply("not connected")  # a backlog command answered before Connected was handled
