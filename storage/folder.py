"""The local copy: one folder per session, crash-safe by a write-ahead journal.

Layout of `<auth_dir>/<session_id>/` (folder 0700, files 0600):

    session.json            format, schema version, session id, encryption header (salt, key check)
    creds.json              the credentials (sealed when encrypted)
    keys/<type>/<id>.key    one file per key: magic, flags, CRC-32, id, value (sealed when encrypted)
    journal/<version>.json  one file per unit of work, written (fsync + rename + fsync dir) BEFORE it is applied
    checkpoint.json         the version up to which applied files are known to be on disk
    .lock                   flock held by the process that owns the session on this machine

A commit costs one durable journal write; the key files it touches are then replaced by rename
without waiting for the disk. Every few dozen commits (and on close) a checkpoint fsyncs them and
records the version. Loading replays, in order, the journal entries after the checkpoint, so a crash
at any moment leaves either the old or the new state, never a mix. Journal entries not yet in
MongoDB double as the outbox and are kept until MongoDB has them.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import os
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from loguru import logger

from storage.errors import CorruptSessionError, StorageError
from storage.model import Change, KeyRef, Snapshot, check_session_id
from storage.records import (
    SCHEMA_VERSION,
    Sealer,
    canonical_json,
    creds_from_bytes,
    creds_to_bytes,
    dump_checked,
    from_json_value,
    load_checked,
    record_ad,
    to_json_value,
)
from whatsapp.auth import KeyType
from whatsapp.cipher import sha256

FOLDER_FORMAT = "whatsapp-session-folder"
KEY_MAGIC = b"WAK1"
FLAG_SEALED = 0x01
KEY_TYPES = {member.value for member in KeyType}
MAX_PLAIN_NAME = 150
MAX_OUTBOX = 5000  # journal entries kept for MongoDB during an outage before falling back to a full upload


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes, *, durable: bool) -> None:
    """Temp file, (fsync), rename over the target, (fsync the folder): the target is old or new, never torn."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        _fsync_dir(path.parent)


