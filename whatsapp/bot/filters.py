"""Filters: aiogram-style magic `F`, combined with `&`, `|` and `~`.

    F.text                               # the message has text
    F.group & F.regex(r"https?://")      # a link posted in a group
    F.private & ~F.offline               # a live message in a one-to-one chat
    F.text.lower() == "hi"               # a value at a path, compared
    F.sender.user.in_({"15551234567"})   # ... or tested for membership
    F.push_name.func(lambda name: name is not None and len(name) > 20)

`F.<attribute>` names a value of the event (a `MessageReceived` for commands and message handlers,
the event itself for `router.on`); as a filter it passes when that value is truthy. A path through
a missing attribute or a None is "missing": it fails every test, so `F.sender_alt.user == "1"` on a
message without `sender_alt` is simply False. A JID compares equal to its string form.

Predicates given to `.func` may be async; then the filter is awaited (filters always are). Use `&`,
`|` and `~`, never `and`/`or`/`not`: those would silently keep one operand, so `bool(filter)` raises.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Collection
from typing import TypeVar

from whatsapp.jid import JID

T = TypeVar("T")


class _Missing:
    """The value of a path through an absent attribute or a None."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


class Filter:
    """A predicate over an event; `await filter(event)` says whether a handler wants it."""

    __slots__ = ("_check", "_label")

    def __init__(self, check: Callable[[object], object], label: str) -> None:
        self._check = check
        self._label = label

    async def __call__(self, event: object) -> bool:
        result = self._check(event)
        if inspect.isawaitable(result):
            result = await result
        return bool(result)

    def __and__(self, other: Filter) -> Filter:
        async def both(event: object) -> bool:
            return await self(event) and await other(event)

        return Filter(both, f"({self._label} & {other._label})")

    def __or__(self, other: Filter) -> Filter:
        async def either(event: object) -> bool:
            return await self(event) or await other(event)

        return Filter(either, f"({self._label} | {other._label})")

    def __invert__(self) -> Filter:
        async def negated(event: object) -> bool:
            return not await self(event)

        return Filter(negated, f"~{self._label}")

    def __bool__(self) -> bool:
        raise TypeError("combine filters with &, | and ~ (and/or/not would silently keep one side)")

    def __repr__(self) -> str:
        return f"Filter({self._label})"


def describe(message_filter: Filter) -> str:
    """The filter as written (`(text & group)`), for log lines."""
    return message_filter._label


def _attribute(value: object, name: str) -> object:
    if value is MISSING or value is None:
        return MISSING
    return getattr(value, name, MISSING)


def _comparable(value: object, other: object) -> object:
    # A JID is a dataclass; people write its string form (`F.chat == "123@g.us"`).
    if isinstance(value, JID) and isinstance(other, str):
        return str(value)
    return value


