"""The MongoDB commit protocol: every unit of work is ONE change-log document; key documents are folded from it.

Why (docs/storage.md, "Commit protocol"): a standalone mongod refuses multi-document transactions, but a
single-document insert is atomic on every MongoDB. So:

* **Commit** = insert the entry `(sessionId, version)`. The unique index is the fence: only one
  writer can take a version, and a writer whose lease was taken finds the slot after its last write
  already held by the new owner's entry (`writerToken` higher than its own: `LeaseLostError`). A new
  owner writes such an entry (its first change, or an empty "fence") before it uses the session.
* **Fold** (background, by the lease holder) copies entries into the key documents and the session
  document, then turns the entries into small stubs (kept a day, so the slots stay taken). Each key
  document carries the version that wrote it and is only overwritten by a higher one, deletions leave
  tombstones, and the session document's `version` (the fold point) only grows: a fold by a stale
  process, or two folds at once, can never move anything backwards.
* **Load** reads the session document (fold point F), the key documents with version <= F, then the
  entries after F, which must follow on without a gap (else a fold raced the read: read again).
  Every reader sees whole units of work, also after a crash between any two writes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from storage.errors import CorruptSessionError, LeaseLostError, StorageError
from storage.model import Change, KeyRef, Snapshot
from storage.mongo import CHANGES, KEYS, Document, MongoStore, utcnow
from storage.mongo_codec import decode_entry, encode_entry, open_creds, open_value, phone_from_jid
from storage.records import SCHEMA_VERSION

SCHEMA = 2  # 1: wave-1 documents (transactions, no change log); still loaded
LOAD_ATTEMPTS = 8
FOLD_BATCH = 256
STUB_TTL = timedelta(days=1)  # pruned entries and tombstones are kept this long before they are purged
DUPLICATE_KEY = 11000


class VersionConflict(StorageError):
    """The change-log slot is taken by another change of an older owner (the histories forked)."""

    def __init__(self, version: int, writer_token: int) -> None:
        super().__init__(f"MongoDB's change log already holds another version {version} (token {writer_token})")
        self.version = version
        self.writer_token = writer_token


@dataclass(frozen=True)
class Head:
    """Where MongoDB's history stands: which pairing, which version, whose entry, which last change."""

    lineage: str = ""
    version: int = 0
    writer_token: int = 0
    change_id: str = ""


@dataclass
class MongoLoad:
    snapshot: Snapshot | None  # None: no document, or a document that never held a session
    head: Head
    salt: bytes | None = None  # salt the newest record is sealed with (None: plain)
    unfolded: int = 0  # entries after the fold point
    legacy: bool = False  # wave-1 layout (schema 1: no change log, unversioned keys): converted at take-over


def _follows(snapshot: Snapshot, entry: Document) -> bool:
    if entry.get("pruned"):
        return False
    version = int(entry["version"])
    if entry.get("reset"):
        return version > snapshot.version  # a reset stands on its own (an upload may skip numbers)
    return version == snapshot.version + 1 and str(entry.get("parent") or "") == snapshot.head


def _key_filter(session_id: str, ref: KeyRef, below: int) -> Document:
    # Served by the (sessionId, type, id, version) index; a document at `below` or later is left alone.
    return {"sessionId": session_id, "type": ref[0], "id": ref[1], "version": {"$lt": below}}


