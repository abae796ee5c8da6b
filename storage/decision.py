"""Which copy of the session wins at start-up, and what must be repaired: a pure function of the two loads.

The store reads the folder and MongoDB (storage/session.py), summarises each as a view, and asks
`decide()`; the same decision is taken again under the folder lock and the lease, from fresh loads
(docs/storage.md, "The load decision"). No I/O here, so every combination is tested exhaustively
(tests/test_storage_decision.py).

The rules, in order:

1. A damaged folder (it does not load) is healed from MongoDB when MongoDB holds the session: the
   damaged files are moved aside and the folder is rebuilt. Without a MongoDB copy that answers, the
   store never guesses: it waits for MongoDB when one is configured, else refuses.
2. A folder that lost the session to another process (`superseded`) is never a source.
3. Without MongoDB configured, the folder is the session (or there is none: a new pairing).
4. MongoDB configured but unreachable: a usable folder starts the bot (MongoDB is brought up to date
   when it answers); without one the store waits for MongoDB rather than pair over a stored session.
5. Both readable: MongoDB is the source of truth, unless the folder's history provably continues
   MongoDB's (same lineage, further on, and the folder's journal holds the change right after
   MongoDB's last one, made on top of it): then the folder's extra changes are the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class CopyHead:
    """Where one copy's history stands: which pairing history (lineage), how far, which change last."""

    lineage: str
    version: int
    head: str  # id of the last change applied


@dataclass(frozen=True)
class JournalLink:
    """One folder journal entry, as far as history is concerned."""

    version: int
    lineage: str
    id: str
    parent: str


@dataclass(frozen=True)
class FolderView:
    head: CopyHead | None  # None: the folder holds no session
    journal: tuple[JournalLink, ...] = ()
    superseded: bool = False
    damage: str | None = None  # why the folder does not load (head is then None)
    encryption_matches: bool = True  # False: the folder must be rewritten with the configured key


@dataclass(frozen=True)
class MongoView:
    configured: bool
    reached: bool = False
    head: CopyHead | None = None  # None: MongoDB holds no session (or was not reached)


class Action(StrEnum):
    LOAD = "load"
    WAIT = "wait"  # wait for MongoDB: there is no safe copy to start from without it
    REFUSE = "refuse"  # raise: nothing can be started without losing or replacing a session


class Source(StrEnum):
    MONGODB = "mongodb"
    FOLDER = "folder"
    NEW = "new"


@dataclass(frozen=True)
class Decision:
    action: Action
    source: Source | None = None
    folder_stale: bool = False  # rewrite the folder whole from the winner at the first write
    mongo_stale: bool = False  # bring MongoDB up to date (outbox replay or upload) once the lease is held
    heal: bool = False  # move the damaged folder aside before rebuilding it
    reason: str = ""


def continues(journal: Sequence[JournalLink], local: CopyHead, stored: CopyHead) -> bool:
    """Whether the folder's history extends MongoDB's: same lineage, further on, and its journal shows the
    change right after MongoDB's last one was made on top of it."""
    if local.lineage != stored.lineage or local.version <= stored.version:
        return False
    after = next((link for link in journal if link.version == stored.version + 1), None)
    return after is not None and after.lineage == stored.lineage and after.parent == stored.head


def _same(a: CopyHead | None, b: CopyHead | None) -> bool:
    return a is not None and b is not None and (a.lineage, a.version, a.head) == (b.lineage, b.version, b.head)


def decide(folder: FolderView, mongo: MongoView) -> Decision:
    usable = folder.head is not None and not folder.superseded and folder.damage is None
    reseal = not folder.encryption_matches  # a folder kept as it is must still be rewritten with the new key
    if folder.damage is not None:
        if mongo.configured and mongo.reached and mongo.head is not None:
            return Decision(Action.LOAD, Source.MONGODB, folder_stale=True, heal=True, reason=folder.damage)
        if mongo.configured and not mongo.reached:
            return Decision(Action.WAIT, reason=f"{folder.damage}; waiting for MongoDB's copy")
        return Decision(Action.REFUSE, reason=folder.damage)
    if not mongo.configured:
        if folder.superseded:
            return Decision(Action.REFUSE, reason="this folder lost the session to another process")
        if usable:
            return Decision(Action.LOAD, Source.FOLDER, folder_stale=reseal)
        return Decision(Action.LOAD, Source.NEW)
    if not mongo.reached:
        if usable:
            return Decision(Action.LOAD, Source.FOLDER, folder_stale=reseal, mongo_stale=True)
        return Decision(Action.WAIT, reason="no usable local copy")
    folder_holds_something = folder.head is not None or folder.superseded
    if mongo.head is None:
        if usable:
            return Decision(Action.LOAD, Source.FOLDER, folder_stale=reseal, mongo_stale=True)
        return Decision(Action.LOAD, Source.NEW, folder_stale=folder_holds_something)
    if usable and folder.head is not None and continues(folder.journal, folder.head, mongo.head):
        return Decision(Action.LOAD, Source.FOLDER, folder_stale=reseal, mongo_stale=True)
    stale = folder.superseded or not _same(folder.head, mongo.head) or reseal
    return Decision(Action.LOAD, Source.MONGODB, folder_stale=stale)
