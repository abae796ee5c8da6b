"""The double-writing session store: MongoDB (the source of truth) plus the local folder (always written).

Start-up (`open_store`) reads both copies without writing anything: MongoDB first, then the folder,
else fresh credentials. The copy with the higher `version` of the same `lineage` wins; a copy of
another lineage loses to MongoDB. `acquire_lease()` then takes the MongoDB lease (and a flock on the
folder), and only then brings the stale copy up to date: it replays the folder's journal entries that
MongoDB lacks, in order, or uploads the whole session, or rewrites the folder from MongoDB.

Each unit of work goes to MongoDB first (a transaction fenced by the lease token), then to the folder
journal. When MongoDB is unreachable the store keeps running on the folder alone; the journal entries
MongoDB has not acknowledged are the persisted outbox that a background task replays, in order, as
soon as MongoDB answers again (or the next start does).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from loguru import logger

from storage.config import StoreConfig
from storage.errors import (
    CorruptSessionError,
    LeaseLostError,
    LeaseNotHeldError,
    MongoUnavailableError,
    StorageError,
)
from storage.folder import FolderLoad, FolderStore
from storage.model import Change, KeyRef, Snapshot
from storage.mongo import Head, MongoStore, VersionConflict, phone_from_jid
from storage.records import Sealer
from whatsapp.auth import AuthState, ConnectionStatus, KeyType, Transaction
from whatsapp.creds import Credentials
from whatsapp.errors import DecodeError
from whatsapp.tasks import cancel_and_wait

# Builds the unit of work from the version and lineage it will have (known only under the write lock).
MakeChange = Callable[[int, str], Change]
# The bot gives close() 4.5 s in all: the last MongoDB replay and the client's own close must fit in it.
CLOSE_REPLAY_BUDGET = 2.0
CLOSE_MONGO_BUDGET = 1.0


def new_lineage() -> str:
    return uuid.uuid4().hex


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    # The caller may have been cancelled; the error is still raised to it if it waits, never lost silently.
    if not task.cancelled() and task.exception() is not None:
        logger.debug("unit of work failed: {!r}", task.exception())


def continues(journal: list[Change], local: Snapshot, stored: Snapshot) -> bool:
    """Whether the folder's history extends MongoDB's: same lineage, further on, and its journal shows the
    change right after MongoDB's last one was made on top of it."""
    if local.lineage != stored.lineage or local.version <= stored.version:
        return False
    after = next((c for c in journal if c.version == stored.version + 1), None)
    return after is not None and after.lineage == stored.lineage and after.parent == stored.head


def credentials_from(snapshot: Snapshot, where: str) -> Credentials:
    assert snapshot.creds is not None
    try:
        return Credentials.from_dict(snapshot.creds)
    except DecodeError as exc:
        raise CorruptSessionError(
            f"the credentials in {where} are malformed ({exc}); restore them from the other copy or a backup"
        ) from None


