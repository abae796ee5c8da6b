"""The double-writing session store: MongoDB (the source of truth) plus the local folder (always written).

Each unit of work goes to MongoDB first (one change-log document fenced by the lease token,
storage/changelog.py), bounded by a short timeout, then to the folder journal. When MongoDB is
unreachable or slow the store keeps running on the folder alone; the journal entries MongoDB has not
acknowledged are the persisted outbox that a background task replays, in order, as soon as MongoDB
answers again (or the next start does). Design notes: docs/storage.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from loguru import logger

from storage.archive import archive_session
from storage.changelog import ChangeLog, Head, MongoLoad, VersionConflict
from storage.config import StoreConfig
from storage.errors import LeaseLostError, LeaseNotHeldError, MongoUnavailableError, StorageError
from storage.folder import FolderStore
from storage.lease import LeaseKeeper
from storage.loading import Loaded
from storage.model import Change, KeyRef, Snapshot
from storage.mongo import MongoStore
from storage.mongo_codec import phone_from_jid
from storage.sync import MongoSync
from whatsapp.auth import AuthState, ConnectionStatus, KeyType, Transaction
from whatsapp.creds import Credentials
from whatsapp.tasks import cancel_and_wait

# Builds the unit of work from the version and lineage it will have (known only under the write lock).
MakeChange = Callable[[int, str], Change]
# The bot gives close() 4.5 s in all: the last MongoDB replay and the client's own close must fit in it.
CLOSE_REPLAY_BUDGET = 1.5  # with the fold and the client close (1 s each) well inside the bot's 4.5 s for the store
CLOSE_MONGO_BUDGET = 1.0


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    # The caller may have been cancelled; the error is still raised to it if it waits, never lost silently.
    if not task.cancelled() and task.exception() is not None:
        logger.debug("unit of work failed: {!r}", task.exception())


class SessionStore(MongoSync, AuthState):
    """An `AuthState` that writes every unit of work to MongoDB (when configured) and to the folder.

    Call `acquire_lease()` before connecting: it waits while another process holds the session (the
    folder lock on this machine, the MongoDB lease anywhere), then reloads both copies, so read `creds`
    after it.
    """

    def __init__(
        self,
        config: StoreConfig,
        folder: FolderStore,
        mongo: MongoStore | None,
        loaded: Loaded,
        *,
        topology: str | None = None,
    ) -> None:
        super().__init__(loaded.creds)
        self.config = config
        self.topology = topology  # "standalone", "replica set <name>", ... (None: no MongoDB reached yet)
        self.lease_lost = asyncio.Event()
        # Why clear() is called (the client's last disconnect reason), for the archive; set by storage.monitor.
        self.logout_reason: Callable[[], str | None] | None = None
        self._folder = folder
        self._mongo = mongo
        self._log = None if mongo is None else ChangeLog(mongo)
        self._keeper = (
            None
            if mongo is None
            else LeaseKeeper(mongo, config, on_lost=self._lose_lease, on_unavailable=self._go_offline)
        )
        self._lock = asyncio.Lock()
        self._lease = "none"
        self._closed = False
        self._pending_status: dict[str, Any] = {}
        self._reconnect_task: asyncio.Task[None] | None = None
        self._fold_task: asyncio.Task[None] | None = None
        self._fold_again = False
        self._folds = 0
        self._fence_pending = False
        self._last_mongo_load: MongoLoad | None = loaded.mongo
        self._adopt(loaded)

    def _adopt(self, loaded: Loaded) -> None:
        self._state = loaded.state
        self.creds = loaded.creds
        self.loaded_from = loaded.loaded_from
        self._folder_stale = loaded.decision.folder_stale
        self._mongo_online = False  # until MongoDB is brought to our state under the lease
        self._mongo_seen = None if loaded.mongo is None else loaded.mongo.head
        self._mongo_salt = None if loaded.mongo is None else loaded.mongo.salt
        if self._mongo is not None:
            # Until MongoDB confirms a version, every journal entry is kept as the outbox.
            self._folder.acked_version = 0 if loaded.mongo is None else loaded.mongo.head.version

    def __repr__(self) -> str:
        return f"SessionStore(session={self.config.session_id!r}, loaded_from={self.loaded_from!r})"

    # ---- inspection (tests, export, the bot's status line) ----

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
        if self._mongo is None:
            return 0
        if self._mongo_seen is None:
            return self._state.version
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
        if creds is None and self._state.creds is None and keys:
            # Keys are never stored without the credentials they belong to (a folder with keys and no
            # creds.json is damage): the first unit of work of a new session carries them.
            creds = self.creds.to_dict()
        await self._write(lambda version, lineage: Change(version, lineage, creds, keys))

    async def clear(self) -> None:
        """Logged out: the session is archived (storage/archive.py), then credentials and keys leave both copies;
        the status records it; the next start pairs anew."""
        self._check_writable()
        async with self._lock:  # the archive is taken between two units of work
            await archive_session(self.config, (self.logout_reason and self.logout_reason()) or "logged out")
        await self._write(lambda version, lineage: Change(version, lineage, None, {}, reset=True))
        await self.fold_now()  # operators look at the session document: show the logout there at once
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
            await self._apply_locally(change, mongo_done)

    async def _write_mongo(self, change: Change) -> bool:
        if self._log is None or not self._mongo_online or self._token is None:
            return False
        try:
            if self._salt_matches():
                await self._log.commit(change, self._token)
            else:  # first write with a new encryption scheme: the whole session, sealed, in one unit
                await self._log.commit(self._after(change).as_change(), self._token)
            return True
        except LeaseLostError as exc:
            await self._lose_lease(str(exc))
            raise
        except VersionConflict as exc:
            await self._lose_lease(f"{exc}; this process's history forked from MongoDB's")
            raise LeaseLostError(f"session {self.session_id!r}: {exc}") from None
        except MongoUnavailableError as exc:
            self._go_offline(exc)  # the folder's journal entry is the outbox: replayed when MongoDB answers
            return False

    async def _apply_locally(self, change: Change, mongo_done: bool) -> None:
        """The folder part of a unit of work, then the in-memory state (lock held)."""
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
            logger.error("session {}: {}; MongoDB has the change, the folder will be rewritten", self.session_id, exc)
        self._state.apply(change)
        if mongo_done:
            self._mongo_seen = Head(change.lineage, change.version, self._token or 0, change.id)
            sealer = None if self._mongo is None else self._mongo.sealer
            self._mongo_salt = None if sealer is None else sealer.salt
            self._folder.acked_version = change.version
            self._schedule_fold()

    # ---- lease ----

    async def acquire_lease(self) -> None:
        """Own the session: wait (logging) while another process holds it, then reload and reconcile both copies."""
        if self._lease in ("held", "provisional"):
            return
        if self._lease == "lost":
            raise LeaseLostError(f"session {self.session_id!r}: the lease was lost; restart the process")
        waited = False
        while not self._folder.try_lock():
            if not waited:
                logger.warning(
                    "session {}: another process on this machine uses {}; waiting for it to stop",
                    self.session_id,
                    self._folder.dir,
                )
                waited = True
            await asyncio.sleep(self.config.lease_poll_interval)
        if waited:
            logger.info("session {}: the other process stopped; reloading the session it left", self.session_id)
        plain = self._plain_copies()  # as loaded: a take-over below may already re-encrypt MongoDB's copy
        if self._keeper is None:
            async with self._lock:
                await self._reload(None)
                self._lease = "held"
            logger.info("session {}: local lock taken on {}", self.session_id, self._folder.dir)
            await self._seal_plain_copies(plain)
            return
        token = await self._keeper.wait()
        async with self._lock:
            if token is None:
                await self._reload(self._last_mongo_load)
                self._lease = "provisional"
                self._go_offline(MongoUnavailableError("MongoDB is unreachable"))
                return
            self._lease = "held"
            self._keeper.start_renewal()
            await self._take_over()
            await self._flush_pending_status()
        await self._seal_plain_copies(plain)

    def _plain_copies(self) -> tuple[bool, bool]:
        """(folder, MongoDB): a stored copy not sealed with SESSION_ENCRYPTION_KEY although it is set."""
        if not self.config.encryption_key or self._state.creds is None:
            return False, False
        return not self._folder.encryption_matches, self._log is not None and not self._salt_matches()

    async def _seal_plain_copies(self, plain: tuple[bool, bool]) -> None:
        """SESSION_ENCRYPTION_KEY set on a plain session: both copies are rewritten sealed now, not at the next
        unit of work (which may be hours away on a quiet bot), so the key protects the session from the start."""
        if not any(plain):
            return
        if any(self._plain_copies()) and self._state.creds is not None:
            creds = self._state.creds
            await self._write_locked(lambda version, lineage: Change(version, lineage, creds, {}))
        sealed = [name for name, was, now in zip(("the folder", "MongoDB"), plain, self._plain_copies(), strict=True)
                  if was and not now]
        logger.info("session {}: SESSION_ENCRYPTION_KEY is set and the stored session was in plain text: {} "
                    "encrypted now", self.session_id, " and ".join(sealed) or "nothing could be")

    async def _flush_pending_status(self) -> None:
        if not self._mongo_online:
            return
        try:
            await self._flush_status()
        except MongoUnavailableError as exc:
            self._go_offline(exc)

    async def release_lease(self) -> None:
        """Give the session up (SIGTERM path): stop renewing and let the next process take over at once."""
        if self._keeper is not None:
            await self._keeper.stop_renewal()
            if self._lease == "held" and self._mongo_online:
                await self._keeper.release()
        if self._lease in ("held", "provisional"):
            self._lease = "released"
        self._folder.unlock()

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
                await asyncio.wait_for(self._try_resync(), CLOSE_REPLAY_BUDGET)
            except Exception as exc:  # closing goes on: the folder copy holds every change
                logger.warning("session {}: last MongoDB replay before closing failed: {!r}", self.session_id, exc)
        self._closed = True
        if self._fold_task is not None:
            await cancel_and_wait(self._fold_task, f"session {self.session_id}: fold")
        if self._log is not None and self._mongo_online and self._lease == "held":
            try:  # leave the key documents current for operators and exports (loads would apply the log anyway)
                await self._log.fold(CLOSE_MONGO_BUDGET)
            except StorageError as exc:
                logger.debug("session {}: last fold before closing skipped: {!r}", self.session_id, exc)
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