class MagicFilter(Filter):
    """A value at an attribute path of the event (`F.sender.user`), usable as a filter or compared."""

    __slots__ = ("_resolve",)

    def __init__(self, resolve: Callable[[object], object], label: str) -> None:
        self._resolve = resolve
        super().__init__(lambda event: _truthy(resolve(event)), label)

    def __getattr__(self, name: str) -> MagicFilter:
        if name.startswith("_"):  # copy/pickle probes and our own slots: never a path
            raise AttributeError(name)
        resolve = self._resolve
        return MagicFilter(lambda event: _attribute(resolve(event), name), f"{self._label}.{name}")

    def _test(self, label: str, test: Callable[[object], object]) -> Filter:
        resolve = self._resolve

        def check(event: object) -> object:
            value = resolve(event)
            if value is MISSING:
                return False
            try:
                return test(value)
            except (TypeError, ValueError):  # comparing a str with an int and the like: no match
                return False

        return Filter(check, f"{self._label}{label}")

    # Comparisons build filters (as SQLAlchemy columns and aiogram's F do), hence the overrides.
    def __eq__(self, other: object) -> Filter:  # type: ignore[override]  # returns a filter, by design
        return self._test(f" == {other!r}", lambda v: _comparable(v, other) == other)

    def __ne__(self, other: object) -> Filter:  # type: ignore[override]  # returns a filter, by design
        return ~(self == other)

    __hash__ = None  # type: ignore[assignment]  # == builds a filter: a MagicFilter is no dict key

    def __lt__(self, other: object) -> Filter:
        return self._test(f" < {other!r}", lambda v: v < other)  # type: ignore[operator]  # any value

    def __le__(self, other: object) -> Filter:
        return self._test(f" <= {other!r}", lambda v: v <= other)  # type: ignore[operator]  # any value

    def __gt__(self, other: object) -> Filter:
        return self._test(f" > {other!r}", lambda v: v > other)  # type: ignore[operator]  # any value

    def __ge__(self, other: object) -> Filter:
        return self._test(f" >= {other!r}", lambda v: v >= other)  # type: ignore[operator]  # any value

    def in_(self, values: Collection[object]) -> Filter:
        """The value is one of `values` (a JID matches its string form too)."""
        wanted = tuple(values)
        return self._test(f".in_({wanted!r})", lambda v: v in wanted or _comparable(v, "") in wanted)

    def contains(self, item: object) -> Filter:
        return self._test(f".contains({item!r})", lambda v: item in v)  # type: ignore[operator]  # any value

    def startswith(self, prefix: str) -> Filter:
        return self._test(f".startswith({prefix!r})", lambda v: isinstance(v, str) and v.startswith(prefix))

    def endswith(self, suffix: str) -> Filter:
        return self._test(f".endswith({suffix!r})", lambda v: isinstance(v, str) and v.endswith(suffix))

    def regex(self, pattern: str | re.Pattern[str], flags: int = 0) -> Filter:
        """The value is a string in which `pattern` is found (`re.search`)."""
        compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        return self._test(f".regex({compiled.pattern!r})",
                          lambda v: isinstance(v, str) and compiled.search(v) is not None)

    def func(self, predicate: Callable[[T], object]) -> Filter:
        """`predicate(value)` is truthy; it may be a coroutine function."""
        label = f".func({getattr(predicate, '__name__', 'predicate')})"
        resolve = self._resolve

        async def check(event: object) -> bool:
            value = resolve(event)
            if value is MISSING:
                return False
            result = predicate(value)  # type: ignore[arg-type]  # the value's type is the caller's claim
            if inspect.isawaitable(result):
                result = await result
            return bool(result)

        return Filter(check, f"{self._label}{label}")

    def lower(self) -> MagicFilter:
        """The value in lower case (`F.text.lower() == "hi"`); missing when it is not a string."""
        resolve = self._resolve

        def lowered(event: object) -> object:
            value = resolve(event)
            return value.lower() if isinstance(value, str) else MISSING

        return MagicFilter(lowered, f"{self._label}.lower()")


def _truthy(value: object) -> bool:
    return value is not MISSING and bool(value)


def _chat_kind(kind: str, label: str) -> Filter:
    """The event's chat is of a kind (a boolean property of JID: is_group, is_user, ...)."""

    def check(event: object) -> bool:
        chat = getattr(event, "chat", None)
        return isinstance(chat, JID) and bool(getattr(chat, kind))

    return Filter(check, label)


class _Root(MagicFilter):
    """`F`: the event itself, plus the chat kinds and a text regex."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(lambda event: event, "F")

    @property
    def group(self) -> Filter:
        """In a group chat."""
        return _chat_kind("is_group", "group")

    @property
    def private(self) -> Filter:
        """In a one-to-one chat with a user (not a group, status, broadcast list or channel)."""
        return _chat_kind("is_user", "private")

    @property
    def status(self) -> Filter:
        """A status update (status@broadcast)."""
        return _chat_kind("is_status_broadcast", "status")

    @property
    def broadcast(self) -> Filter:
        """Sent to a broadcast list."""
        return _chat_kind("is_broadcast_list", "broadcast")

    @property
    def newsletter(self) -> Filter:
        """In a channel (newsletter)."""
        return _chat_kind("is_newsletter", "newsletter")

    def regex(self, pattern: str | re.Pattern[str], flags: int = 0) -> Filter:
        """The message text matches `pattern` (`re.search`)."""
        return self.text.regex(pattern, flags)

    @property
    def owner(self) -> Filter:
        """Sent by this account or an OWNER_NUMBERS number (whatsapp/bot/access.py)."""
        from whatsapp.bot.access import OWNER  # access builds on Filter: imported when first asked for

        return OWNER

    @property
    def admin(self) -> Filter:
        """Sent by an admin of the group (whatsapp/bot/access.py)."""
        from whatsapp.bot.access import ADMIN

        return ADMIN


F = _Root()
