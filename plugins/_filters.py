"""Composable message filters: `F.text & F.group`, `F.private | F.regex(r"^hi")`, `~F.from_me`.

A filter is a predicate over a received message (`whatsapp.messages.MessageReceived`); the operators
build new filters, so plugin code reads like aiogram's magic filter without its machinery.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


class Filter:
    def __init__(self, check: Callable[[Any], bool], name: str) -> None:
        self._check = check
        self.name = name

    def __call__(self, message: Any) -> bool:
        return bool(self._check(message))

    def __and__(self, other: Filter) -> Filter:
        return Filter(lambda m: self(m) and other(m), f"({self.name} & {other.name})")

    def __or__(self, other: Filter) -> Filter:
        return Filter(lambda m: self(m) or other(m), f"({self.name} | {other.name})")

    def __invert__(self) -> Filter:
        return Filter(lambda m: not self(m), f"~{self.name}")

    def __repr__(self) -> str:
        return f"Filter({self.name})"


class _Filters:
    """The `F` namespace."""

    text = Filter(lambda m: bool(m.text), "text")
    group = Filter(lambda m: m.is_group, "group")
    private = Filter(lambda m: not m.is_group, "private")
    from_me = Filter(lambda m: m.from_me, "from_me")
    offline = Filter(lambda m: m.offline, "offline")

    @staticmethod
    def regex(pattern: str | re.Pattern[str], flags: int = 0) -> Filter:
        compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        return Filter(lambda m: m.text is not None and compiled.search(m.text) is not None,
                      f"regex({compiled.pattern!r})")

    @staticmethod
    def chat(*jids: str) -> Filter:
        wanted = set(jids)
        return Filter(lambda m: str(m.chat) in wanted, f"chat({', '.join(sorted(wanted))})")

    @staticmethod
    def func(predicate: Callable[[Any], bool]) -> Filter:
        return Filter(predicate, getattr(predicate, "__name__", "func"))


F = _Filters()
