"""App-state changes as events (whatsapp/appstate.py): what the account's other devices changed in the
collections our phone shares with us. Re-exported by whatsapp/events.py."""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp.event_base import Event
from whatsapp.jid import JID


@dataclass(frozen=True, slots=True)
class ContactUpdated(Event):
    """A contact's name in the account's address book (contactAction); `removed` when it was deleted."""

    jid: JID
    full_name: str | None
    first_name: str | None
    removed: bool = False
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class ChatSettingChanged(Event):
    """A chat pinned, muted or archived (or undone) on one of the account's devices.

    `setting` is "pin", "mute" or "archive"; `mute_end` the mute's end in ms (-1: always) when muted."""

    chat: JID
    setting: str
    value: bool
    mute_end: int | None = None
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class AppStateSynced(Event):
    """A collection was brought to `version` (every patch verified)."""

    collection: str
    version: int
    mutations: int
