"""Opening a session: read both copies (writing nothing), wait for MongoDB when it must, build the store.

`open_store` reads the folder and MongoDB and lets storage/decision.py pick the copy to start from.
When MONGODB_URI is set and there is no usable local copy (a redeploy onto a fresh disk during a
database restart), it waits for MongoDB, logging once, with backoff capped near 30 s: starting without
it could pair anew over the session stored there. `SessionStore.acquire_lease()` then takes the locks
and decides again from fresh reads (storage/sync.py).
"""

from __future__ import annotations

import asyncio
import contextlib

from loguru import logger

from storage.changelog import ChangeLog, MongoLoad
from storage.config import StoreConfig
from storage.decision import Action, decide
from storage.errors import MongoUnavailableError
from storage.folder import FolderStore
from storage.loading import choose_sealers, folder_view, mongo_view, new_lineage, read_folder, refusal, resolve
from storage.mongo import MongoStore
from storage.store import SessionStore

__all__ = ["SessionStore", "new_lineage", "open_store"]

WAIT_FIRST = 1.0  # seconds: the first wait for MongoDB; doubled after each failed attempt ...
WAIT_CAP = 30.0  # ... up to this


async def wait_for_mongo(mongo: MongoStore, config: StoreConfig, reason: str, first_error: Exception) -> None:
    """Until MongoDB answers: each attempt lets the driver wait for the server (so its return is seen at
    once), attempts grow from 1 s to 30 s. One line when the wait starts, one when it ends."""
    logger.warning(
        "session {}: waiting for MongoDB at {} ({}; {}); retrying with backoff up to {:.0f} s",
        config.session_id,
        mongo.where,
        reason,
        first_error,
        WAIT_CAP,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    attempt = WAIT_FIRST
    while True:
        try:
            await mongo.wait_reachable(attempt)
            break
        except MongoUnavailableError:
            attempt = min(attempt * 2, WAIT_CAP)
    logger.info(
        "session {}: MongoDB at {} answers (after {:.0f} s); loading",
        config.session_id,
        mongo.where,
        loop.time() - started,
    )


async def open_store(config: StoreConfig, *, wait_for_mongodb: bool = True) -> SessionStore:
    """Load the session: MongoDB first, then the folder, else fresh credentials. Writes nothing.

    `wait_for_mongodb=False` (operator commands) raises MongoUnavailableError instead of waiting.
    """
    folder = FolderStore(
        config.auth_dir, config.session_id, config.encryption_key, checkpoint_every=config.checkpoint_every
    )
    mongo: MongoStore | None = None
    if config.mongodb_uri:
        mongo = MongoStore(
            config.mongodb_uri,
            config.mongodb_db,
            config.session_id,
            config.encryption_key,
            timeout=config.mongo_timeout,
            write_timeout=config.mongo_write_timeout,
        )
    try:
        return await _open(config, folder, mongo, wait_for_mongodb)
    except BaseException:
        if mongo is not None:
            with contextlib.suppress(Exception):  # bounded: a stop while waiting for MongoDB exits at once
                await asyncio.wait_for(mongo.close(), 1.0)
        raise


async def _open(config: StoreConfig, folder: FolderStore, mongo: MongoStore | None, wait: bool) -> SessionStore:
    topology: str | None = None
    while True:
        read = await asyncio.to_thread(read_folder, folder)
        mongo_load: MongoLoad | None = None
        error: MongoUnavailableError | None = None
        if mongo is not None:
            try:
                if topology is None:
                    await mongo.ensure_indexes()
                    topology = await mongo.topology()
                    logger.info(
                        "session {}: MongoDB at {} is a {}; each unit of work is committed as one change-log "
                        "document (no multi-document transaction)",
                        config.session_id,
                        mongo.where,
                        topology,
                    )
                mongo_load = await ChangeLog(mongo).load()
            except MongoUnavailableError as exc:
                error = exc
        await asyncio.to_thread(choose_sealers, config, folder, mongo, mongo_load)  # scrypt off the event loop
        decision = decide(folder_view(read, folder), mongo_view(mongo, mongo_load))
        if decision.action is Action.REFUSE:
            raise refusal(read, folder)
        if decision.action is Action.WAIT:
            assert mongo is not None and error is not None
            if not wait:
                raise MongoUnavailableError(
                    f"{error}. There is no usable local copy in {folder.dir} either ({decision.reason}), so starting "
                    "now could replace a session stored in MongoDB with a new pairing; start again once MongoDB is "
                    "reachable"
                ) from None
            await wait_for_mongo(mongo, config, decision.reason, error)
            continue
        break
    if error is not None:
        logger.warning("session {}: {}; starting from the folder copy", config.session_id, error)
    loaded = resolve(config, decision, read, folder, mongo, mongo_load)
    if decision.heal:
        logger.info(
            "session {}: {}; MongoDB's copy will replace it once the folder lock is held",
            config.session_id,
            read.damage,
        )
    store = SessionStore(config, folder, mongo, loaded, topology=topology)
    state = loaded.state
    logger.info(
        "session {}: loaded from {} (version {}, {} keys{})",
        config.session_id,
        loaded.loaded_from,
        state.version,
        len(state.keys),
        "" if mongo is None else ("; MongoDB reachable" if mongo_load is not None else "; MongoDB unreachable"),
    )
    return store
