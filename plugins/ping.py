"""`!ping` → `pong` (a quoted reply): the smallest useful command, and a liveness check for the bot."""

from __future__ import annotations

from whatsapp.bot import Context, Router

router = Router(name="ping")


@router.command("ping", aliases=["p"])
async def ping(ctx: Context) -> None:
    """Answers pong: the bot is alive."""
    await ctx.reply("pong")
