"""Reading both copies into the views of storage/decision.py, and turning a decision into a session state.

Used at start-up (storage/session.py, `open_store`, read-only) and again after the folder lock and the
lease are held (storage/sync.py), from fresh reads: a process that waited must continue from what the
previous owner wrote, not from what it saw when it started.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from loguru import logger

from storage.changelog import MongoLoad
from storage.config import StoreConfig
from storage.decision import CopyHead, Decision, FolderView, JournalLink, MongoView, Source
from storage.errors import CorruptSessionError
from storage.folder import FolderLoad, FolderStore
from storage.model import Snapshot
from storage.mongo import MongoStore
from storage.records import Sealer
from whatsapp.creds import Credentials
from whatsapp.errors import DecodeError


def new_lineage() -> str:
    return uuid.uuid4().hex


@dataclass
class FolderRead:
    load: FolderLoad | None  # None: the folder is damaged
    damage: str | None = None


def read_folder(folder: FolderStore) -> FolderRead:
    """Load the folder (blocking); damage is reported, not raised (MongoDB may heal it). A wrong key raises."""
    try:
        return FolderRead(folder.load())
    except CorruptSessionError as exc:
        return FolderRead(None, str(exc))


def refusal(read: FolderRead, folder: FolderStore) -> CorruptSessionError:
    """Why a start is refused (decision.Action.REFUSE): the folder's damage, or a superseded folder alone."""
    if read.damage is not None:
        return CorruptSessionError(read.damage)
    return CorruptSessionError(
        f"{folder.superseded_path}: this folder lost the session to another process; its copy is out of date. "
        "Set MONGODB_URI to load the current copy, or remove the folder to pair anew"
    )


def _head(snapshot: Snapshot | None) -> CopyHead | None:
    return None if snapshot is None else CopyHead(snapshot.lineage, snapshot.version, snapshot.head)


def folder_view(read: FolderRead, folder: FolderStore) -> FolderView:
    if read.load is None:
        return FolderView(None, damage=read.damage)
    load = read.load
    journal = tuple(JournalLink(c.version, c.lineage, c.id, c.parent) for c in load.journal)
    matches = load.snapshot is None or folder.encryption_matches
    return FolderView(_head(load.snapshot), journal, load.superseded, encryption_matches=matches)


def mongo_view(mongo: MongoStore | None, load: MongoLoad | None) -> MongoView:
    if mongo is None:
        return MongoView(configured=False)
    if load is None:
        return MongoView(configured=True, reached=False)
    return MongoView(configured=True, reached=True, head=_head(load.snapshot))


def choose_sealers(config: StoreConfig, folder: FolderStore, mongo: MongoStore | None, load: MongoLoad | None) -> None:
    """With SESSION_ENCRYPTION_KEY set every copy is (re)written sealed; one salt for both copies."""
    if mongo is not None and load is not None:
        mongo.sealer = None if load.salt is None else mongo.sealer_for_salt(load.salt)
    if not config.encryption_key:
        return
    existing = folder.sealer or (mongo.sealer if mongo is not None else None)
    salt = existing.salt if existing is not None else Sealer.create(config.encryption_key).salt
    if folder.sealer is None:
        folder.use_encryption(Sealer.create(config.encryption_key, salt))
    if mongo is not None and mongo.sealer is None:
        mongo.sealer = Sealer.create(config.encryption_key, salt)


def credentials_from(snapshot: Snapshot, where: str) -> Credentials:
    assert snapshot.creds is not None
    try:
        return Credentials.from_dict(snapshot.creds)
    except DecodeError as exc:
        raise CorruptSessionError(
            f"the credentials in {where} are malformed ({exc}); restore them from the other copy or a backup"
        ) from None


@dataclass
class Loaded:
    """The session state a decision picked, with the reads it came from."""

    state: Snapshot
    creds: Credentials
    loaded_from: str  # "mongodb" | "folder" | "new"
    decision: Decision
    folder: FolderRead
    mongo: MongoLoad | None


def resolve(
    config: StoreConfig,
    decision: Decision,
    folder_read: FolderRead,
    folder: FolderStore,
    mongo: MongoStore | None,
    mongo_load: MongoLoad | None,
) -> Loaded:
    if decision.source is Source.MONGODB:
        assert mongo is not None and mongo_load is not None and mongo_load.snapshot is not None
        state, where = mongo_load.snapshot, mongo.describe()
    elif decision.source is Source.FOLDER:
        assert folder_read.load is not None and folder_read.load.snapshot is not None
        state, where = folder_read.load.snapshot, str(folder.dir)
    else:
        state, where = Snapshot(new_lineage(), 0, None), ""
    loaded_from = str(decision.source)
    if state.creds is None:
        if loaded_from != "new":
            logger.info(
                "session {}: logged out at version {}; a new pairing is needed", config.session_id, state.version
            )
        loaded_from = "new"
        if not state.lineage:
            state.lineage = new_lineage()
        creds = Credentials.generate()
    else:
        creds = credentials_from(state, where)
    return Loaded(state, creds, loaded_from, decision, folder_read, mongo_load)