class SessionStore(AuthState):
    """An `AuthState` that writes every unit of work to MongoDB (when configured) and to the folder.

    Call `acquire_lease()` before connecting: it waits while another live process holds the session
    and may reload the session if that process changed it meanwhile, so read `creds` after it.
    """

    def __init__(
        self,
        config: StoreConfig,
        folder: FolderStore,
        folder_load: FolderLoad,
        mongo: MongoStore | None,
        state: Snapshot,
        creds: Credentials,
        loaded_from: str,
    ) -> None:
        super().__init__(creds)
        self.config = config
        self.loaded_from = loaded_from
        self.lease_lost = asyncio.Event()
        self._folder = folder
        self._folder_load = folder_load
        self._mongo = mongo
        self._state = state
        self._folder_stale = False  # the folder must be rewritten whole (reset change) at the next write
        self._mongo_stale = False  # MongoDB must be brought up to date (replay or upload) before the next delta
        self._mongo_seen: Head | None = None  # where MongoDB stood when our state last matched it
        self._mongo_online = mongo is not None
        self._lease = "none"  # none | held | provisional (MongoDB unreachable: folder only) | lost | released
        self._token: int | None = None
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = asyncio.Lock()
        self._renew_task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._pending_status: dict[str, Any] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"SessionStore(session={self.config.session_id!r}, loaded_from={self.loaded_from!r})"

    # ---- inspection (tests, export, the bot's status line) ----

    @property
    def session_id(self) -> str:
        return self.config.session_id

    @property
    def version(self) -> int:
        return self._state.version

    @property
    def mongo_online(self) -> bool:
        return self._mongo is not None and self._mongo_online

    @property
    def lease_token(self) -> int | None:
        return self._token

    def snapshot(self) -> Snapshot:
        """A copy of the committed session (creds as a dict, every key)."""
        state = self._state
        return Snapshot(state.lineage, state.version, state.creds, dict(state.keys), state.head)

    def pending_changes(self) -> int:
        """How many committed units of work MongoDB does not have yet (0 without MongoDB)."""
        if self._mongo is None or self._mongo_seen is None:
            return 0 if self._mongo is None else self._state.version
        return max(0, self._state.version - self._mongo_seen.version)

    # ---- AuthState ----

    async def get(self, key_type: KeyType, ids: Iterable[str]) -> dict[str, bytes]:
        type_name = KeyType(key_type).value
        keys = self._state.keys
        return {key_id: keys[(type_name, key_id)] for key_id in ids if (type_name, key_id) in keys}

    async def commit(self, tx: Transaction) -> None:
        keys: dict[KeyRef, bytes | None] = {}
        for (key_type, key_id), value in tx.keys.items():
            if value is not None and not isinstance(value, bytes):
                raise StorageError(f"key {key_type.value}/{key_id}: values must be bytes, not {type(value).__name__}")
            keys[(KeyType(key_type).value, key_id)] = value
        creds = tx.creds.to_dict() if tx.creds is not None else None
        await self._write(lambda version, lineage: Change(version, lineage, creds, keys))

    async def clear(self) -> None:
        """Logged out: credentials and keys leave both copies; the status records it; the next start pairs anew."""
        await self._write(lambda version, lineage: Change(version, lineage, None, {}, reset=True))
        self.creds = Credentials.generate()
        logger.info("session {}: logged out; credentials and keys removed from every copy", self.session_id)
        await self.set_status(ConnectionStatus.LOGGED_OUT)

    async def set_status(
        self, status: ConnectionStatus, *, phone_number: str | None = None, me_id: str | None = None
    ) -> None:
        fields: dict[str, Any] = {"connectionStatus": ConnectionStatus(status).value}
        if me_id is not None:
            fields["meId"] = me_id
            fields["phoneNumber"] = phone_number or phone_from_jid(me_id)
        elif phone_number is not None:
            fields["phoneNumber"] = phone_number
        self._pending_status.update(fields)
        if self._mongo is None or not self._mongo_online or self._lease != "held":
            return
        try:
            if await self._mongo.set_status(self._token, dict(self._pending_status)):
                self._pending_status.clear()
        except MongoUnavailableError as exc:
            self._go_offline(exc)

    # ---- writing ----

    def _check_writable(self) -> None:
        if self._lease == "lost" or self.lease_lost.is_set():
            raise LeaseLostError(
                f"session {self.session_id!r} is owned by another process now; this one must stop writing"
            )
        if self._lease not in ("held", "provisional"):
            raise LeaseNotHeldError(
                f"session {self.session_id!r}: call acquire_lease() before writing (state: {self._lease})"
            )

    def _after(self, change: Change) -> Snapshot:
        after = self.snapshot()
        after.apply(change)
        return after

    async def _write(self, make_change: MakeChange) -> None:
        self._check_writable()
        # Once started, a unit of work runs to the end even if the caller is cancelled (shutdown, timeout):
        # stopping between the MongoDB commit, the folder write and the in-memory update would let them diverge.
        task = asyncio.get_running_loop().create_task(self._write_locked(make_change))
        task.add_done_callback(_retrieve_exception)
        await asyncio.shield(task)

    async def _write_locked(self, make_change: MakeChange) -> None:
        async with self._lock:
            self._check_writable()
            change: Change = make_change(self._state.version + 1, self._state.lineage)
            change.parent = self._state.head
            mongo_done = await self._write_mongo(change)
            folder_change = change
            if self._folder_stale or not self._folder.encryption_matches:
                folder_change = self._after(change).as_change()
                folder_change.parent = change.parent  # still continues the same history (replays check this)
            try:
                await asyncio.to_thread(self._folder.commit, folder_change)
                self._folder_stale = False
            except StorageError as exc:
                if not mongo_done:
                    raise
                # MongoDB has it, so the unit of work stands; the folder is rewritten whole next time.
                self._folder_stale = True
                logger.error(
                    "session {}: {}; MongoDB has the change, the folder will be rewritten", self.session_id, exc
                )
            self._state.apply(change)
            if mongo_done:
                self._mongo_seen = Head(change.lineage, change.version, self._token or 0, change.id)
                self._folder.acked_version = change.version

    async def _write_mongo(self, change: Change) -> bool:
        if self._mongo is None or not self._mongo_online or self._token is None:
            return False
        try:
            if self._mongo_stale:
                await self._reconcile(running=True)
            try:
                if self._mongo_encryption_matches():
                    await self._mongo.commit(change, self._token)
                else:  # first write with a new encryption scheme: the whole session, sealed, in one unit
                    await self._mongo.commit(self._after(change).as_change(), self._token)
            except VersionConflict as conflict:
                logger.warning(
                    "session {}: MongoDB is at version {}, expected {}; uploading the whole session",
                    self.session_id,
                    conflict.stored_version,
                    change.version - 1,
                )
                await self._mongo.commit(self._after(change).as_change(), self._token)
            return True
        except LeaseLostError as exc:
            await self._lose_lease(str(exc))
            raise
        except MongoUnavailableError as exc:
            self._go_offline(exc)
            return False

    def _go_offline(self, exc: Exception) -> None:
        if self._mongo is None or self._closed:
            return
        if self._mongo_online:
            logger.warning(
                "session {}: {}; carrying on with the folder alone, changes will be replayed to MongoDB when it "
                "answers again",
                self.session_id,
                exc,
            )
        self._mongo_online = False
        self._mongo_stale = True
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _lose_lease(self, reason: str) -> None:
        if self._lease == "lost":
            return
        self._lease = "lost"
        self.lease_lost.set()
        logger.error("session {}: lease lost ({}); stopping all writes", self.session_id, reason)
        try:
            await asyncio.to_thread(self._folder.mark_superseded, reason)
        except (OSError, StorageError) as exc:
            logger.warning("session {}: could not mark the folder copy superseded: {}", self.session_id, exc)
        if self._mongo is not None and self._token is not None:
            # If the lease is still ours (we gave up because of a fork), let the next process in at once.
            try:
                await self._mongo.release_lease(self._owner, self._token)
            except StorageError as exc:
                logger.warning("session {}: could not release the lease ({}); it expires by itself",
                               self.session_id, exc)

    # ---- lease ----

    async def acquire_lease(self) -> None:
        """Own the session: wait (logging) while another live process holds it, then reconcile both copies."""
        if self._lease in ("held", "provisional"):
            return
        if self._lease == "lost":
            raise LeaseLostError(f"session {self.session_id!r}: the lease was lost; restart the process")
        poll = self.config.lease_poll_interval
        waited = False
        while not self._folder.try_lock():
            if not waited:
                logger.warning(
                    "session {}: another process on this machine uses {}; waiting for it to stop",
                    self.session_id,
                    self._folder.dir,
                )
                waited = True
            await asyncio.sleep(poll)
        async with self._lock:
            if self._folder_load.needs_repair and not self._folder_load.superseded:
                await asyncio.to_thread(self._folder.repair, self._folder_load)
        if self._mongo is None:
            self._lease = "held"
            logger.info("session {}: local lock taken on {}", self.session_id, self._folder.dir)
            return
        token = await self._wait_for_mongo_lease()
        if token is None:
            return  # provisional: MongoDB unreachable
        async with self._lock:
            try:
                await self._reconcile(running=False)
            except MongoUnavailableError as exc:
                self._go_offline(exc)

    async def _wait_for_mongo_lease(self) -> int | None:
        assert self._mongo is not None
        poll = self.config.lease_poll_interval
        last_log = -1e9
        loop = asyncio.get_running_loop()
        while True:
            try:
                token = await self._mongo.try_acquire_lease(self._owner, self.config.lease_ttl)
                if token is not None:
                    break
                holder = await self._mongo.lease_holder() or {}
            except MongoUnavailableError as exc:
                self._lease = "provisional"
                logger.warning(
                    "session {}: {}; cannot take the session lease, running on the folder copy and will take the "
                    "lease when MongoDB is back",
                    self.session_id,
                    exc,
                )
                self._go_offline(exc)
                return None
            if loop.time() - last_log >= max(30.0, poll):
                logger.warning(
                    "session {}: in use by another instance ({} on {}, pid {}, lease expires {}); waiting for it "
                    "to stop or for its lease to expire",
                    self.session_id,
                    holder.get("owner"),
                    holder.get("host"),
                    holder.get("pid"),
                    holder.get("expiresAt"),
                )
                last_log = loop.time()
            await asyncio.sleep(poll)
        self._token = token
        self._lease = "held"
        self._mongo_online = True
        logger.info("session {}: lease taken (token {})", self.session_id, token)
        self._start_renewal()
        return token

    def _start_renewal(self) -> None:
        if self._renew_task is None or self._renew_task.done():
            self._renew_task = asyncio.get_running_loop().create_task(self._renew_loop())

    async def _renew_loop(self) -> None:
        assert self._mongo is not None
        while not self._closed and self._lease == "held":
            await asyncio.sleep(self.config.lease_renew_interval)
            if not self._mongo_online or self._closed or self._token is None:
                continue
            try:
                still_ours = await self._mongo.renew_lease(self._owner, self._token, self.config.lease_ttl)
            except MongoUnavailableError as exc:
                self._go_offline(exc)
                continue
            if not still_ours:
                await self._lose_lease("another process took the lease after it expired")
                return

    async def release_lease(self) -> None:
        """Give the session up (SIGTERM path): stop renewing and let the next process take over at once."""
        if self._renew_task is not None:
            await cancel_and_wait(self._renew_task, f"session {self.session_id}: lease renewal")
            self._renew_task = None
        if self._lease == "held" and self._mongo is not None and self._token is not None and self._mongo_online:
            try:
                await self._mongo.release_lease(self._owner, self._token)
                logger.info("session {}: lease released", self.session_id)
            except MongoUnavailableError as exc:
                logger.warning(
                    "session {}: could not release the lease ({}); it expires by itself", self.session_id, exc
                )
        if self._lease in ("held", "provisional"):
            self._lease = "released"
        self._folder.unlock()

    # ---- reconciling the two copies ----

    async def _reconcile(self, *, running: bool) -> None:
        """Bring MongoDB and the folder to the same change (lock held, lease held).

        `running`: this process already works from its own state (MongoDB was unreachable); if MongoDB's
        history moved on meanwhile, the two histories forked and this process must give the session up.
        """
        assert self._mongo is not None and self._token is not None
        head = await self._mongo.read_head()
        ours = self._state
        seen = self._mongo_seen
        seen_unchanged = seen is None or (seen.lineage, seen.version, seen.change_id) == (
            head.lineage,
            head.version,
            head.change_id,
        )
        outcome = "in sync"
        if not head.lineage:
            if ours.version > 0 or ours.creds is not None:
                await self._upload(f"MongoDB has no copy of session {self.session_id!r}")
        elif (head.lineage, head.version, head.change_id) == (ours.lineage, ours.version, ours.head):
            if not self._mongo_encryption_matches():
                await self._upload("re-encrypting the MongoDB copy")
        elif head.lineage == ours.lineage and head.version < ours.version and seen_unchanged:
            outcome = await self._replay(head)
        else:
            outcome = "fork"
        if outcome == "fork" and not running:
            # MongoDB moved on while we waited for the lease, or holds another history: it is the authority.
            load = await self._mongo.load()
            assert load.snapshot is not None
            if ours.version:
                logger.warning(
                    "session {}: the local copy (version {}) is not part of MongoDB's history (version {}); "
                    "MongoDB's copy wins",
                    self.session_id,
                    ours.version,
                    head.version,
                )
            self._state = load.snapshot
            if load.snapshot.creds is not None:
                self.creds = credentials_from(load.snapshot, self._mongo.describe())
                self.loaded_from = "mongodb"
            self._folder_stale = True
        elif outcome == "fork":
            await self._lose_lease(
                f"MongoDB's copy (version {head.version}) changed while this process ran on the folder (version "
                f"{ours.version}); MongoDB's copy wins, the local changes go to {self._folder.dir / 'forked'}"
            )
            raise LeaseLostError(f"session {self.session_id!r}: MongoDB's copy changed while we were offline")
        self._mongo_stale = False
        self._mongo_seen = Head(self._state.lineage, self._state.version, self._token, self._state.head)
        self._folder.acked_version = self._state.version
        if self._folder_stale or not self._folder.encryption_matches:
            await asyncio.to_thread(self._folder.commit, self._state.as_change())
            self._folder_stale = False
        else:
            await asyncio.to_thread(self._folder.prune)
        pending = dict(self._pending_status)
        if pending and self._lease == "held" and await self._mongo.set_status(self._token, pending):
            self._pending_status.clear()

    def _mongo_encryption_matches(self) -> bool:
        assert self._mongo is not None
        sealer, stored = self._mongo.sealer, self._mongo.stored_encryption
        return (sealer.salt if sealer else None) == (bytes(stored["salt"]) if stored else None)

    async def _replay(self, head: Head) -> str:
        """Send MongoDB the folder's journal entries it lacks, in order.

        Returns "fork" when the journal proves our history does not continue MongoDB's (the entry after
        MongoDB's version has another parent); uploads the whole session when the journal no longer
        covers the gap (outbox overflow) or the encryption scheme changed.
        """
        assert self._mongo is not None and self._token is not None
        journal = await asyncio.to_thread(self._folder.read_journal)
        entries = [c for c in journal if c.version > head.version and c.lineage == self._state.lineage]
        if entries and entries[0].version == head.version + 1 and entries[0].parent != head.change_id:
            return "fork"
        chain_ok = (
            bool(entries)
            and self._mongo_encryption_matches()
            and entries[0].version == head.version + 1
            and entries[-1].version == self._state.version
            and all(b.version == a.version + 1 and b.parent == a.id for a, b in itertools.pairwise(entries))
        )
        if not chain_ok:
            await self._upload(f"the local journal does not cover versions {head.version + 1}..{self._state.version}")
            return "uploaded"
        for change in entries:
            try:
                await self._mongo.commit(change, self._token)
            except VersionConflict:
                await self._upload("MongoDB changed during the replay")
                return "uploaded"
        logger.info(
            "session {}: replayed {} change(s) to MongoDB (now at version {})",
            self.session_id,
            len(entries),
            self._state.version,
        )
        return "replayed"

    async def _upload(self, reason: str) -> None:
        assert self._mongo is not None and self._token is not None
        await self._mongo.commit(self._state.as_change(), self._token)
        logger.info(
            "session {}: uploaded the whole session to MongoDB ({}; version {}, {} keys)",
            self.session_id,
            reason,
            self._state.version,
            len(self._state.keys),
        )

    async def _reconnect_loop(self) -> None:
        assert self._mongo is not None
        while not self._closed and self._lease in ("held", "provisional", "none"):
            await asyncio.sleep(self.config.mongo_retry_interval)
            if await self._try_reconnect():
                return

    async def _try_reconnect(self) -> bool:
        assert self._mongo is not None
        try:
            await self._mongo.ping()
        except MongoUnavailableError:
            return False
        async with self._lock:
            if self._mongo_online:
                return True
            try:
                if self._lease == "provisional":
                    token = await self._mongo.try_acquire_lease(self._owner, self.config.lease_ttl)
                    if token is None:
                        await self._lose_lease("another process holds the session in MongoDB")
                        return True
                    self._token = token
                    self._lease = "held"
                    self._start_renewal()
                elif self._lease == "held" and self._token is not None:
                    if not await self._mongo.renew_lease(self._owner, self._token, self.config.lease_ttl):
                        await self._lose_lease("another process took the lease while MongoDB was unreachable")
                        return True
                else:
                    return True
                await self._reconcile(running=True)
            except MongoUnavailableError:
                return False
            except LeaseLostError:
                return True
            self._mongo_online = True
            logger.info("session {}: MongoDB reachable again; both copies at version {}", self.session_id, self.version)
            return True

    # ---- shutdown ----

    async def close(self) -> None:
        """Flush (replaying pending changes to MongoDB if it answers), checkpoint the folder, release the lease."""
        if self._closed:
            return
        if self._reconnect_task is not None:
            await cancel_and_wait(self._reconnect_task, f"session {self.session_id}: MongoDB reconnection")
        if self._mongo is not None and not self._mongo_online and self._lease in ("held", "provisional"):
            try:
                # Bounded: closing must fit the platform's shutdown window, and the folder journal already
                # holds every change for the next start to replay.
                await asyncio.wait_for(self._try_reconnect(), CLOSE_REPLAY_BUDGET)
            except Exception as exc:  # closing goes on: the folder copy holds every change
                logger.warning("session {}: last MongoDB replay before closing failed: {!r}", self.session_id, exc)
        self._closed = True
        async with self._lock:
            if self._lease in ("held", "provisional") and self._state.version > 0 and self._folder.dir.is_dir():
                state = self._state
                try:
                    await asyncio.to_thread(self._folder.checkpoint, state.version, state.lineage, state.head)
                except (StorageError, OSError) as exc:  # the journal still holds the changes; replayed on open
                    logger.warning("session {}: folder checkpoint on close failed: {}", self.session_id, exc)
        await self.release_lease()
        if self._mongo is not None:
            try:
                # pymongo's close() asks the server to end our sessions and waits for one to be selected;
                # an unreachable server must not eat the rest of the shutdown window.
                await asyncio.wait_for(self._mongo.close(), CLOSE_MONGO_BUDGET)
            except TimeoutError:
                logger.warning("session {}: MongoDB did not answer while closing; left behind", self.session_id)

    async def __aenter__(self) -> SessionStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- whole-session replacement (imports) ----

    async def install(
        self, creds: dict[str, Any] | None, keys: dict[KeyRef, bytes], lineage: str | None = None
    ) -> None:
        """Replace the whole session in both copies with one reset change (imports, restores)."""
        if creds is not None:
            Credentials.from_dict(creds)  # refuse malformed credentials before anything is written
        new_lineage_id = lineage or self._state.lineage

        def make(version: int, _lineage: str) -> Change:
            return Change(version, new_lineage_id, creds, dict(keys), reset=True)

        await self._write(make)
        if creds is not None:
            self.creds = Credentials.from_dict(creds)


