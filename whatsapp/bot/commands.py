"""Finding the command in a message's text: a pure function over the text, the command table and the prefixes.

A command is `<prefix><name> [args...]`, the name case-insensitive. The bot's prefixes apply to every
command unless the command brings its own (`prefixes=("/",)`): then only those reach it. The longest
prefix is tried first, so "!!" and "!" can coexist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from whatsapp.bot.router import CommandRoute


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    route: CommandRoute
    name: str  # as typed, lower case (a name or an alias)
    args: tuple[str, ...]
    prefix: str


def parse_command(
    text: str | None, table: Mapping[str, CommandRoute], prefixes: Sequence[str]
) -> ParsedCommand | None:
    if not text:
        return None
    stripped = text.strip()
    own = {p for route in table.values() if route.prefixes for p in route.prefixes}
    for prefix in sorted({*prefixes, *own}, key=len, reverse=True):
        if not prefix or not stripped.startswith(prefix):
            continue
        parts = stripped[len(prefix):].split()
        if not parts:
            continue
        name = parts[0].lower()
        route = table.get(name)
        if route is None:
            continue
        allowed = route.prefixes if route.prefixes is not None else prefixes
        if prefix in allowed:
            return ParsedCommand(route, name, tuple(parts[1:]), prefix)
    return None
