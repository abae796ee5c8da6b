"""The local copy: one folder per session, crash-safe by a write-ahead journal.

Layout of `<auth_dir>/<session_id>/` (folder 0700, files 0600; record formats in storage/folder_codec.py):

    session.json            format, schema version, session id, encryption header (salt, key check)
    creds.json              the credentials (sealed when encrypted)
    keys/<type>/<id>.key    one file per key (sealed when encrypted)
    journal/<version>.json  one file per unit of work, written (fsync + rename + fsync dir) BEFORE it is applied
    checkpoint.json         the version up to which applied files are known to be on disk
    superseded.json         present when this copy lost the session to another process (MongoDB's copy wins)
    .lock                   flock held by the process that owns the session on this machine

A commit costs one durable journal write; the key files it touches are then replaced by rename
without waiting for the disk. Every few dozen commits (and on close) a checkpoint fsyncs them and
records the version. Loading replays, in order, the journal entries after the checkpoint, so a crash
at any moment leaves either the old or the new state, never a mix. Journal entries not yet in
MongoDB double as the outbox and are kept until MongoDB has them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from storage.config import warn_if_exposed
from storage.errors import CorruptSessionError, StorageError
from storage.folder_codec import (
    decode_journal,
    decode_key,
    encode_creds,
    encode_journal,
    encode_key,
    journal_name,
    key_file_name,
    open_creds,
)
from storage.fsio import fsync_dir, fsync_file, make_dir, write_file
from storage.model import Change, Snapshot, check_session_id
from storage.records import SCHEMA_VERSION, Sealer, dump_checked, from_json_value, load_checked, to_json_value
from whatsapp.auth import KeyType

FOLDER_FORMAT = "whatsapp-session-folder"
KEY_TYPES = {member.value for member in KeyType}
MAX_OUTBOX = 5000  # journal entries kept for MongoDB during an outage before falling back to a full upload
LOCK_NAME = ".lock"
_write_file = write_file  # the name backup.py imports


@dataclass
class FolderLoad:
    snapshot: Snapshot | None
    journal: list[Change] = field(default_factory=list)  # every entry on disk, oldest first
    needs_repair: bool = False  # journal entries after the checkpoint must be re-applied to the files
    superseded: bool = False  # this process lost the session to another one: MongoDB's copy wins


class FolderStore:
    def __init__(self, auth_dir: Path, session_id: str, passphrase: str | None, *, checkpoint_every: int = 64):
        self.session_id = check_session_id(session_id)
        self.dir = Path(auth_dir) / session_id
        warn_if_exposed(Path(auth_dir))  # once per process: AUTH_DIR open to group or others
        self.passphrase = passphrase or None
        self.checkpoint_every = checkpoint_every
        # The sealer new records are written with (None: plain); chosen by load() / use_encryption().
        self.sealer: Sealer | None = None
        self.meta_encryption: dict[str, Any] | None = None  # what session.json currently says
        self.checkpoint_version = 0
        self.acked_version: int | None = None  # highest version MongoDB has; None when there is no MongoDB
        self._dirty: set[Path] = set()
        self._since_checkpoint = 0
        self._lock_fd: int | None = None
        self._journal_versions: list[int] = []

    def __repr__(self) -> str:
        return f"FolderStore({str(self.dir)!r})"

    # ---- paths ----

    @property
    def meta_path(self) -> Path:
        return self.dir / "session.json"

    @property
    def creds_path(self) -> Path:
        return self.dir / "creds.json"

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.json"

    @property
    def superseded_path(self) -> Path:
        return self.dir / "superseded.json"

    @property
    def journal_dir(self) -> Path:
        return self.dir / "journal"

    @property
    def keys_dir(self) -> Path:
        return self.dir / "keys"

    def key_path(self, key_type: str, key_id: str) -> Path:
        return self.keys_dir / key_type / key_file_name(key_id)

    # ---- local lock (one process per folder) ----

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def try_lock(self) -> bool:
        if self._lock_fd is not None:
            return True
        make_dir(self.dir)
        fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        self._lock_fd = fd
        return True

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    # ---- reading (never writes: another process may own the folder) ----

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CorruptSessionError(
                f"cannot read {path} ({exc.strerror}); fix its permissions or restore the session folder"
            ) from None

    def _has_key_files(self) -> bool:
        return any(self.keys_dir.glob("*/*.key"))

    def load(self) -> FolderLoad:
        """Read the whole copy afresh (also after waiting for the lock: another process may have written it)."""
        self.sealer = None
        self.meta_encryption = None
        self.checkpoint_version = 0
        self._journal_versions = []
        self._dirty.clear()
        self._since_checkpoint = 0
        if not self.dir.is_dir():
            return FolderLoad(None)
        if not self.meta_path.exists():
            # Empty sub-folders are what a crash during the very first commit leaves: no session yet.
            has_content = (
                self.creds_path.exists()
                or self.checkpoint_path.exists()
                or any(self.journal_dir.glob("*.json"))
                or self._has_key_files()
            )
            if has_content:
                raise CorruptSessionError(
                    f"{self.meta_path} is missing although {self.dir} holds session files; restore the folder "
                    "from a backup, or remove it to load the session from MongoDB or pair anew"
                )
            return FolderLoad(None)
        meta = load_checked(self._read(self.meta_path), str(self.meta_path))
        if meta.get("format") != FOLDER_FORMAT or meta.get("schema") != SCHEMA_VERSION:
            raise CorruptSessionError(
                f"{self.meta_path}: unsupported format {meta.get('format')!r} schema {meta.get('schema')!r} "
                f"(this version reads {FOLDER_FORMAT!r} schema {SCHEMA_VERSION}); upgrade the bot"
            )
        if meta.get("sessionId") != self.session_id:
            raise CorruptSessionError(
                f"{self.meta_path} belongs to session {meta.get('sessionId')!r}, not {self.session_id!r}; "
                "the folder was copied or renamed by hand"
            )
        encryption = from_json_value(meta.get("encryption"))
        self.meta_encryption = encryption
        if encryption is not None:
            self.sealer = Sealer.from_info(self.passphrase, encryption, str(self.meta_path))

        checkpoint_lineage = None
        checkpoint_head = ""
        if self.checkpoint_path.exists():
            checkpoint = load_checked(self._read(self.checkpoint_path), str(self.checkpoint_path))
            self.checkpoint_version = int(checkpoint["version"])
            checkpoint_lineage = checkpoint.get("lineage")
            checkpoint_head = str(checkpoint.get("head") or "")

        journal = self._load_journal()
        self._journal_versions = [change.version for change in journal]
        pending = [change for change in journal if change.version > self.checkpoint_version]
        last_reset = max((i for i, change in enumerate(pending) if change.reset), default=None)

        if last_reset is not None:
            snapshot = Snapshot(lineage=pending[last_reset].lineage, version=0, creds=None)
            replay = pending[last_reset:]
        else:
            snapshot = self._load_files(checkpoint_lineage)
            snapshot.head = checkpoint_head
            replay = pending
            if snapshot.creds is None and snapshot.keys and not any(c.creds is not None for c in replay):
                # Keys without credentials: creds.json was deleted or lost. Pairing anew would silently
                # replace a linked session, so this is damage (MongoDB's copy, if any, heals it).
                raise CorruptSessionError(
                    f"{self.creds_path} is missing although {self.keys_dir} holds {len(snapshot.keys)} keys; "
                    "restore the folder from MongoDB or a backup (import_session), or remove it to pair anew"
                )
        for change in replay:
            broken_chain = bool(snapshot.head) and change.parent != snapshot.head
            if snapshot.version and not change.reset and (change.version != snapshot.version + 1 or broken_chain):
                raise CorruptSessionError(
                    f"{self.journal_dir}: journal entry {change.version} does not follow version {snapshot.version}; "
                    "restore the session folder from MongoDB or a backup"
                )
            snapshot.apply(change)
        superseded = self.superseded_path.exists()
        if snapshot.creds is None and not snapshot.keys and snapshot.version == 0:
            return FolderLoad(None, journal, bool(pending), superseded)
        return FolderLoad(snapshot, journal, bool(pending), superseded)

    def _load_files(self, checkpoint_lineage: str | None) -> Snapshot:
        lineage = checkpoint_lineage
        creds = None
        if self.creds_path.exists():
            body = load_checked(self._read(self.creds_path), str(self.creds_path))
            lineage = lineage or body.get("lineage")
            creds = open_creds(self.session_id, self.sealer, body, str(self.creds_path), self.meta_path)
        snapshot = Snapshot(lineage=lineage or "", version=self.checkpoint_version, creds=creds)
        if self.keys_dir.is_dir():
            for type_dir in self.keys_dir.iterdir():
                if type_dir.name not in KEY_TYPES or not type_dir.is_dir():
                    raise CorruptSessionError(f"{type_dir} is not a known key type folder; remove it")
                for path in type_dir.iterdir():
                    if not path.name.endswith(".key"):
                        continue  # leftover .tmp of an interrupted rename: the journal covers it
                    data = self._read(path)
                    key_id, value = decode_key(self.session_id, self.sealer, type_dir.name, path, data, self.meta_path)
                    snapshot.keys[(type_dir.name, key_id)] = value
        return snapshot

    def _load_journal(self) -> list[Change]:
        if not self.journal_dir.is_dir():
            return []
        changes = [
            decode_journal(self.session_id, self.passphrase, path, self._read(path))
            for path in sorted(self.journal_dir.glob("*.json"))
        ]
        changes.sort(key=lambda change: change.version)
        return changes

    def read_journal(self) -> list[Change]:
        return self._load_journal()

    # ---- writing (only by the owner of the lock) ----

    def use_encryption(self, sealer: Sealer | None) -> None:
        """Choose how new records are sealed; a change of scheme must be written by a reset change."""
        self.sealer = sealer

    @property
    def encryption_matches(self) -> bool:
        current = None if self.sealer is None else self.sealer.salt
        stored = None if self.meta_encryption is None else bytes(self.meta_encryption["salt"])
        return current == stored

    def _write_meta(self) -> None:
        encryption = None if self.sealer is None else self.sealer.info()
        meta = {
            "format": FOLDER_FORMAT,
            "schema": SCHEMA_VERSION,
            "sessionId": self.session_id,
            "encryption": to_json_value(encryption),
        }
        write_file(self.meta_path, dump_checked(meta), durable=True)
        self.meta_encryption = encryption

    def commit(self, change: Change) -> None:
        """Durably journal one unit of work, then apply it to the files (blocking; run it in a thread)."""
        if not self.encryption_matches and not change.reset and self.meta_path.exists():
            raise StorageError(f"{self.dir}: the encryption scheme changes, which needs a full rewrite (reset change)")
        journal_path = self.journal_dir / journal_name(change.version)
        if change.version not in self._journal_versions and journal_path.exists():
            # Only the holder of the lock writes, after reading the folder under it; an entry it did not
            # load or write means another writer: never overwrite its history.
            raise StorageError(
                f"{journal_path} already exists although this process did not write it: another process wrote "
                "this folder; stopping rather than mixing two histories"
            )
        try:
            make_dir(self.dir)
            if not self.meta_path.exists():
                self._write_meta()
            for path in (self.journal_dir, self.keys_dir):
                make_dir(path)
            write_file(journal_path, encode_journal(self.session_id, self.sealer, change), durable=True)
            if change.reset:
                self._set_aside_later_entries(change.version)
            if change.version not in self._journal_versions:
                self._journal_versions.append(change.version)
            self._apply(change)
        except OSError as exc:
            raise StorageError(
                f"cannot write the session folder {self.dir} ({exc.strerror or exc}); check free space and permissions"
            ) from exc
        self._since_checkpoint += 1
        if change.reset or self._since_checkpoint >= self.checkpoint_every:
            self.checkpoint(change.version, change.lineage, change.id)

    def _apply(self, change: Change) -> None:
        if change.reset:
            if not self.encryption_matches:
                self._write_meta()
            with contextlib.suppress(FileNotFoundError):
                self.superseded_path.unlink()
            keep = {self.key_path(t, i) for (t, i), v in change.keys.items() if v is not None}
            if self.keys_dir.is_dir():
                for type_dir in self.keys_dir.iterdir():
                    for path in type_dir.iterdir():
                        if path not in keep:
                            path.unlink()
                            self._dirty.add(type_dir)
        if change.creds is not None or change.reset:
            if change.creds is None:
                with contextlib.suppress(FileNotFoundError):
                    self.creds_path.unlink()
            else:
                write_file(self.creds_path, encode_creds(self.session_id, self.sealer, change), durable=False)
                self._dirty.add(self.creds_path)
            self._dirty.add(self.dir)
        for (key_type, key_id), value in change.keys.items():
            if key_type not in KEY_TYPES:
                raise StorageError(f"unknown key type {key_type!r}")
            path = self.key_path(key_type, key_id)
            if value is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            else:
                if not path.parent.is_dir():
                    make_dir(path.parent)
                    self._dirty.add(self.keys_dir)
                write_file(path, encode_key(self.session_id, self.sealer, key_type, key_id, value), durable=False)
                self._dirty.add(path)
            self._dirty.add(path.parent)

    def _set_aside_later_entries(self, version: int) -> None:
        """Entries numbered after a reset belong to a history that lost (a fork): keep them out of the journal."""
        later = sorted(
            p for p in self.journal_dir.glob("*.json") if p.name[:12].isdigit() and int(p.name[:12]) > version
        )
        if not later:
            return
        forked = self.dir / "forked"
        make_dir(forked)
        for path in later:
            os.replace(path, forked / path.name)
            with contextlib.suppress(ValueError):
                self._journal_versions.remove(int(path.name[:12]))
        fsync_dir(self.journal_dir)
        logger.warning(
            "session folder {}: {} journal entries of a lost history moved to {}", self.dir, len(later), forked
        )

    def mark_superseded(self, reason: str) -> None:
        """Record that this copy lost the session, so the next start takes MongoDB's copy whatever the versions."""
        make_dir(self.dir)
        write_file(self.superseded_path, dump_checked({"schema": SCHEMA_VERSION, "reason": reason}), durable=True)

    def checkpoint(self, version: int, lineage: str, head: str) -> None:
        """Make every applied file durable, then record that the journal up to `version` is no longer needed."""
        for path in sorted(self._dirty, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(FileNotFoundError):
                if path.is_dir():
                    fsync_dir(path)
                else:
                    fsync_file(path)
        self._dirty.clear()
        body = {"schema": SCHEMA_VERSION, "version": version, "lineage": lineage, "head": head}
        write_file(self.checkpoint_path, dump_checked(body), durable=True)
        self.checkpoint_version = version
        self._since_checkpoint = 0
        self.prune()

    def prune(self) -> None:
        """Drop journal entries that are both applied durably and in MongoDB.

        During a very long MongoDB outage the outbox is capped: past `MAX_OUTBOX` entries the old ones
        go, and the reconnect uploads the whole session instead of replaying the gap.
        """
        limit = self.checkpoint_version
        if self.acked_version is not None and len(self._journal_versions) <= MAX_OUTBOX:
            limit = min(limit, self.acked_version)
        for version in [v for v in self._journal_versions if v <= limit]:
            with contextlib.suppress(FileNotFoundError):
                (self.journal_dir / journal_name(version)).unlink()
            self._journal_versions.remove(version)

    def repair(self, load: FolderLoad) -> None:
        """Re-apply journal entries after the checkpoint (a crash interrupted them) and tidy temp files."""
        pending = [change for change in load.journal if change.version > self.checkpoint_version]
        last_reset = max((i for i, change in enumerate(pending) if change.reset), default=0)
        for change in pending[last_reset:]:
            self._apply(change)
        if self.dir.is_dir():
            for tmp in self.dir.rglob("*.tmp"):
                tmp.unlink()
        if pending:
            self.checkpoint(pending[-1].version, pending[-1].lineage, pending[-1].id)
            logger.info("session folder {}: re-applied {} journal entries after a crash", self.dir, len(pending))

    def move_aside(self) -> Path:
        """Move a damaged copy to `<session>.damaged-<timestamp>` (keeping the held lock), for a rebuild."""
        assert self.locked, "only the holder of the folder lock moves the folder aside"
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        target = self.dir.with_name(f"{self.dir.name}.damaged-{stamp}")
        suffix = 1
        while target.exists():
            suffix += 1
            target = self.dir.with_name(f"{self.dir.name}.damaged-{stamp}-{suffix}")
        make_dir(target)
        for entry in self.dir.iterdir():
            if entry.name != LOCK_NAME:
                os.replace(entry, target / entry.name)
        fsync_dir(target)
        fsync_dir(self.dir)
        self.sealer = None
        self.meta_encryption = None
        self.checkpoint_version = 0
        self._journal_versions = []
        self._dirty.clear()
        return target

    def destroy(self) -> None:
        """Remove the whole session folder (reset_session)."""
        self.unlock()
        if self.dir.exists():
            shutil.rmtree(self.dir)
            fsync_dir(self.dir.parent)