def _make_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def key_file_name(key_id: str) -> str:
    quoted = quote(key_id, safe="")
    if len(quoted) <= MAX_PLAIN_NAME:
        return quoted + ".key"
    # Very long ids are hashed; the id itself is inside the file.
    return "h-" + sha256(key_id.encode()).hex() + ".key"


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

    def try_lock(self) -> bool:
        if self._lock_fd is not None:
            return True
        _make_dir(self.dir)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
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

    def load(self) -> FolderLoad:
        if not self.dir.is_dir():
            return FolderLoad(None)
        if not self.meta_path.exists():
            # Empty sub-folders are what a crash during the very first commit leaves: no session yet.
            has_content = (
                self.creds_path.exists()
                or self.checkpoint_path.exists()
                or any(self.journal_dir.glob("*.json"))
                or any(self.keys_dir.glob("*/*.key"))
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
            creds = self._open_creds(body)
        snapshot = Snapshot(lineage=lineage or "", version=self.checkpoint_version, creds=creds)
        if self.keys_dir.is_dir():
            for type_dir in self.keys_dir.iterdir():
                if type_dir.name not in KEY_TYPES or not type_dir.is_dir():
                    raise CorruptSessionError(f"{type_dir} is not a known key type folder; remove it")
                for path in type_dir.iterdir():
                    if not path.name.endswith(".key"):
                        continue  # leftover .tmp of an interrupted rename: the journal covers it
                    key_id, value = self._decode_key(type_dir.name, path, self._read(path))
                    snapshot.keys[(type_dir.name, key_id)] = value
        return snapshot

    def _open_creds(self, body: dict[str, Any]) -> dict[str, Any] | None:
        where = str(self.creds_path)
        if body.get("sealed") is not None:
            if self.sealer is None:
                raise CorruptSessionError(f"{where} is sealed but {self.meta_path} has no encryption header")
            plaintext = self.sealer.open(base64.b64decode(body["sealed"]), record_ad(self.session_id, "creds"), where)
            return creds_from_bytes(plaintext, where)
        if self.sealer is not None and body.get("creds") is not None:
            raise CorruptSessionError(f"{where} is stored in plain text inside an encrypted session; restore it")
        creds = body.get("creds")
        return from_json_value(creds) if creds is not None else None

    def _decode_key(self, key_type: str, path: Path, data: bytes) -> tuple[str, bytes]:
        where = str(path)
        if len(data) < 11 or data[:4] != KEY_MAGIC:
            raise CorruptSessionError(f"{where} is not a key file (bad header); restore the session folder")
        flags = data[4]
        rest = data[9:]
        if zlib.crc32(rest) != int.from_bytes(data[5:9], "big"):
            raise CorruptSessionError(f"{where} fails its CRC-32 (damaged file); restore the session folder")
        id_length = int.from_bytes(rest[:2], "big")
        try:
            key_id = rest[2 : 2 + id_length].decode()
        except UnicodeDecodeError:
            raise CorruptSessionError(f"{where}: key id is not UTF-8") from None
        if key_file_name(key_id) != path.name:
            raise CorruptSessionError(f"{where} holds key {key_id!r}, which belongs in another file")
        payload = rest[2 + id_length :]
        if flags & FLAG_SEALED:
            if self.sealer is None:
                raise CorruptSessionError(f"{where} is sealed but {self.meta_path} has no encryption header")
            return key_id, self.sealer.open(payload, record_ad(self.session_id, "key", key_type, key_id), where)
        if self.sealer is not None:
            raise CorruptSessionError(f"{where} is stored in plain text inside an encrypted session; restore it")
        return key_id, payload

    def _encode_key(self, key_type: str, key_id: str, value: bytes) -> bytes:
        id_bytes = key_id.encode()
        flags = 0
        if self.sealer is not None:
            value = self.sealer.seal(value, record_ad(self.session_id, "key", key_type, key_id))
            flags |= FLAG_SEALED
        rest = len(id_bytes).to_bytes(2, "big") + id_bytes + value
        return KEY_MAGIC + bytes([flags]) + zlib.crc32(rest).to_bytes(4, "big") + rest

    def _load_journal(self) -> list[Change]:
        if not self.journal_dir.is_dir():
            return []
        changes = []
        for path in sorted(self.journal_dir.glob("*.json")):
            changes.append(self._decode_journal(path, self._read(path)))
        changes.sort(key=lambda change: change.version)
        return changes

    def _decode_journal(self, path: Path, data: bytes) -> Change:
        where = str(path)
        head = load_checked(data, where)
        version, lineage = int(head["version"]), str(head["lineage"])
        if f"{version:012d}.json" != path.name:
            raise CorruptSessionError(f"{where} holds journal entry {version}; it was renamed by hand")
        body = head.get("body")
        if head.get("encryption") is not None:
            sealer = Sealer.from_info(self.passphrase, from_json_value(head["encryption"]), where)
            plaintext = sealer.open(
                base64.b64decode(head["sealed"]), record_ad(self.session_id, "journal", str(version), lineage), where
            )
            body = creds_from_bytes(plaintext, where)
        elif not isinstance(body, dict):
            raise CorruptSessionError(f"{where}: journal entry has no body")
        try:
            keys: dict[KeyRef, bytes | None] = {}
            for key_type, key_id, value in body["keys"]:
                keys[(str(key_type), str(key_id))] = None if value is None else base64.b64decode(value)
            creds = body.get("creds")
            return Change(
                version=version,
                lineage=lineage,
                creds=from_json_value(creds) if creds is not None else None,
                keys=keys,
                reset=bool(head.get("reset")),
                id=str(head["id"]),
                parent=str(head.get("parent") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptSessionError(f"{where}: malformed journal entry ({exc})") from None

    # ---- writing (only by the owner of the lock) ----

    def use_encryption(self, sealer: Sealer | None) -> None:
        """Choose how new records are sealed; a change of scheme must be written by a reset change."""
        self.sealer = sealer

    @property
    def encryption_matches(self) -> bool:
        current = None if self.sealer is None else self.sealer.salt
        stored = None if self.meta_encryption is None else bytes(self.meta_encryption["salt"])
        return current == stored

    def _encode_journal(self, change: Change) -> bytes:
        body = {
            "creds": to_json_value(change.creds) if change.creds is not None else None,
            "keys": [
                [key_type, key_id, None if value is None else base64.b64encode(value).decode()]
                for (key_type, key_id), value in change.keys.items()
            ],
        }
        head: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "sessionId": self.session_id,
            "version": change.version,
            "lineage": change.lineage,
            "reset": change.reset,
            "id": change.id,
            "parent": change.parent,
        }
        if self.sealer is not None:
            ad = record_ad(self.session_id, "journal", str(change.version), change.lineage)
            head["encryption"] = to_json_value(self.sealer.info())
            head["sealed"] = base64.b64encode(self.sealer.seal(canonical_json(body), ad)).decode()
        else:
            head["encryption"] = None
            head["body"] = body
        return dump_checked(head)

    def _write_meta(self) -> None:
        encryption = None if self.sealer is None else self.sealer.info()
        meta = {
            "format": FOLDER_FORMAT,
            "schema": SCHEMA_VERSION,
            "sessionId": self.session_id,
            "encryption": to_json_value(encryption),
        }
        _write_file(self.meta_path, dump_checked(meta), durable=True)
        self.meta_encryption = encryption

    def commit(self, change: Change) -> None:
        """Durably journal one unit of work, then apply it to the files (blocking; run it in a thread)."""
        if not self.encryption_matches and not change.reset and self.meta_path.exists():
            raise StorageError(f"{self.dir}: the encryption scheme changes, which needs a full rewrite (reset change)")
        try:
            _make_dir(self.dir)
            if not self.meta_path.exists():
                self._write_meta()
            for path in (self.journal_dir, self.keys_dir):
                _make_dir(path)
            journal_path = self.journal_dir / f"{change.version:012d}.json"
            _write_file(journal_path, self._encode_journal(change), durable=True)
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
                body: dict[str, Any] = {"schema": SCHEMA_VERSION, "lineage": change.lineage, "version": change.version}
                if self.sealer is not None:
                    sealed = self.sealer.seal(creds_to_bytes(change.creds), record_ad(self.session_id, "creds"))
                    body["sealed"] = base64.b64encode(sealed).decode()
                else:
                    body["creds"] = to_json_value(change.creds)
                _write_file(self.creds_path, dump_checked(body), durable=False)
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
                    _make_dir(path.parent)
                    self._dirty.add(self.keys_dir)
                _write_file(path, self._encode_key(key_type, key_id, value), durable=False)
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
        _make_dir(forked)
        for path in later:
            os.replace(path, forked / path.name)
            with contextlib.suppress(ValueError):
                self._journal_versions.remove(int(path.name[:12]))
        _fsync_dir(self.journal_dir)
        logger.warning(
            "session folder {}: {} journal entries of a lost history moved to {}", self.dir, len(later), forked
        )

    def mark_superseded(self, reason: str) -> None:
        """Record that this copy lost the session, so the next start takes MongoDB's copy whatever the versions."""
        _make_dir(self.dir)
        _write_file(self.superseded_path, dump_checked({"schema": SCHEMA_VERSION, "reason": reason}), durable=True)

    def checkpoint(self, version: int, lineage: str, head: str) -> None:
        """Make every applied file durable, then record that the journal up to `version` is no longer needed."""
        for path in sorted(self._dirty, key=lambda p: len(p.parts), reverse=True):
            try:
                if path.is_dir():
                    _fsync_dir(path)
                else:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            except FileNotFoundError:
                pass
        self._dirty.clear()
        body = {"schema": SCHEMA_VERSION, "version": version, "lineage": lineage, "head": head}
        _write_file(self.checkpoint_path, dump_checked(body), durable=True)
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
                (self.journal_dir / f"{version:012d}.json").unlink()
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

    def read_journal(self) -> list[Change]:
        return self._load_journal()

    def destroy(self) -> None:
        """Remove the whole session folder (reset_session)."""
        self.unlock()
        if self.dir.exists():
            shutil.rmtree(self.dir)
            _fsync_dir(self.dir.parent)
