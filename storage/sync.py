"""Keeping MongoDB and the folder at the same change: take-over, outbox replay, upload, fencing, folding.

`MongoSync` is the half of `SessionStore` (storage/store.py) that talks to MongoDB beyond a single
commit. The store holds the write lock (`_lock`) around everything that changes the state; only the
catch-up of a long outbox runs without it, so commits keep flowing to the folder meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from loguru import logger

from storage.changelog import ChangeLog, Head, MongoLoad, VersionConflict
from storage.config import StoreConfig
from storage.decision import Action, Decision, Source, decide
from storage.errors import LeaseLostError, MongoUnavailableError, StorageError
from storage.folder import FolderStore
from storage.lease import LeaseKeeper
from storage.loading import Loaded, choose_sealers, folder_view, mongo_view, read_folder, refusal, resolve
from storage.model import Change, Snapshot
from storage.mongo import MongoStore

TAKEOVER_ATTEMPTS = 20  # a process that lost its lease may still slip a commit in before our fence lands
FOLD_DELAY = 0.05  # seconds: a burst of commits is folded in one pass
PURGE_EVERY = 500  # folds


class MongoSync:
    config: StoreConfig
    lease_lost: asyncio.Event
    loaded_from: str
    _folder: FolderStore
    _mongo: MongoStore | None
    _log: ChangeLog | None
    _keeper: LeaseKeeper | None
    _state: Snapshot
    _lock: asyncio.Lock
    _lease: str  # none | held | provisional (MongoDB unreachable: folder only) | lost | released
    _closed: bool
    _folder_stale: bool
    _mongo_online: bool  # in sync with MongoDB: commits go there first
    _mongo_seen: Head | None  # where MongoDB stood when our state last matched it
    _mongo_salt: bytes | None  # salt of MongoDB's newest record
    _last_mongo_load: MongoLoad | None
    _pending_status: dict[str, Any]
    _reconnect_task: asyncio.Task[None] | None
    _fold_task: asyncio.Task[None] | None
    _fold_again: bool
    _folds: int
    _fence_pending: bool  # the lease was taken anew and nothing of ours is in the change log yet

    @property
    def session_id(self) -> str:
        return self.config.session_id

    def _adopt(self, loaded: Loaded) -> None:  # implemented by SessionStore
        raise NotImplementedError

    async def _apply_locally(self, change: Change, mongo_done: bool) -> None:  # implemented by SessionStore
        raise NotImplementedError

    @property
    def _token(self) -> int | None:
        return None if self._keeper is None else self._keeper.token

    def _salt_matches(self) -> bool:
        sealer = None if self._mongo is None else self._mongo.sealer
        return (sealer.salt if sealer is not None else None) == self._mongo_salt

    # ---- loading under the lock ----

    async def _reload(self, mongo_load: MongoLoad | None) -> Decision:
        """Read the folder afresh (the lock is ours now), decide against `mongo_load`, adopt the winner."""
        read = await asyncio.to_thread(read_folder, self._folder)
        if read.load is not None and read.load.needs_repair and not read.load.superseded:
            await asyncio.to_thread(self._folder.repair, read.load)  # with the folder's own sealer, first
        await asyncio.to_thread(choose_sealers, self.config, self._folder, self._mongo, mongo_load)
        decision = decide(folder_view(read, self._folder), mongo_view(self._mongo, mongo_load))
        if decision.action is Action.REFUSE:
            raise refusal(read, self._folder)
        if decision.action is Action.WAIT:
            raise MongoUnavailableError(
                f"session {self.session_id}: MongoDB does not answer and {self._folder.dir} holds no usable copy "
                f"({decision.reason}); start again once MongoDB is reachable"
            )
        loaded = resolve(self.config, decision, read, self._folder, self._mongo, mongo_load)
        if decision.heal:
            moved = await asyncio.to_thread(self._folder.move_aside)
            await asyncio.to_thread(choose_sealers, self.config, self._folder, self._mongo, mongo_load)
            logger.warning(
                "session {}: the session folder is damaged ({}); moved it to {} and rebuilding it from MongoDB's copy "
                "(version {})",
                self.session_id,
                decision.reason,
                moved,
                loaded.state.version,
            )
        self._adopt(loaded)
        return decision

    async def _take_over(self) -> None:
        """Lease held: reload both copies, bring MongoDB up to date, and fence the change log with our token."""
        assert self._log is not None
        for _attempt in range(TAKEOVER_ATTEMPTS):
            try:
                mongo_load = await self._log.load()
            except MongoUnavailableError as exc:
                await self._reload(self._last_mongo_load)
                self._go_offline(exc)
                return
            self._last_mongo_load = mongo_load
            decision = await self._reload(mongo_load)
            try:
                outcome = "in sync"
                if mongo_load.legacy and decision.source is not Source.FOLDER:
                    await self._upload(mongo_load.head, "converting MongoDB's copy to the change-log layout")
                    outcome = "uploaded"
                elif decision.source is Source.FOLDER or not self._salt_matches():
                    outcome = await self._push_outbox(mongo_load.head, allow_upload=True)
                if outcome == "fork":
                    continue  # MongoDB moved on after we read it: decide again
                if outcome == "in sync":
                    await self._fence()
            except VersionConflict:
                await asyncio.sleep(0.05)  # the previous owner committed before our fence landed: read again
                continue
            except MongoUnavailableError as exc:
                self._go_offline(exc)
                return
            self._now_in_sync()
            return
        raise StorageError(
            f"session {self.session_id}: MongoDB's change log kept moving while this process took the session "
            "over; another process still writes it"
        )

    async def _fence(self) -> None:
        """An empty change at the next version: from now on only our lease token can write the change log
        (a process that lost the lease finds its next slot taken). Taken already: VersionConflict."""
        assert self._log is not None and self._token is not None
        state = self._state
        fence = Change(state.version + 1, state.lineage, parent=state.head)
        await self._log.commit(fence, self._token)
        await self._apply_locally(fence, True)

    def _now_in_sync(self) -> None:
        self._mongo_online = True
        self._mongo_seen = Head(self._state.lineage, self._state.version, self._token or 0, self._state.head)
        self._mongo_salt = None if self._mongo is None or self._mongo.sealer is None else self._mongo.sealer.salt
        self._folder.acked_version = self._state.version
        self._folder.prune()
        self._schedule_fold()

    # ---- the outbox ----

    async def _push_outbox(self, head: Head, *, allow_upload: bool) -> str:
        """Send MongoDB what it lacks: 'replayed', 'uploaded', 'in sync' (nothing to send), 'pending' (left
        for the pass under the lock) or 'fork' (our history does not continue MongoDB's).

        The folder's journal entries after MongoDB's head are replayed in order (the first one fences the
        log); the whole session is uploaded when the journal does not cover the gap (outbox overflow), when
        MongoDB holds no session, or when the encryption scheme changed. Without `allow_upload` (no lock
        held) only a contiguous run of entries is replayed.
        """
        assert self._log is not None and self._token is not None
        state = self._state
        if not head.lineage and head.version == 0:
            if state.version == 0 and state.creds is None:
                return "in sync"
            if not allow_upload:
                return "pending"
            await self._upload(head, f"MongoDB has no copy of session {self.session_id!r}")
            return "uploaded"
        if (head.lineage, head.version, head.change_id) == (state.lineage, state.version, state.head):
            if self._salt_matches():
                return "in sync"
            if not allow_upload:
                return "pending"
            await self._upload(head, "re-encrypting the MongoDB copy")
            return "uploaded"
        if head.lineage != state.lineage or head.version >= state.version:
            return "fork"
        journal = await asyncio.to_thread(self._folder.read_journal)
        entries = [c for c in journal if c.version > head.version and c.lineage == state.lineage]
        if entries and entries[0].version == head.version + 1 and entries[0].parent != head.change_id:
            return "fork"
        run = entries[:1] if entries and entries[0].version == head.version + 1 else []
        for a, b in itertools.pairwise(entries):
            if not run or run[-1] is not a or not (b.version == a.version + 1 and b.parent == a.id):
                break
            run.append(b)
        complete = bool(run) and run[-1].version == state.version
        if not self._salt_matches() or (allow_upload and not complete):
            if not allow_upload:
                return "pending"
            await self._upload(head, f"the local journal does not cover versions {head.version + 1}..{state.version}")
            return "uploaded"
        if not run:
            return "pending"
        for change in run:
            await self._log.commit(change, self._token)
        logger.info(
            "session {}: replayed {} change(s) to MongoDB (now at version {})",
            self.session_id,
            len(run),
            run[-1].version,
        )
        return "replayed"

    async def _upload(self, head: Head, reason: str) -> None:
        """The whole session as one reset change, after a fence when the version numbers leave a gap."""
        assert self._log is not None and self._token is not None
        state = self._state
        version = max(head.version, state.version) + 1
        if version > head.version + 1:
            gap = Change(head.version + 1, head.lineage, parent=head.change_id)
            await self._log.commit(gap, self._token)
        upload = Change(version, state.lineage, state.creds, dict(state.keys), reset=True, parent=state.head)
        await self._log.commit(upload, self._token)
        await self._apply_locally(upload, True)
        logger.info(
            "session {}: uploaded the whole session to MongoDB ({}; version {}, {} keys)",
            self.session_id,
            reason,
            version,
            len(state.keys),
        )

    # ---- outages ----

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
        if self._lease in ("held", "provisional") and (self._reconnect_task is None or self._reconnect_task.done()):
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while not self._closed and self._lease in ("held", "provisional"):
            await asyncio.sleep(self.config.mongo_retry_interval)
            if await self._try_resync():
                return

    async def _try_resync(self) -> bool:
        """Back from an outage: retake or check the lease, replay the outbox, go online. True when finished."""
        assert self._mongo is not None and self._log is not None and self._keeper is not None
        try:
            await self._mongo.ping()
            if self._lease == "provisional":
                if await self._keeper.try_take() is None:
                    await self._lose_lease("another process holds the session in MongoDB")
                    return True
                self._lease = "held"
                self._fence_pending = True  # a new token: the change log must carry it before we rely on it
                self._keeper.start_renewal()
            elif self._lease == "held" and not await self._keeper.still_ours():
                await self._lose_lease("another process took the lease while MongoDB was unreachable")
                return True
            elif self._lease != "held":
                return True
            # Most of a long outbox goes without the lock, so commits keep flowing to the folder meanwhile.
            if await self._catch_up(allow_upload=False) == "replayed":
                self._fence_pending = False  # our token already stands on the log's newest entries
            async with self._lock:
                if self._mongo_online or self._lease != "held":
                    return True
                if await self._catch_up(allow_upload=True) != "in sync":
                    self._fence_pending = False
                if self._fence_pending:
                    await self._fence()
                    self._fence_pending = False
                self._now_in_sync()
                await self._flush_status()
        except MongoUnavailableError:
            return False
        except LeaseLostError:
            return True
        except VersionConflict:  # a fence that found its slot taken: the histories forked
            await self._lose_lease("MongoDB's change log moved on while this process ran on the folder")
            return True
        logger.info(
            "session {}: MongoDB reachable again; both copies at version {}", self.session_id, self._state.version
        )
        return True

    async def _catch_up(self, *, allow_upload: bool) -> str:
        assert self._log is not None
        try:
            outcome = await self._push_outbox(await self._log.read_head(), allow_upload=allow_upload)
        except VersionConflict:
            outcome = "fork"
        if outcome == "fork":
            await self._lose_lease(
                f"MongoDB's copy changed while this process ran on the folder (version {self._state.version}); "
                f"MongoDB's copy wins, the local changes go to {self._folder.dir / 'forked'}"
            )
            raise LeaseLostError(f"session {self.session_id!r}: MongoDB's copy changed while we were offline")
        return outcome

    async def _lose_lease(self, reason: str) -> None:
        if self._lease == "lost":
            return
        self._lease = "lost"
        self._mongo_online = False
        self.lease_lost.set()
        logger.error("session {}: lease lost ({}); stopping all writes", self.session_id, reason)
        try:
            await asyncio.to_thread(self._folder.mark_superseded, reason)
        except (OSError, StorageError) as exc:
            logger.warning("session {}: could not mark the folder copy superseded: {}", self.session_id, exc)
        if self._keeper is not None:
            await self._keeper.release()  # if the lease is still ours (we gave up over a fork), next one in at once

    async def _flush_status(self) -> None:
        assert self._mongo is not None
        pending = dict(self._pending_status)
        if pending and self._lease == "held" and await self._mongo.set_status(self._token, pending):
            self._pending_status.clear()

    # ---- folding ----

    def _schedule_fold(self) -> None:
        if self._log is None or self._closed:
            return
        if self._fold_task is not None and not self._fold_task.done():
            self._fold_again = True
            return
        self._fold_task = asyncio.get_running_loop().create_task(self._fold_loop())

    async def fold_now(self) -> None:
        """Fold at once (bounded), so the key and session documents show every committed change."""
        if self._log is None or not self._mongo_online:
            return
        try:
            await self._log.fold(max(self.config.mongo_write_timeout, 1.0))
        except StorageError as exc:  # the change log still holds everything
            logger.debug("session {}: fold postponed: {!r}", self.session_id, exc)

    async def _fold_loop(self) -> None:
        assert self._log is not None
        while not self._closed:
            self._fold_again = False
            await asyncio.sleep(FOLD_DELAY)
            try:
                await self._log.fold()
                self._folds += 1
                if self._folds % PURGE_EVERY == 1:
                    await self._log.purge()
            except StorageError as exc:  # the log keeps every change; the next commit folds again
                logger.debug("session {}: fold postponed: {}", self.session_id, exc)
                return
            if not self._fold_again:
                return
