"""The load decision (storage/decision.py) over every shape the two copies can take, with hypothesis.

A world is one true history (a trunk of changes), possibly a fork of it (changes made by a process that
lost the session, on top of some trunk change) or another pairing's history altogether. MongoDB and the
folder each stand somewhere in that world, or are absent, unreachable, damaged or superseded; the
folder's journal holds the links of its own history from some point on (older entries pruned). The
properties are checked against the world's truth, not against the function's own logic.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.decision import Action, CopyHead, Decision, FolderView, JournalLink, MongoView, Source, decide


@dataclass(frozen=True)
class History:
    lineage: str
    ids: tuple[str, ...]  # ids[v - 1] is the change of version v
    parents: tuple[str, ...]

    def head(self, version: int) -> CopyHead:
        return CopyHead(self.lineage, version, self.ids[version - 1] if version else "")

    def links(self, first: int, last: int) -> tuple[JournalLink, ...]:
        return tuple(
            JournalLink(v, self.lineage, self.ids[v - 1], self.parents[v - 1]) for v in range(max(first, 1), last + 1)
        )


def chain(lineage: str, ids: list[str], base: list[str] | None = None) -> History:
    every = (base or []) + ids
    parents = ["", *every[:-1]]
    return History(lineage, tuple(every), tuple(parents))


@dataclass(frozen=True)
class Position:
    history: History
    version: int

    @property
    def head(self) -> CopyHead:
        return self.history.head(self.version)

    def contains(self, other: Position) -> bool:
        """Whether `other`'s state is part of this history (equal or an ancestor)."""
        return (
            self.history.lineage == other.history.lineage
            and other.version <= self.version
            and self.history.ids[: other.version] == other.history.ids[: other.version]
        )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[FolderView, MongoView, Position | None, Position | None]:
    counter = iter(range(10_000))
    trunk_length = draw(st.integers(0, 8))
    trunk = chain("L1", [f"t{next(counter)}" for _ in range(trunk_length)])
    fork_at = draw(st.integers(0, trunk_length))
    fork = chain("L1", [f"f{next(counter)}" for _ in range(draw(st.integers(1, 6)))], list(trunk.ids[:fork_at]))
    other = chain("L2", [f"o{next(counter)}" for _ in range(draw(st.integers(1, 6)))])
    histories = [trunk, fork, other]

    def position() -> Position | None:
        history = draw(st.sampled_from(histories))
        if not history.ids:
            return None
        return Position(history, draw(st.integers(1, len(history.ids))))

    configured = draw(st.booleans())
    reached = configured and draw(st.booleans())
    mongo_at = position() if reached and draw(st.booleans()) else None
    mongo = MongoView(configured, reached, mongo_at.head if mongo_at else None)

    kind = draw(st.sampled_from(["absent", "present", "damaged"]))
    folder_at = position() if kind == "present" else None
    if folder_at is None:
        folder = FolderView(None, damage="creds.json fails its checksum" if kind == "damaged" else None)
        superseded = draw(st.booleans()) if kind == "absent" else False
        folder = FolderView(None, superseded=superseded, damage=folder.damage)
    else:
        first = draw(st.integers(1, folder_at.version + 1))  # entries before `first` were pruned
        folder = FolderView(
            folder_at.head,
            folder_at.history.links(first, folder_at.version),
            superseded=draw(st.booleans()),
            encryption_matches=draw(st.booleans()),
        )
    return folder, mongo, folder_at, mongo_at


def journal_covers(folder: FolderView, version: int) -> bool:
    return any(link.version == version for link in folder.journal)