async def open_store(config: StoreConfig) -> SessionStore:
    """Load the session: MongoDB first, then the folder, else fresh credentials. Writes nothing."""
    folder = FolderStore(
        config.auth_dir, config.session_id, config.encryption_key, checkpoint_every=config.checkpoint_every
    )
    folder_load = await asyncio.to_thread(folder.load)
    mongo: MongoStore | None = None
    mongo_snapshot: Snapshot | None = None
    mongo_reached = False
    if config.mongodb_uri:
        mongo = MongoStore(
            config.mongodb_uri,
            config.mongodb_db,
            config.session_id,
            config.encryption_key,
            timeout=config.mongo_timeout,
        )
        try:
            await mongo.ensure_indexes()
            mongo_snapshot = (await mongo.load()).snapshot
            mongo_reached = True
        except MongoUnavailableError as exc:
            if folder_load.snapshot is None or folder_load.superseded:
                await mongo.close()
                raise MongoUnavailableError(
                    f"{exc}. There is no usable local copy in {folder.dir} either, so starting now could replace a "
                    "session stored in MongoDB with a new pairing; start again once MongoDB is reachable"
                ) from None
            logger.warning("session {}: {}; starting from the folder copy", config.session_id, exc)
        except BaseException:
            await mongo.close()
            raise

    if folder_load.superseded and mongo is None:
        raise CorruptSessionError(
            f"{folder.superseded_path}: this folder lost the session to another process; its copy is out of date. "
            "Set MONGODB_URI to load the current copy, or remove the folder to pair anew"
        )
    local = None if folder_load.superseded else folder_load.snapshot
    folder_stale = False
    mongo_stale = False
    if mongo_snapshot is not None and not (local is not None and continues(folder_load.journal, local, mongo_snapshot)):
        state, loaded_from, where = mongo_snapshot, "mongodb", mongo.describe()  # type: ignore[union-attr]
        folder_stale = local is None or (local.lineage, local.version, local.head) != (
            mongo_snapshot.lineage,
            mongo_snapshot.version,
            mongo_snapshot.head,
        )
        folder_stale = folder_stale or folder_load.superseded
    elif local is not None:
        state, loaded_from, where = local, "folder", str(folder.dir)
        mongo_stale = mongo is not None
    else:
        state, loaded_from, where = Snapshot(new_lineage(), 0, None), "new", ""

    # Encryption: every copy is (re)written with SESSION_ENCRYPTION_KEY when it is set.
    if config.encryption_key:
        salt = (folder.sealer or (mongo.sealer if mongo else None) or Sealer.create(config.encryption_key)).salt
        if folder.sealer is None:
            folder.use_encryption(Sealer.create(config.encryption_key, salt))
        if mongo is not None and mongo.sealer is None:
            mongo.sealer = Sealer.create(config.encryption_key, salt)
    if folder_load.snapshot is not None and not folder.encryption_matches:
        folder_stale = True

    if state.creds is None:
        creds = Credentials.generate()
        if loaded_from != "new":
            logger.info(
                "session {}: logged out at version {}; a new pairing is needed", config.session_id, state.version
            )
        loaded_from = "new"
        if not state.lineage:
            state.lineage = new_lineage()
    else:
        creds = credentials_from(state, where)

    store = SessionStore(config, folder, folder_load, mongo, state, creds, loaded_from)
    store._folder_stale = folder_stale
    store._mongo_stale = mongo_stale
    store._mongo_online = mongo_reached
    if mongo is not None:
        # Until MongoDB confirms a version, every journal entry is kept as the outbox.
        folder.acked_version = mongo_snapshot.version if mongo_snapshot is not None else 0
    if mongo_reached:
        store._mongo_seen = (
            Head(mongo_snapshot.lineage, mongo_snapshot.version, 0, mongo_snapshot.head) if mongo_snapshot else Head()
        )
    logger.info(
        "session {}: loaded from {} (version {}, {} keys{})",
        config.session_id,
        loaded_from,
        state.version,
        len(state.keys),
        "" if mongo is None else ("; MongoDB reachable" if mongo_reached else "; MongoDB unreachable"),
    )
    return store
