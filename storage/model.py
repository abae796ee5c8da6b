"""The storage-side records shared by both copies: a unit of work (`Change`) and a whole session (`Snapshot`)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from storage.errors import StorageError

KeyRef = tuple[str, str]  # (KeyType value, key id)

SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


def new_change_id() -> str:
    return uuid.uuid4().hex[:16]


def check_session_id(session_id: str) -> str:
    if not SESSION_ID_PATTERN.match(session_id):
        raise StorageError(
            f"session id {session_id!r} is not allowed: use 1-64 letters, digits, '_', '-' or '.', not starting "
            "with '.' or '-'"
        )
    return session_id


@dataclass
class Change:
    """One unit of work as it is journaled, replayed and sent to MongoDB.

    `version` numbers the session's history (one per change, never reused) and decides which copy is
    newer; `lineage` names the history itself, so copies of two different pairings are never compared
    by version; `parent` must be the id of the change the copy holds last. A `reset` change replaces
    everything: keys it does not list are gone, and `creds=None` with `reset` means logged out.
    """

    version: int
    lineage: str
    creds: dict[str, Any] | None = field(default=None, repr=False)  # secrets: never in a log line
    keys: dict[KeyRef, bytes | None] = field(default_factory=dict, repr=False)
    reset: bool = False
    # Each change has a random id and names its parent, so a copy can tell whether another copy's
    # history continues its own or forked from it (same version numbers, different changes).
    id: str = field(default_factory=new_change_id)
    parent: str = ""


@dataclass
class Snapshot:
    """A whole session as one copy holds it."""

    lineage: str
    version: int
    creds: dict[str, Any] | None = field(repr=False)  # secrets: never in a log line
    keys: dict[KeyRef, bytes] = field(default_factory=dict, repr=False)
    head: str = ""  # id of the last change applied

    def apply(self, change: Change) -> None:
        if change.reset:
            self.keys = {}
            self.creds = change.creds
        elif change.creds is not None:
            self.creds = change.creds
        for ref, value in change.keys.items():
            if value is None:
                self.keys.pop(ref, None)
            else:
                self.keys[ref] = value
        self.version = change.version
        self.lineage = change.lineage
        self.head = change.id

    def as_change(self) -> Change:
        """The whole snapshot as a reset change (used to rewrite a stale copy in one unit)."""
        if not self.head:
            self.head = new_change_id()
        return Change(
            version=self.version, lineage=self.lineage, creds=self.creds, keys=dict(self.keys), reset=True, id=self.head
        )