@settings(max_examples=3000, deadline=None)
@given(worlds())
def test_every_world_gets_a_safe_decision(
    world: tuple[FolderView, MongoView, Position | None, Position | None],
) -> None:
    folder, mongo, folder_at, mongo_at = world
    decision = decide(folder, mongo)
    assert decide(folder, mongo) == decision  # pure: the same views, the same answer
    usable = folder_at is not None and not folder.superseded

    # When it loads at all, and from what.
    if folder.damage is not None:
        if mongo.reached and mongo_at is not None:
            assert decision == Decision(Action.LOAD, Source.MONGODB, folder_stale=True, heal=True, reason=folder.damage)
        elif mongo.configured and not mongo.reached:
            assert decision.action is Action.WAIT
        else:
            assert decision.action is Action.REFUSE  # never a new pairing over a session it cannot read
        return
    if not mongo.configured:
        if folder.superseded:
            assert decision.action is Action.REFUSE
        else:
            assert decision.action is Action.LOAD and decision.source is (Source.FOLDER if usable else Source.NEW)
    elif not mongo.reached:
        assert decision.action is (Action.LOAD if usable else Action.WAIT)
        if usable:
            assert decision.source is Source.FOLDER
    else:
        assert decision.action is Action.LOAD
    if decision.action is not Action.LOAD:
        return
    assert not decision.heal

    # Never a new pairing while a usable copy exists.
    if decision.source is Source.NEW:
        assert not usable and not (mongo.reached and mongo_at is not None)

    # Both copies there: MongoDB wins unless the folder provably continues it; no history is lost.
    if mongo.reached and mongo_at is not None and usable and folder_at is not None:
        extends = (
            folder_at.contains(mongo_at)
            and folder_at.version > mongo_at.version
            and journal_covers(folder, mongo_at.version + 1)
        )
        assert decision.source is (Source.FOLDER if extends else Source.MONGODB)
        if decision.source is Source.FOLDER:
            assert folder_at.contains(mongo_at)  # MongoDB's state is part of what the folder holds
    if decision.source is Source.MONGODB:
        assert mongo.reached and mongo_at is not None

    # What must be repaired afterwards.
    assert decision.mongo_stale == (decision.source is Source.FOLDER and mongo.configured)
    if decision.source is Source.FOLDER:
        assert decision.folder_stale == (not folder.encryption_matches)
    elif decision.source is Source.MONGODB:
        assert mongo_at is not None
        same = folder_at is not None and folder_at.head == mongo_at.head
        assert decision.folder_stale == (folder.superseded or not same or not folder.encryption_matches)
    else:
        holds = folder_at is not None or folder.superseded
        assert decision.folder_stale == holds


def test_a_forked_folder_never_wins_even_with_more_versions() -> None:
    trunk = chain("L1", ["a", "b", "c"])
    fork = chain("L1", ["x", "y", "z", "w"], ["a"])  # versions 2..5 made on top of version 1 by another process
    decision = decide(
        FolderView(fork.head(5), fork.links(2, 5)),
        MongoView(True, True, trunk.head(3)),
    )
    assert decision.source is Source.MONGODB and decision.folder_stale


def test_the_outbox_wins_when_the_journal_shows_it_continues_mongodb() -> None:
    history = chain("L1", ["a", "b", "c", "d"])
    decision = decide(FolderView(history.head(4), history.links(3, 4)), MongoView(True, True, history.head(2)))
    assert decision == Decision(Action.LOAD, Source.FOLDER, mongo_stale=True)
    # The same folder with the proof pruned away (outbox overflow) loses: MongoDB is the source of truth.
    pruned = decide(FolderView(history.head(4), history.links(4, 4)), MongoView(True, True, history.head(2)))
    assert pruned.source is Source.MONGODB


def test_waits_for_mongodb_rather_than_pairing_over_its_copy() -> None:
    assert decide(FolderView(None), MongoView(True, False)).action is Action.WAIT
    assert decide(FolderView(None, damage="damaged"), MongoView(True, False)).action is Action.WAIT
    superseded = FolderView(chain("L1", ["a"]).head(1), superseded=True)
    assert decide(superseded, MongoView(True, False)).action is Action.WAIT
