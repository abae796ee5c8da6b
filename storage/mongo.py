"""The MongoDB copy (pymongo's asyncio client): one document per session, one per key, a lease per session.

Collections (database MONGODB_DB, default "whatsapp_bot"):

* `whatsapp_sessions`: `_id` = `sessionId`, `credentials` (a sub-document with BSON Binary fields, or
  `{"sealed": Binary}` when encrypted), `phoneNumber`, `meId`, `connectionStatus`, `lastUpdate`,
  `createdAt`, `updatedAt`, plus `version` (one per unit of work), `lineage` (which pairing's history),
  `writerToken` (fencing: the lease token of the newest owner), `encryption` (scrypt salt + key check).
* `whatsapp_session_keys`: `{sessionId, type, id, value: Binary, sealed, updatedAt}`, unique on (sessionId, type, id).
* `whatsapp_session_leases`: `{_id: sessionId, owner, token, expiresAt, host, pid}`; never deleted, so
  the token only grows.

A unit of work is one multi-document transaction whose first statement is a conditional update of the
session document on (`writerToken` = our lease token, `version` = the previous version): a process that
lost its lease, or a write that would skip a version, changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Binary
from pymongo import AsyncMongoClient, DeleteOne, ReturnDocument, UpdateOne
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from storage.errors import CorruptSessionError, LeaseLostError, MongoUnavailableError, StorageError
from storage.model import Change, KeyRef, Snapshot
from storage.records import SCHEMA_VERSION, Sealer, creds_from_bytes, creds_to_bytes, record_ad

SESSIONS = "whatsapp_sessions"
KEYS = "whatsapp_session_keys"
LEASES = "whatsapp_session_leases"
DEFAULT_DB = "whatsapp_bot"
# Committed writes must survive a crash of the server (journal) and, on a replica set, a failover.
DURABLE = WriteConcern(w="majority", j=True)


class VersionConflict(StorageError):
    def __init__(self, stored_version: int) -> None:
        super().__init__(f"MongoDB holds version {stored_version}")
        self.stored_version = stored_version


def utcnow() -> datetime:
    return datetime.now(UTC)


def phone_from_jid(jid: str | None) -> str | None:
    if not jid:
        return None
    return jid.split("@", 1)[0].split(":", 1)[0].split(".", 1)[0] or None


def _unavailable(uri_hint: str, exc: Exception) -> MongoUnavailableError:
    detail = str(exc).split(" (configured timeouts")[0].split(", Timeout:")[0][:200]
    return MongoUnavailableError(
        f"MongoDB at {uri_hint} is unreachable ({exc.__class__.__name__}: {detail}); check MONGODB_URI, "
        "the network and the server"
    )


def redact_uri(uri: str) -> str:
    """The URI without credentials, for log lines and error messages."""
    scheme, sep, rest = uri.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}".split("?", 1)[0]


@dataclass(frozen=True)
class Head:
    """Where MongoDB's history stands: which pairing, which version, whose lease, which last change."""

    lineage: str = ""
    version: int = 0
    writer_token: int = 0
    change_id: str = ""


@dataclass
class MongoLoad:
    snapshot: Snapshot | None  # None: no document, or a document that never held a session
    writer_token: int = 0
    encryption: dict[str, Any] | None = None


