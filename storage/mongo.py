"""The MongoDB connection (pymongo's asyncio client): collections, topology, the lease, the status fields.

Collections (database MONGODB_DB, default "whatsapp_bot"); the commit protocol over them is in
storage/changelog.py and docs/storage.md:

* `whatsapp_sessions`: `_id` = `sessionId`, `credentials`, `phoneNumber`, `meId`, `connectionStatus`,
  `lastUpdate`, `createdAt`, `updatedAt`, and the fold point: `version`, `lineage`, `head` (the last
  change folded in), `resetVersion`, `encryption` (scrypt salt + key check), `writerToken` (the lease
  token of the newest owner).
* `whatsapp_session_keys`: `{sessionId, type, id, value: Binary, sealed, version, deleted, updatedAt}`,
  unique on (sessionId, type, id).
* `whatsapp_session_changes`: the change log, one document per unit of work, unique on (sessionId, version).
* `whatsapp_session_change_parts`: the keys of a change too large for one document.
* `whatsapp_session_leases`: `{_id: sessionId, owner, token, expiresAt, host, pid}`; never deleted, so
  the token only grows.

Every write is a single-document write (atomic on every MongoDB: standalone, replica set, sharded), so
the store needs no multi-document transaction; `topology()` is only reported, never branched on.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.write_concern import WriteConcern

from storage.errors import MongoUnavailableError, StorageError
from storage.records import Sealer

SESSIONS = "whatsapp_sessions"
KEYS = "whatsapp_session_keys"
CHANGES = "whatsapp_session_changes"
PARTS = "whatsapp_session_change_parts"
LEASES = "whatsapp_session_leases"
DEFAULT_DB = "whatsapp_bot"
# Committed writes must survive a crash of the server (journal) and, on a replica set, a failover.
DURABLE = WriteConcern(w="majority", j=True)
T = TypeVar("T")
Document = dict[str, Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


def redact_uri(uri: str) -> str:
    """The URI without credentials, for log lines and error messages."""
    scheme, sep, rest = uri.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}".split("?", 1)[0]


def _unavailable(uri_hint: str, exc: Exception) -> MongoUnavailableError:
    detail = str(exc).split(" (configured timeouts")[0].split(", Timeout:")[0][:200]
    return MongoUnavailableError(
        f"MongoDB at {uri_hint} is unreachable ({exc.__class__.__name__}: {detail}); check MONGODB_URI, "
        "the network and the server"
    )


class MongoStore:
    def __init__(
        self,
        uri: str,
        db_name: str | None,
        session_id: str,
        passphrase: str | None,
        *,
        timeout: float = 5.0,
        write_timeout: float = 2.0,
    ) -> None:
        self.session_id = session_id
        self.passphrase = passphrase or None
        self.where = redact_uri(uri)
        self.db_name = db_name or DEFAULT_DB
        self.timeout = timeout
        # A unit of work waits at most this long for MongoDB; past it the folder's journal (the outbox)
        # carries the change and the stanza flow goes on.
        self.write_timeout = write_timeout
        timeout_ms = max(int(timeout * 1000), 100)
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms, 5_000),
            appname="whatsapp-bot-storage",
        )
        db = self.client.get_database(self.db_name, write_concern=DURABLE)
        self.sessions = db[SESSIONS]
        self.keys = db[KEYS]
        self.changes = db[CHANGES]
        self.parts = db[PARTS]
        self.leases = db[LEASES]
        self.sealer: Sealer | None = None  # what new records are sealed with
        self._sealers: dict[bytes, Sealer] = {}

    def describe(self, collection: str = SESSIONS) -> str:
        return f"{self.where} {self.db_name}.{collection} (session {self.session_id!r})"

    async def guard(self, call: Awaitable[T], timeout: float | None = None) -> T:
        """Run one MongoDB call, bounded by `timeout` (default: the store's); failures become storage errors."""
        try:
            # The driver's own bound (client-side operation timeout): it closes the connection of a call it
            # gives up on. (Cancelling a pymongo call from outside, with asyncio.wait_for, can break its pool.)
            with pymongo.timeout(timeout or self.timeout):
                return await call
        except DuplicateKeyError:
            raise
        except ConnectionFailure as exc:
            raise _unavailable(self.where, exc) from exc
        except OperationFailure as exc:
            if exc.has_error_label("RetryableWriteError") or exc.timeout:
                raise _unavailable(self.where, exc) from exc
            raise StorageError(f"MongoDB refused an operation on {self.describe()}: {exc}") from exc
        except PyMongoError as exc:
            raise _unavailable(self.where, exc) from exc

    def sealer_for(self, info: Any, where: str) -> Sealer | None:
        """The sealer of a stored encryption header (None: plain); a wrong key raises WrongEncryptionKeyError."""
        if info is None:
            return None
        salt = bytes(info["salt"]) if isinstance(info, dict) and "salt" in info else b""
        if salt not in self._sealers:
            self._sealers[salt] = Sealer.from_info(self.passphrase, info, where)
        return self._sealers[salt]

    def sealer_for_salt(self, salt: bytes) -> Sealer | None:
        """The sealer a load opened for this salt (the newest record's), to keep writing with it."""
        return self._sealers.get(salt)

    async def ping(self) -> None:
        await self.guard(self.client.admin.command("ping"))

    async def wait_reachable(self, timeout: float) -> None:
        """Ping, letting the driver wait up to `timeout` for the server to appear (its monitor polls meanwhile)."""
        await self.guard(self.client.admin.command("ping"), timeout)

    async def topology(self) -> str:
        """'standalone', 'replica set <name>' or 'sharded cluster (mongos)', from the server's `hello`."""
        hello: Document = await self.guard(self.client.admin.command("hello"))
        if hello.get("msg") == "isdbgrid":
            return "sharded cluster (mongos)"
        if hello.get("setName"):
            return f"replica set {hello['setName']}"
        return "standalone"

    async def ensure_indexes(self) -> None:
        async def create() -> None:
            await self.keys.create_index([("sessionId", 1), ("type", 1), ("id", 1)], unique=True, name="session_key")
            # The fold's "only a higher version overwrites" filter (storage/changelog.py) is served by this one.
            await self.keys.create_index([("sessionId", 1), ("type", 1), ("id", 1), ("version", 1)], name="key_version")
            await self.changes.create_index([("sessionId", 1), ("version", 1)], unique=True, name="session_version")
            await self.parts.create_index([("sessionId", 1), ("changeId", 1)], name="session_change")
            await self.sessions.create_index([("sessionId", 1)], unique=True, name="session_id")
            await self.sessions.create_index([("connectionStatus", 1)], name="status")
            await self.leases.create_index([("expiresAt", 1)], name="lease_expiry")

        await self.guard(create())

    async def close(self) -> None:
        await self.client.close()

    # ---- status fields of the session document ----

    async def set_status(self, token: int | None, fields: Document) -> bool:
        query: Document = {"_id": self.session_id}
        if token is not None:
            query["writerToken"] = token
        now = utcnow()
        update = {"$set": {**fields, "lastUpdate": now, "updatedAt": now}}
        result = await self.guard(self.sessions.update_one(query, update), self.write_timeout)
        return result.matched_count == 1

    async def delete_session(self) -> None:
        """reset_session: remove the session, its keys and its change log (the lease stays: tokens only grow)."""

        async def delete() -> None:
            for collection in (self.keys, self.changes, self.parts):
                await collection.delete_many({"sessionId": self.session_id})
            await self.sessions.delete_one({"_id": self.session_id})

        await self.guard(delete())

    # ---- lease ----

    async def try_acquire_lease(self, owner: str, ttl: float) -> int | None:
        """Take the lease if it is free, expired or already ours; returns the new fencing token, or None."""
        return await self.guard(self._try_acquire(owner, ttl))

    async def _try_acquire(self, owner: str, ttl: float) -> int | None:
        now = utcnow()
        try:
            previous = await self.leases.find_one_and_update(
                {"_id": self.session_id, "$or": [{"expiresAt": {"$lte": now}}, {"owner": owner}, {"owner": None}]},
                {
                    "$set": {
                        "owner": owner,
                        "expiresAt": now + timedelta(seconds=ttl),
                        "acquiredAt": now,
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                    },
                    "$inc": {"token": 1},
                },
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            return None  # the lease document exists and is held by a live owner
        token = int(previous["token"]) + 1 if previous else 1
        session = await self.sessions.find_one({"_id": self.session_id}, {"writerToken": 1})
        last_entry = await self.changes.find_one(
            {"sessionId": self.session_id}, {"writerToken": 1}, sort=[("version", -1)]
        )
        highest = max(int((session or {}).get("writerToken") or 0), int((last_entry or {}).get("writerToken") or 0))
        if token <= highest:
            # The lease document was deleted by hand at some point: keep tokens above every token ever used.
            token = highest + 1
            await self.leases.update_one({"_id": self.session_id, "owner": owner}, {"$set": {"token": token}})
        await self.sessions.update_one(
            {"_id": self.session_id},
            {
                "$max": {"writerToken": token},
                "$setOnInsert": {
                    "sessionId": self.session_id,
                    "createdAt": now,
                    "version": 0,
                    "lineage": "",
                    "head": "",
                    "credentials": None,
                    "connectionStatus": None,
                    "schema": 2,
                },
            },
            upsert=True,
        )
        return token

    async def lease_holder(self) -> Document | None:
        return await self.guard(self.leases.find_one({"_id": self.session_id}))

    async def renew_lease(self, owner: str, token: int, ttl: float) -> bool:
        """Extend our lease; False if another process took it (ours even when expired, as long as nobody did)."""
        result = await self.guard(
            self.leases.update_one(
                {"_id": self.session_id, "owner": owner, "token": token},
                {"$set": {"expiresAt": utcnow() + timedelta(seconds=ttl)}},
            )
        )
        return result.matched_count == 1

    async def release_lease(self, owner: str, token: int) -> None:
        await self.guard(
            self.leases.update_one(
                {"_id": self.session_id, "owner": owner, "token": token},
                {"$set": {"owner": None, "expiresAt": utcnow(), "releasedAt": utcnow()}},
            )
        )
