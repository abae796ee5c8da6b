"""The MongoDB lease of one session: wait for it, renew it, release it; its token fences every write.

The lease document (`whatsapp_session_leases`) names the owner and an expiry; taking it increments a
token that only grows. The token goes into every change-log entry the owner writes
(storage/changelog.py), so a process whose lease was taken cannot commit even if it does not know yet.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from loguru import logger

from storage.config import StoreConfig
from storage.errors import MongoUnavailableError, StorageError
from storage.mongo import MongoStore
from whatsapp.tasks import cancel_and_wait

LOG_EVERY = 30.0  # seconds between "in use by another instance" lines while waiting


class LeaseKeeper:
    def __init__(
        self,
        mongo: MongoStore,
        config: StoreConfig,
        *,
        on_lost: Callable[[str], Awaitable[None]],
        on_unavailable: Callable[[Exception], None],
    ) -> None:
        self.mongo = mongo
        self.config = config
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.token: int | None = None
        self._on_lost = on_lost
        self._on_unavailable = on_unavailable
        self._renew_task: asyncio.Task[None] | None = None

    @property
    def session_id(self) -> str:
        return self.config.session_id

    async def wait(self) -> int | None:
        """Take the lease, waiting (and saying so) while a live process holds it; None if MongoDB does not answer."""
        poll = self.config.lease_poll_interval
        last_log = -1e9
        loop = asyncio.get_running_loop()
        while True:
            try:
                token = await self.mongo.try_acquire_lease(self.owner, self.config.lease_ttl)
                if token is not None:
                    break
                holder = await self.mongo.lease_holder() or {}
            except MongoUnavailableError as exc:
                logger.warning(
                    "session {}: {}; cannot take the session lease, running on the folder copy and will take the "
                    "lease when MongoDB is back",
                    self.session_id,
                    exc,
                )
                return None
            if loop.time() - last_log >= max(LOG_EVERY, poll):
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
        self.token = token
        logger.info("session {}: lease taken (token {})", self.session_id, token)
        return token

    async def try_take(self) -> int | None:
        """One attempt (after an outage): the new token, or None when another process holds the lease."""
        token = await self.mongo.try_acquire_lease(self.owner, self.config.lease_ttl)
        if token is not None:
            self.token = token
            logger.info("session {}: lease taken (token {})", self.session_id, token)
        return token

    async def still_ours(self) -> bool:
        assert self.token is not None
        return await self.mongo.renew_lease(self.owner, self.token, self.config.lease_ttl)

    def start_renewal(self) -> None:
        if self._renew_task is None or self._renew_task.done():
            self._renew_task = asyncio.get_running_loop().create_task(self._renew_loop())

    async def _renew_loop(self) -> None:
        while self.token is not None:
            await asyncio.sleep(self.config.lease_renew_interval)
            try:
                ours = await self.still_ours()
            except MongoUnavailableError as exc:
                self._on_unavailable(exc)
                continue
            if not ours:
                await self._on_lost("another process took the lease after it expired")
                return

    async def stop_renewal(self) -> None:
        if self._renew_task is asyncio.current_task():  # giving up from inside the renewal itself
            self._renew_task = None
        if self._renew_task is not None:
            await cancel_and_wait(self._renew_task, f"session {self.session_id}: lease renewal")
            self._renew_task = None

    async def release(self) -> None:
        """Let the next process in at once (SIGTERM path, or after giving the session up)."""
        await self.stop_renewal()
        if self.token is None:
            return
        try:
            await self.mongo.release_lease(self.owner, self.token)
            logger.info("session {}: lease released", self.session_id)
        except StorageError as exc:
            logger.warning("session {}: could not release the lease ({}); it expires by itself", self.session_id, exc)
