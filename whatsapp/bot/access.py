"""Who may run a command: `F.owner` and `F.admin`, filters that need to know the bot, not only the message.

    @router.command("restart", F.owner)          # the account itself, or a number in OWNER_NUMBERS
    @router.command("kick", F.group & F.admin)   # a group admin (from the group's metadata)

A filter is called with the event alone, so `bind` (an outer middleware that `install` puts on the
Dispatcher, whatsapp/bot/builtins.py) makes the message's context current for the filters below it.
Owner: a message sent from this account (`from_me`), or whose sender's phone number (or its PN
alternative, for a LID sender) is one of the owners. Admin: the sender is an admin of the group in
`client.group_metadata` (cached by the client, so most checks cost no request); a failing lookup is
"not an admin", logged at DEBUG.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar

from loguru import logger

from whatsapp.bot.context import EventContext
from whatsapp.bot.filters import Filter
from whatsapp.errors import WhatsAppError
from whatsapp.events import Event, MessageReceived
from whatsapp.jid import JID

SETTINGS = "whatsapp.bot.access"  # owner of the settings dict in the Dispatcher's scopes
_current: ContextVar[EventContext[Event] | None] = ContextVar("whatsapp_bot_context", default=None)


def set_owners(settings: dict[str, object], owners: Iterable[str]) -> None:
    """Store the owners' phone numbers in a Dispatcher's access settings (`scopes.get(SETTINGS)`)."""
    settings["owners"] = frozenset(n.removeprefix("+") for n in owners)


async def bind(handler: Callable[[EventContext[Event]], Awaitable[None]], ctx: EventContext[Event]) -> None:
    """Outer middleware: the filters of this update (and of every router below) see `ctx` as current."""
    token = _current.set(ctx)
    try:
        await handler(ctx)
    finally:
        _current.reset(token)


def _owners(ctx: EventContext[Event] | None) -> frozenset[str]:
    if ctx is None:
        return frozenset()
    owners = ctx.scopes.get(SETTINGS).get("owners")
    return owners if isinstance(owners, frozenset) else frozenset()


def is_owner(event: MessageReceived, owners: frozenset[str]) -> bool:
    if event.from_me:
        return True
    addresses = (event.sender, event.sender_alt)
    numbers = {jid.user for jid in addresses if jid is not None and jid.server == "s.whatsapp.net"}
    return bool(numbers & owners)


def _owner_check(event: object) -> bool:
    return isinstance(event, MessageReceived) and is_owner(event, _owners(_current.get()))


def _same_user(a: JID | None, b: JID) -> bool:
    return a is not None and a.user == b.user and a.server == b.server


async def _admin_check(event: object) -> bool:
    ctx = _current.get()
    if not isinstance(event, MessageReceived) or not event.is_group or ctx is None:
        return False
    try:
        info = await ctx.client.group_metadata(event.chat)
    except (WhatsAppError, OSError) as exc:
        logger.debug("F.admin: metadata of {} not available: {}", event.chat, exc)
        return False
    senders = [event.sender.to_non_ad(), *([event.sender_alt.to_non_ad()] if event.sender_alt else [])]
    return any(member.admin and any(_same_user(address, sender) for address in (member.jid, member.phone_number,
                                                                                   member.lid) for sender in senders)
               for member in info.members)


OWNER = Filter(_owner_check, "owner")
ADMIN = Filter(_admin_check, "admin")
