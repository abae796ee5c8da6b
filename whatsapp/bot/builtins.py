"""What a bot gets besides its plugins: `!help`, `!id` and `!status` (whatsapp/bot/info.py), F.owner/F.admin's
binding, and a reply when a command fails.

    install(dispatcher, owners=["15551234567"], error_reply="Sorry, that command failed.")

- `!help` lists every command with the first line of its docstring; `!help NAME` shows the whole docstring
  and the aliases. It is generated from the routers at each call (a reloaded plugin shows at once), and
  installed only when no plugin has a `help` command of its own.
- F.owner and F.admin (whatsapp/bot/access.py) need the message's context: `install` binds it.
- `state_store`: ctx.chat_state and ctx.user_state kept in that auth state (whatsapp/bot/persist.py).
- `error_reply`: a command whose handler raises gets this short answer (never the exception's text, which
  may say more than a contact should read); the failure is still logged and counted by the Dispatcher.
  None sends nothing. A handler that times out is cancelled, so it gets no answer either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from loguru import logger

from whatsapp.auth import AuthState
from whatsapp.bot.access import SETTINGS, bind, set_owners
from whatsapp.bot.context import Context
from whatsapp.bot.ignored import install_explanations
from whatsapp.bot.info import info_router
from whatsapp.bot.persist import PersistentState
from whatsapp.bot.router import CommandRoute, Router
from whatsapp.errors import WhatsAppError

if TYPE_CHECKING:
    from whatsapp.bot.dispatcher import Dispatcher

DEFAULT_ERROR_REPLY = "Sorry, that command failed."


class ErrorReply:
    """Inner middleware: a short reply in the chat when a command's handler raises; the error goes on."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def __call__(self, handler: Callable[[Context], Awaitable[None]], ctx: Context) -> None:
        try:
            await handler(ctx)
        except asyncio.CancelledError:
            raise
        except Exception:
            if ctx.command is not None:
                try:
                    await ctx.reply(self.text)
                except (WhatsAppError, OSError) as exc:  # the failure itself is what gets logged
                    logger.debug("message {}: error reply not sent: {}", ctx.event.id, exc)
            raise


def _prefix(dispatcher: Dispatcher, route: CommandRoute) -> str:
    prefixes = route.prefixes if route.prefixes is not None else dispatcher.prefixes
    return prefixes[0] if prefixes else ""


def help_text(dispatcher: Dispatcher, name: str | None = None) -> str:
    """The text of `!help` (every command, one line each) or of `!help NAME`."""
    table: dict[str, CommandRoute] = {}
    for _, route in dispatcher.command_routes():
        for command in route.names:
            table.setdefault(command, route)  # the router included first owns a name, as in dispatching
    if name is not None:
        wanted = table.get(name.lower().lstrip("".join(dispatcher.prefixes)))
        if wanted is None:
            return f"No command {name!r}. {dispatcher.prefixes[0] if dispatcher.prefixes else ''}help lists them."
        doc = (wanted.callback.__doc__ or "").strip() or "(no description)"
        aliases = f"\nAliases: {', '.join(wanted.aliases)}" if wanted.aliases else ""
        return f"{_prefix(dispatcher, wanted)}{wanted.name}: {doc}{aliases}"
    seen: list[CommandRoute] = []
    for route in table.values():
        if route not in seen:
            seen.append(route)
    lines = [f"{_prefix(dispatcher, r)}{r.name}" + (f" — {r.description}" if r.description else "")
             for r in sorted(seen, key=lambda r: r.name)]
    return "Commands:\n" + "\n".join(lines)


def help_router(dispatcher: Dispatcher) -> Router:
    router = Router(name="help")

    @router.command("help")
    async def show_help(ctx: Context) -> None:
        """Lists the commands; `help NAME` describes one."""
        await ctx.reply(help_text(dispatcher, ctx.args[0] if ctx.args else None))

    return router


def install(dispatcher: Dispatcher, *, owners: Iterable[str] = (), error_reply: str | None = DEFAULT_ERROR_REPLY,
            with_help: bool = True, state_store: AuthState | None = None) -> Dispatcher:
    """Owners for F.owner, the context binding for F.owner/F.admin, the error reply, `!help`, `!id`, `!status`."""
    set_owners(dispatcher.scopes.get(SETTINGS), owners)
    dispatcher.message.outer_middleware(bind)  # type: ignore[arg-type]  # a Context is an EventContext
    dispatcher.event.outer_middleware(bind)
    install_explanations(dispatcher)  # a DEBUG line for each message no handler took, with why
    if state_store is not None:  # ctx.chat_state / ctx.user_state in the session store (whatsapp/bot/persist.py)
        dispatcher.message.outer_middleware(PersistentState(state_store))
    if error_reply is not None:
        dispatcher.message.middleware(ErrorReply(error_reply))
    taken = {name for _, route in dispatcher.command_routes() for name in route.names}
    if with_help and "help" not in taken:
        dispatcher.include_router(help_router(dispatcher))
    if with_help and not {"id", "status"} <= taken:  # `!id`, `!status` (whatsapp/bot/info.py), unless a plugin's
        dispatcher.include_router(info_router(dispatcher, taken))
    return dispatcher
