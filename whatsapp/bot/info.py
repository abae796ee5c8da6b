"""The built-in `!id` and `!status`: what a bot author asks first when writing F.owner rules or a deploy check.

- `!id`: the chat's id and the sender's, each with the phone-number (PN) and LID forms when known. A sender
  appears as a LID (`...@lid`) in most groups and as a PN in older chats; the alternative address the server
  sends along (`sender_alt`) gives the other form, so the owner can copy whichever OWNER_NUMBERS needs.
- `!status`: connected or not, the process's uptime, handler calls and failures: the health page in a chat.

`install` (whatsapp/bot/builtins.py) includes them unless a plugin has a command of the same name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from whatsapp.bot.context import Context
from whatsapp.bot.router import Router
from whatsapp.jid import JID

if TYPE_CHECKING:
    from whatsapp.bot.dispatcher import Dispatcher


def duration(seconds: float) -> str:
    """`3d 4h 5m`, `12m 30s`, `42s`."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _forms(*addresses: JID | None) -> str:
    pn = next((a for a in addresses if a is not None and a.is_pn), None)
    lid = next((a for a in addresses if a is not None and a.is_lid), None)
    return (f"phone {'+' + pn.user if pn else 'unknown'}, "
            f"LID {lid.user + '@lid' if lid else 'unknown'}")


def id_text(ctx: Context) -> str:
    event = ctx.event
    sender = event.sender.to_non_ad()
    alt = event.sender_alt.to_non_ad() if event.sender_alt is not None else None
    lines = [f"chat: {event.chat.to_non_ad()}"]
    if not event.is_group:  # a one-to-one chat is the other user's (or our own): the sender's forms apply
        same = event.chat.to_non_ad() in (sender, alt)
        lines.append(f"  ({_forms(event.chat, *(sender, alt) if same else ())})")
    lines.append(f"sender: {sender}" + (f" (device {event.sender.device})" if event.sender.device else ""))
    lines.append(f"  ({_forms(sender, alt)})")
    return "\n".join(lines)


def status_text(dispatcher: Dispatcher, started: float, clock: Callable[[], float] = time.monotonic) -> str:
    connected = getattr(dispatcher.client, "connected", False)
    return (f"{'connected' if connected else 'not connected'}; up {duration(clock() - started)}; "
            f"{dispatcher.dispatched} handler calls, {dispatcher.failures} failed")


def info_router(dispatcher: Dispatcher, taken: set[str]) -> Router:
    router = Router(name="info")
    started = time.monotonic()

    if "id" not in taken:
        @router.command("id")
        async def show_id(ctx: Context) -> None:
            """The chat's and your ids (phone number and LID): what OWNER_NUMBERS and filters use."""
            await ctx.reply(id_text(ctx))

    if "status" not in taken:
        @router.command("status")
        async def show_status(ctx: Context) -> None:
            """Whether the bot is connected, how long it has been up, handler calls and failures."""
            await ctx.reply(status_text(dispatcher, started))

    return router