class MongoStore:
    def __init__(
        self,
        uri: str,
        db_name: str | None,
        session_id: str,
        passphrase: str | None,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.session_id = session_id
        self.passphrase = passphrase or None
        self.where = redact_uri(uri)
        self.db_name = db_name or DEFAULT_DB
        timeout_ms = max(int(timeout * 1000), 100)
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            # A frozen server must not hold every commit (and so every decrypt) for long: past this the
            # write fails over to the folder copy and the outbox replays it later.
            socketTimeoutMS=max(timeout_ms, 5_000),
            appname="whatsapp-bot-storage",
        )
        db = self.client[self.db_name]
        self.sessions = db[SESSIONS]
        self.keys = db[KEYS]
        self.leases = db[LEASES]
        self.sealer: Sealer | None = None
        self.stored_encryption: dict[str, Any] | None = None
        # All our transactions run on this one logical session; its id goes into the lease document so
        # that a successor can abort a transaction we left open by dying (the server would otherwise hold
        # its write locks on the session document until transactionLifetimeLimitSeconds, 60 s).
        self._txn_session: Any = None

    def describe(self, collection: str = SESSIONS) -> str:
        return f"{self.where} {self.db_name}.{collection} (session {self.session_id!r})"

    async def _guard(self, coro: Any) -> Any:
        try:
            return await coro
        except ConnectionFailure as exc:
            raise _unavailable(self.where, exc) from exc
        except OperationFailure as exc:
            if exc.has_error_label("TransientTransactionError") or exc.has_error_label("RetryableWriteError"):
                raise _unavailable(self.where, exc) from exc
            raise StorageError(f"MongoDB refused an operation on {self.describe()}: {exc}") from exc
        except PyMongoError as exc:
            raise _unavailable(self.where, exc) from exc

    async def ping(self) -> None:
        await self._guard(self.client.admin.command("ping"))

    async def ensure_indexes(self) -> None:
        async def create() -> None:
            await self.keys.create_index([("sessionId", 1), ("type", 1), ("id", 1)], unique=True, name="session_key")
            await self.sessions.create_index([("sessionId", 1)], unique=True, name="session_id")
            await self.sessions.create_index([("connectionStatus", 1)], name="status")
            await self.leases.create_index([("expiresAt", 1)], name="lease_expiry")

        await self._guard(create())

    async def close(self) -> None:
        if self._txn_session is not None:
            with contextlib.suppress(PyMongoError):
                await self._txn_session.end_session()
            self._txn_session = None
        await self.client.close()

    def _session(self) -> Any:
        if self._txn_session is None:
            self._txn_session = self.client.start_session()
        return self._txn_session

    # ---- loading ----

    async def load(self) -> MongoLoad:
        return await self._guard(self._load())

    async def _load(self) -> MongoLoad:
        doc = await self.sessions.find_one({"_id": self.session_id})
        if doc is None:
            self.stored_encryption = None
            return MongoLoad(None)
        encryption = doc.get("encryption")
        self.stored_encryption = encryption
        if encryption is not None:
            self.sealer = Sealer.from_info(self.passphrase, encryption, self.describe())
        lineage = doc.get("lineage") or ""
        version = int(doc.get("version") or 0)
        if not lineage:
            return MongoLoad(None, int(doc.get("writerToken") or 0), encryption)
        creds = self._open_creds(doc.get("credentials"))
        snapshot = Snapshot(lineage=lineage, version=version, creds=creds, head=str(doc.get("head") or ""))
        async for key_doc in self.keys.find({"sessionId": self.session_id}, {"_id": 0, "sessionId": 0}):
            ref = (str(key_doc["type"]), str(key_doc["id"]))
            snapshot.keys[ref] = self._open_key(ref, key_doc)
        return MongoLoad(snapshot, int(doc.get("writerToken") or 0), encryption)

    def _open_creds(self, stored: Any) -> dict[str, Any] | None:
        where = self.describe() + " credentials"
        if stored is None:
            return None
        if not isinstance(stored, dict):
            raise CorruptSessionError(f"{where}: not a document; restore the session from the folder or a backup")
        if "sealed" in stored:
            if self.sealer is None:
                raise CorruptSessionError(f"{where} are sealed but the document has no encryption header")
            plaintext = self.sealer.open(bytes(stored["sealed"]), record_ad(self.session_id, "creds"), where)
            return creds_from_bytes(plaintext, where)
        if self.sealer is not None:
            raise CorruptSessionError(f"{where} are in plain text inside an encrypted session; restore them")
        return {k: (bytes(v) if isinstance(v, Binary) else v) for k, v in stored.items()}

    def _open_key(self, ref: KeyRef, key_doc: dict[str, Any]) -> bytes:
        where = f"{self.describe(KEYS)} key {ref[0]}/{ref[1]}"
        value = key_doc.get("value")
        if not isinstance(value, bytes):
            raise CorruptSessionError(f"{where}: value is not binary; restore the session from the folder or a backup")
        if key_doc.get("sealed"):
            if self.sealer is None:
                raise CorruptSessionError(f"{where} is sealed but the session has no encryption header")
            return self.sealer.open(bytes(value), record_ad(self.session_id, "key", *ref), where)
        if self.sealer is not None:
            raise CorruptSessionError(f"{where} is in plain text inside an encrypted session; restore it")
        return bytes(value)

    async def read_head(self) -> Head:
        async def read() -> Head:
            doc = await self.sessions.find_one(
                {"_id": self.session_id}, {"lineage": 1, "version": 1, "writerToken": 1, "head": 1}
            )
            if doc is None:
                return Head()
            return Head(
                doc.get("lineage") or "",
                int(doc.get("version") or 0),
                int(doc.get("writerToken") or 0),
                str(doc.get("head") or ""),
            )

        return await self._guard(read())

    # ---- writing ----

    def _stored_creds(self, creds: dict[str, Any] | None) -> Any:
        if creds is None:
            return None
        if self.sealer is not None:
            return {"sealed": Binary(self.sealer.seal(creds_to_bytes(creds), record_ad(self.session_id, "creds")))}
        return creds

    def _key_doc(self, ref: KeyRef, value: bytes, now: datetime) -> dict[str, Any]:
        sealed = self.sealer is not None
        if self.sealer is not None:
            value = self.sealer.seal(value, record_ad(self.session_id, "key", *ref))
        return {
            "sessionId": self.session_id,
            "type": ref[0],
            "id": ref[1],
            "value": Binary(value),
            "sealed": sealed,
            "updatedAt": now,
        }

    async def commit(self, change: Change, token: int) -> None:
        """Write one unit of work in one transaction, fenced by the lease token and the previous version."""
        await self._guard(self._commit(change, token))

    async def _commit(self, change: Change, token: int) -> None:
        now = utcnow()
        fields: dict[str, Any] = {
            "version": change.version,
            "lineage": change.lineage,
            "head": change.id,
            "lastWriterToken": token,
            "updatedAt": now,
            "schema": SCHEMA_VERSION,
        }
        if change.creds is not None or change.reset:
            fields["credentials"] = self._stored_creds(change.creds)
            me_id = change.creds.get("me_id") if change.creds else None
            fields["meId"] = me_id
            fields["phoneNumber"] = phone_from_jid(me_id)
        if change.reset:
            fields["encryption"] = None if self.sealer is None else self.sealer.info()
        query: dict[str, Any] = {"_id": self.session_id, "writerToken": token}
        if not change.reset:
            query["version"] = change.version - 1
            # The first change lands on the empty document the lease acquisition created.
            if change.version == 1:
                query["lineage"] = {"$in": ["", change.lineage]}
            else:
                query["lineage"] = change.lineage
                query["head"] = change.parent
        operations: list[Any] = []
        for ref, value in change.keys.items():
            selector = {"sessionId": self.session_id, "type": ref[0], "id": ref[1]}
            if value is None:
                operations.append(DeleteOne(selector))
            else:
                operations.append(UpdateOne(selector, {"$set": self._key_doc(ref, value, now)}, upsert=True))

        async def body(session: Any) -> None:
            result = await self.sessions.update_one(query, {"$set": fields}, session=session)
            if result.matched_count != 1:
                raise _Rejected
            if change.reset:
                await self.keys.delete_many({"sessionId": self.session_id}, session=session)
            if operations:
                await self.keys.bulk_write(operations, ordered=True, session=session)

        try:
            await self._transaction(body)
        except _Rejected:
            head = await self.read_head()
            if head.writer_token != token:
                raise LeaseLostError(
                    f"{self.describe()} is now written by lease token {head.writer_token} (ours is {token}): another "
                    "process took over this session; this one must stop"
                ) from None
            raise VersionConflict(head.version) from None
        if change.reset:
            self.stored_encryption = fields["encryption"]

    async def _transaction(self, body: Any, attempts: int = 3) -> None:
        session = self._session()
        for attempt in range(attempts):
            try:
                async with await session.start_transaction(read_concern=ReadConcern("majority"), write_concern=DURABLE):
                    await body(session)
                return
            except OperationFailure as exc:
                if exc.has_error_label("TransientTransactionError") and attempt + 1 < attempts:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                raise

    async def set_status(self, token: int | None, fields: dict[str, Any]) -> bool:
        query: dict[str, Any] = {"_id": self.session_id}
        if token is not None:
            query["writerToken"] = token
        now = utcnow()
        update = {"$set": {**fields, "lastUpdate": now, "updatedAt": now}}
        result = await self._guard(self.sessions.update_one(query, update))
        return result.matched_count == 1

    async def delete_session(self) -> None:
        """reset_session: remove the session document and its keys (the lease document stays: tokens only grow)."""

        async def delete() -> None:
            await self.keys.delete_many({"sessionId": self.session_id})
            await self.sessions.delete_one({"_id": self.session_id})

        await self._guard(delete())

    # ---- lease ----

    async def try_acquire_lease(self, owner: str, ttl: float) -> int | None:
        """Take the lease if it is free, expired or already ours; returns the new fencing token, or None."""
        return await self._guard(self._try_acquire(owner, ttl))

    async def _try_acquire(self, owner: str, ttl: float) -> int | None:
        now = utcnow()
        lsid = self._session().session_id
        try:
            previous = await self.leases.with_options(write_concern=DURABLE).find_one_and_update(
                {"_id": self.session_id, "$or": [{"expiresAt": {"$lte": now}}, {"owner": owner}, {"owner": None}]},
                {
                    "$set": {
                        "owner": owner,
                        "expiresAt": now + timedelta(seconds=ttl),
                        "acquiredAt": now,
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                        "lsid": lsid,
                    },
                    "$inc": {"token": 1},
                },
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            return None  # the lease document exists and is held by a live owner
        token = int(previous["token"]) + 1 if previous else 1
        if previous and previous.get("lsid") and previous["lsid"] != lsid:
            # Abort whatever transaction the previous holder left open (it died, or will be fenced anyway).
            with contextlib.suppress(OperationFailure):
                await self.client.admin.command({"killSessions": [previous["lsid"]]})
        writer_token = (await self.read_head()).writer_token
        if token <= writer_token:
            # The lease document was deleted by hand at some point: keep tokens above every token ever used.
            token = writer_token + 1
            await self.leases.with_options(write_concern=DURABLE).update_one(
                {"_id": self.session_id, "owner": owner}, {"$set": {"token": token}}
            )
        await self.sessions.with_options(write_concern=DURABLE).update_one(
            {"_id": self.session_id},
            {
                "$max": {"writerToken": token},
                "$setOnInsert": {
                    "sessionId": self.session_id,
                    "createdAt": now,
                    "version": 0,
                    "lineage": "",
                    "credentials": None,
                    "connectionStatus": None,
                },
            },
            upsert=True,
        )
        return token

    async def lease_holder(self) -> dict[str, Any] | None:
        return await self._guard(self.leases.find_one({"_id": self.session_id}))

    async def renew_lease(self, owner: str, token: int, ttl: float) -> bool:
        """Extend our lease; False if another process took it (ours even when expired, as long as nobody did)."""
        result = await self._guard(
            self.leases.update_one(
                {"_id": self.session_id, "owner": owner, "token": token},
                {"$set": {"expiresAt": utcnow() + timedelta(seconds=ttl)}},
            )
        )
        return result.matched_count == 1

    async def release_lease(self, owner: str, token: int) -> None:
        await self._guard(
            self.leases.update_one(
                {"_id": self.session_id, "owner": owner, "token": token},
                {"$set": {"owner": None, "expiresAt": utcnow(), "releasedAt": utcnow()}},
            )
        )


class _Rejected(Exception):
    """The fenced update matched nothing; the transaction is aborted and the cause is looked up."""