class ChangeLog:
    def __init__(self, mongo: MongoStore) -> None:
        self.mongo = mongo
        self.session_id = mongo.session_id

    # ---- commit ----

    async def commit(self, change: Change, token: int) -> None:
        """Insert one unit of work (bounded by the write timeout); idempotent for a retried change."""
        mongo = self.mongo
        doc, parts = encode_entry(self.session_id, mongo.sealer, change, token, utcnow())
        if change.creds is not None:
            doc["meId"] = change.creds.get("me_id")

        async def write() -> Document | None:
            if parts:  # written first: invisible until the entry naming them lands
                await mongo.parts.delete_many({"changeId": change.id})
                await mongo.parts.insert_many(parts)
            try:
                await mongo.changes.insert_one(doc)
            except DuplicateKeyError:
                existing: Document | None = await mongo.changes.find_one(
                    {"_id": doc["_id"]}, {"id": 1, "writerToken": 1}
                )
                return existing or {}
            return None

        timeout = mongo.write_timeout if not parts else max(mongo.timeout, 10 * len(parts))
        existing = await mongo.guard(write(), timeout)
        if existing is None or existing.get("id") == change.id:
            return  # written now, or an earlier attempt that timed out had landed
        holder = int(existing.get("writerToken") or 0)
        if holder > token:
            raise LeaseLostError(
                f"{mongo.describe(CHANGES)} version {change.version} is written by lease token {holder} (ours is "
                f"{token}): another process took over this session; this one must stop"
            )
        raise VersionConflict(change.version, holder)

    async def read_head(self) -> Head:
        mongo = self.mongo

        async def read() -> Head:
            doc = await mongo.sessions.find_one({"_id": self.session_id}, {"version": 1, "lineage": 1, "head": 1})
            last = await mongo.changes.find_one(
                {"sessionId": self.session_id},
                {"version": 1, "lineage": 1, "id": 1, "writerToken": 1},
                sort=[("version", -1)],
            )
            folded = int((doc or {}).get("version") or 0)
            if last is not None and int(last["version"]) > folded:
                return Head(
                    str(last["lineage"]), int(last["version"]), int(last.get("writerToken") or 0), str(last["id"])
                )
            if doc is None:
                return Head()
            return Head(str(doc.get("lineage") or ""), folded, 0, str(doc.get("head") or ""))

        return await mongo.guard(read())

    # ---- load ----

    async def load(self) -> MongoLoad:
        for attempt in range(LOAD_ATTEMPTS):
            loaded = await self.mongo.guard(self._load_once())
            if loaded is not None:
                return loaded
            await asyncio.sleep(0.02 * (attempt + 1))  # a fold moved on while we read: read again
        raise CorruptSessionError(
            f"{self.mongo.describe(CHANGES)}: the change log does not follow the folded session document (a gap "
            "or a broken chain); restore the session from the folder or a backup"
        )

    async def _load_once(self) -> MongoLoad | None:
        mongo, sid = self.mongo, self.session_id
        doc = await mongo.sessions.find_one({"_id": sid})
        if doc is None:
            return MongoLoad(None, Head())
        where = mongo.describe()
        folded = int(doc.get("version") or 0)
        floor = int(doc.get("resetVersion") or 0)
        legacy = doc.get("schema") == 1
        # scrypt (~50 ms) off the event loop: the connection's keepalive runs on it.
        sealer = await asyncio.to_thread(mongo.sealer_for, doc.get("encryption"), where)
        creds = open_creds(sid, sealer, doc.get("credentials"), f"{where} credentials")
        snapshot = Snapshot(str(doc.get("lineage") or ""), folded, creds, head=str(doc.get("head") or ""))
        # Order matters: the fold point, then the keys at or below it, then the entries after it.
        key_filter: Document = {"sessionId": sid, "deleted": {"$ne": True}}
        if not legacy:
            key_filter["version"] = {"$lte": folded, "$gte": floor}
        async for key_doc in mongo.keys.find(key_filter, {"_id": 0, "type": 1, "id": 1, "value": 1, "sealed": 1}):
            ref = (str(key_doc["type"]), str(key_doc["id"]))
            key_where = f"{mongo.describe(KEYS)} key {ref[0]}/{ref[1]}"
            sealed = bool(key_doc.get("sealed"))
            snapshot.keys[ref] = open_value(sid, sealer, ref, key_doc.get("value"), sealed, key_where)
        entries = (
            await mongo.changes.find({"sessionId": sid, "version": {"$gt": folded}}).sort("version", 1).to_list(None)
        )
        salt = sealer.salt if sealer is not None else None
        token = 0
        for entry in entries:
            if not _follows(snapshot, entry):
                return None
            keys = await self._entry_keys(entry)
            if keys is None:
                return None
            entry_where = f"{mongo.describe(CHANGES)} version {entry['version']}"
            entry_sealer = await asyncio.to_thread(mongo.sealer_for, entry.get("encryption"), entry_where)
            snapshot.apply(decode_entry(sid, entry_sealer, entry, keys, entry_where))
            salt = entry_sealer.salt if entry_sealer is not None else None
            token = int(entry.get("writerToken") or 0)
        head = Head(snapshot.lineage, snapshot.version, token, snapshot.head)
        has_session = bool(snapshot.lineage)
        return MongoLoad(snapshot if has_session else None, head, salt, len(entries), legacy and has_session)

    async def _entry_keys(self, entry: Document) -> list[Any] | None:
        count = int(entry.get("parts") or 0)
        if not count:
            return list(entry.get("keys") or [])
        parts = (
            await self.mongo.parts.find({"sessionId": self.session_id, "changeId": entry["id"]})
            .sort("n", 1)
            .to_list(None)
        )
        if [int(p["n"]) for p in parts] != list(range(count)):
            return None
        return [triple for part in parts for triple in part["keys"]]

    # ---- fold ----

    async def fold(self, timeout: float = 60.0) -> int:
        """Fold the entries after the fold point into the key and session documents; the new fold point.

        Runs in the background, so its bound is generous: a whole-session entry means one upsert per key."""
        return await self.mongo.guard(self._fold(), timeout)

    async def _fold(self) -> int:
        mongo, sid = self.mongo, self.session_id
        doc = await mongo.sessions.find_one({"_id": sid}, {"version": 1, "head": 1, "lineage": 1})
        if doc is None:
            return 0
        start = int(doc.get("version") or 0)
        position = Snapshot(str(doc.get("lineage") or ""), start, None, head=str(doc.get("head") or ""))
        entries = (
            await mongo.changes.find({"sessionId": sid, "version": {"$gt": start}})
            .sort("version", 1)
            .limit(FOLD_BATCH)
            .to_list(None)
        )
        segment: list[Document] = []
        for entry in [*entries, None]:
            ends = entry is None or bool(entry.get("reset")) or not _follows(position, entry)
            if ends and segment:
                await self._fold_segment(segment)
                segment = []
            if entry is None or not _follows(position, entry):
                break
            position.version, position.head = int(entry["version"]), str(entry["id"])
            if entry.get("reset"):
                await self._fold_segment([entry])
            else:
                segment.append(entry)
        await self._prune(start)
        return position.version

    async def _fold_segment(self, entries: list[Document]) -> None:
        mongo, sid, now = self.mongo, self.session_id, utcnow()
        latest: dict[KeyRef, tuple[int, Any, bool]] = {}
        creds_entry: Document | None = None
        last = entries[-1]
        version = int(last["version"])
        if last.get("reset"):
            # First: a reset replaces every key (legacy unversioned documents too); the upserts below
            # re-create the ones it keeps. A reader meanwhile still sees this entry after its fold point.
            await mongo.keys.delete_many(
                {"sessionId": sid, "$or": [{"version": {"$lt": version}}, {"version": {"$exists": False}}]}
            )
        for entry in entries:
            keys = await self._entry_keys(entry)
            if keys is None:
                raise CorruptSessionError(f"{mongo.describe(CHANGES)} version {entry['version']}: parts are missing")
            for key_type, key_id, value in keys:
                latest[(str(key_type), str(key_id))] = (int(entry["version"]), value, bool(entry.get("sealed")))
            if entry.get("creds") is not None or entry.get("reset"):
                creds_entry = entry
        operations: list[UpdateOne] = []
        for ref, (written_at, value, sealed) in latest.items():
            fields: Document = {"version": written_at, "updatedAt": now}
            if value is None:
                fields.update(value=None, sealed=False, deleted=True, deletedAt=now)
            else:
                fields.update(value=value, sealed=sealed, deleted=False)
            operations.append(UpdateOne(_key_filter(sid, ref, written_at), {"$set": fields}, upsert=True))
        await self._bulk(operations)
        update: Document = {
            "version": version,
            "head": str(last["id"]),
            "lineage": str(last["lineage"]),
            "schema": SCHEMA,
            "recordSchema": SCHEMA_VERSION,
            "foldedAt": now,
            "updatedAt": now,
            # Entries after a reset share one scheme (the store writes a reset to change it): the header of
            # the last one opens everything folded so far.
            "encryption": last.get("encryption"),
        }
        if last.get("reset"):
            update["resetVersion"] = version
        if creds_entry is not None:
            update["credentials"] = creds_entry.get("creds")
            me_id = creds_entry.get("meId")
            if me_id or creds_entry.get("creds") is None:  # never erase what set_status recorded for a linked device
                update.update(meId=me_id, phoneNumber=phone_from_jid(me_id))
        await mongo.sessions.update_one({"_id": sid, "version": {"$lt": version}}, {"$set": update})

    async def _bulk(self, operations: list[UpdateOne]) -> None:
        if not operations:
            return
        try:
            await self.mongo.keys.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            # A duplicate key is a key document already at a higher version: nothing to fold into it.
            others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
            if others:
                raise StorageError(
                    f"MongoDB refused folding keys into {self.mongo.describe(KEYS)}: {others[:3]}"
                ) from None

    async def _prune(self, folded_before: int) -> None:
        """Entries folded by an earlier pass become stubs: small, but still holding their slot (the fence)."""
        mongo, sid = self.mongo, self.session_id
        if folded_before <= 0:
            return
        await mongo.changes.update_many(
            {"sessionId": sid, "version": {"$lte": folded_before}, "pruned": {"$ne": True}},
            {"$set": {"pruned": True, "prunedAt": utcnow()}, "$unset": {"creds": "", "keys": "", "encryption": ""}},
        )
        await mongo.parts.delete_many({"sessionId": sid, "version": {"$lte": folded_before}})

    async def purge(self) -> None:
        """Drop stubs and tombstones older than a day (no process lags that far behind its lease).

        Parts need no purge: pruning drops every part numbered at or below the fold point, orphans of a
        change that never landed included."""

        async def purge() -> None:
            # Key documents below the last reset are invisible to loads; a fold by a process that slept through
            # the reset may have re-created some.
            doc = await self.mongo.sessions.find_one({"_id": self.session_id}, {"resetVersion": 1})
            floor = int((doc or {}).get("resetVersion") or 0)
            if floor:
                await self.mongo.keys.delete_many({"sessionId": self.session_id, "version": {"$lt": floor}})
            cutoff = utcnow() - STUB_TTL
            await self.mongo.changes.delete_many(
                {"sessionId": self.session_id, "pruned": True, "prunedAt": {"$lt": cutoff}}
            )
            await self.mongo.keys.delete_many(
                {"sessionId": self.session_id, "deleted": True, "deletedAt": {"$lt": cutoff}}
            )

        await self.mongo.guard(purge())
