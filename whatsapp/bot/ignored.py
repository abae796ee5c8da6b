"""Why a message got no handler, at DEBUG: "my bot ignores me" is the first question, and the answer
should be in the log, not in the source ("!ping from my own phone", a typo in a command, a filter).

Two middlewares of the Dispatcher's root, installed by `install`: the inner one marks the message's
context when any command or message handler runs; the outer one, after the routers, writes one DEBUG
line for a message nobody handled, with the likeliest reason. The mark lives in `ctx.data`, which every
router's copy of the context shares, so concurrent chats never mix their marks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from loguru import logger

from whatsapp.bot.context import Context

if TYPE_CHECKING:
    from whatsapp.bot.dispatcher import Dispatcher

HANDLED = "whatsapp.bot.ignored:handled"


async def mark_handled(handler: Callable[[Context], Awaitable[None]], ctx: Context) -> None:
    ctx.data[HANDLED] = True
    await handler(ctx)


def reason(dispatcher: Dispatcher, ctx: Context) -> str:
    event = ctx.event
    if event.from_me:
        return ("sent from this account: own messages reach only handlers with include_own=True (and, with "
                "BOT_SELF_COMMANDS, commands in 'Message yourself')")
    if ctx.command is not None:
        return f"the command {ctx.command!r} was refused by its filters or is too old (stale)"
    text = (event.text or "").strip()
    if not text:
        return "no text (media, reaction, protocol message) and no message handler took it"
    if any(text.startswith(prefix) for prefix in dispatcher.prefixes):
        return f"{text.split()[0]!r} is not a known command"
    return "not a command, and no message handler's filters matched"


def explain_ignored(dispatcher: Dispatcher) -> Callable[[Callable[[Context], Awaitable[None]], Context],
                                                       Awaitable[None]]:
    async def explain(handler: Callable[[Context], Awaitable[None]], ctx: Context) -> None:
        await handler(ctx)
        if not ctx.data.get(HANDLED):
            logger.debug("message {} in {} ignored: {}", ctx.event.id, ctx.event.chat, reason(dispatcher, ctx))

    return explain


def install_explanations(dispatcher: Dispatcher) -> None:
    dispatcher.message.middleware(mark_handled)
    dispatcher.message.outer_middleware(explain_ignored(dispatcher))
