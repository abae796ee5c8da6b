"""`!ping` → `pong` (a quoted reply): the smallest useful command, and a liveness check for the bot."""

from __future__ import annotations

from plugins import Context, command


@command("ping", aliases=["p"])
async def ping(ctx: Context) -> None:
    await ctx.reply("pong")
