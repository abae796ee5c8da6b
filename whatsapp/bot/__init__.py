"""The bot framework: routers, filters, middlewares and a dispatcher over `whatsapp.Client`, aiogram-3 style.

    # plugins/hello.py
    from whatsapp.bot import Context, F, Router

    router = Router()

    @router.command("hello", aliases=["hi"])     # "!hello world" -> ctx.args == ["world"]
    async def hello(ctx: Context) -> None:
        # the first docstring line is the command's help text
        await ctx.reply("hello!")

`bot.py` finds the plugins (`load_plugins("plugins")`), includes their routers in a `Dispatcher`
and attaches it to the client. Public names:

- `Router`: declares commands (`@router.command`), message handlers (`@router.message(F...)`),
  event handlers (`@router.on(EventType)`), middlewares (`router.message.middleware(...)`) and
  sub-routers (`router.include_router(...)`).
- `Dispatcher`: the root router that runs them for one client (per-chat order, bounded concurrency,
  timeouts, isolation, graceful `drain`/`close`).
- `F`, `Filter`, `MagicFilter`: filters combined with `&`, `|`, `~`.
- `Context` (commands and messages), `EventContext` (other events): what a handler gets.
- `Middleware`, `Timing`, `Cooldown`: code around handlers, and two built-in ones.
- `install`: `!help` (`help_text`), `!id`, `!status`, F.owner/F.admin (`OWNER_NUMBERS`), `ErrorReply` (BOT_ERROR_REPLY);
  `@router.every(seconds)` and `@router.cron("0 9 * * 1-5")` jobs get a `JobContext`;
  `ctx.chat_state`/`ctx.user_state` are bounded per-chat/user dicts.
- `load_plugins`, `Plugin`: discovery of a package's plugin modules; `reload_plugins` (SIGHUP) loads them anew.
- `CommandRoute`, `MessageRoute`, `EventRoute`, `ParsedCommand`, `parse_command`: the records behind
  the decorators (for a help command or tests).
"""

from whatsapp.bot.builtins import ErrorReply, help_text, install
from whatsapp.bot.commands import ParsedCommand, parse_command
from whatsapp.bot.context import Context, EventContext, Scopes
from whatsapp.bot.dispatcher import Dispatcher
from whatsapp.bot.filters import F, Filter, MagicFilter
from whatsapp.bot.loader import Plugin, load_plugins
from whatsapp.bot.middleware import Cooldown, Middleware, Timing
from whatsapp.bot.reload import reload_plugins
from whatsapp.bot.router import CommandRoute, EventRoute, MessageRoute, Router
from whatsapp.bot.schedule import JobContext

__all__ = [
    "CommandRoute",
    "Context",
    "Cooldown",
    "Dispatcher",
    "ErrorReply",
    "EventContext",
    "EventRoute",
    "F",
    "Filter",
    "JobContext",
    "MagicFilter",
    "MessageRoute",
    "Middleware",
    "ParsedCommand",
    "Plugin",
    "Router",
    "Scopes",
    "Timing",
    "help_text",
    "install",
    "load_plugins",
    "parse_command",
    "reload_plugins",
]
