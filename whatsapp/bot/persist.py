"""`ctx.chat_state` and `ctx.user_state` kept in the session store, so they survive a restart or a redeploy.

    install(dispatcher, state_store=client.auth)      # bot.py does it: the folder and MongoDB alike

An outer middleware of the Dispatcher's messages: before the handlers run, the chat's and the sender's
records (`KeyType.BOT_STATE`, one JSON object per chat or user holding every router's dict) are read into
the in-memory scopes the handlers already use; after them, a record that changed is written back in one
transaction. The session store is the place because it is already the bot's only durable storage (one
folder, or MongoDB on a platform whose disk is lost at each deploy): no second database to configure.

Bounded: a record is at most MAX_RECORD_BYTES (a larger one stays in memory only, with a warning), and the
records are listed in a ring (whatsapp/ring.py) of at most MAX_RECORDS: the chats and users first saved
drop out first (the ring is appended to only when a record is created, so a busy chat costs it nothing;
a dropped record still in memory is saved again at its next change). Values must be JSON (str, number,
bool, None, lists and dicts of them); a router whose state is not stays in memory only, with a warning.
Two chats writing one user's record at the same moment: the later write wins (handlers of one chat run
in order; see the Dispatcher's lanes).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from loguru import logger

from whatsapp.auth import AuthState, KeyType
from whatsapp.bot.context import Context
from whatsapp.ring import Ring

MAX_RECORDS = 20_000  # chats and users together
MAX_RECORD_BYTES = 64 * 1024


def _keys(ctx: Context) -> list[tuple[str, str]]:
    sender = ctx.event.sender
    return [("chat", str(ctx.event.chat.to_non_ad())), ("user", f"{sender.user}@{sender.server}")]


def _encode(kind: str, key: str, routers: dict[str, dict[str, object]]) -> str:
    kept: dict[str, dict[str, object]] = {}
    for router, values in sorted(routers.items()):
        if not values:
            continue
        try:
            json.dumps(values)
        except (TypeError, ValueError) as exc:
            logger.warning("router {}: {} state of {} is not JSON ({}); kept in memory only", router, kind, key, exc)
            continue
        kept[router] = values
    return json.dumps(kept, sort_keys=True, separators=(",", ":")) if kept else ""


class PersistentState:
    """The middleware (see the module's docstring)."""

    def __init__(self, auth: AuthState, max_records: int = MAX_RECORDS, max_bytes: int = MAX_RECORD_BYTES,
                 bucket_size: int = 64) -> None:
        self.auth = auth
        self.max_bytes = max_bytes
        self._ring = Ring("bot-state", KeyType.BOT_STATE, max_count=max_records, max_age=float("inf"),
                          bucket_size=bucket_size)
        self._lock = asyncio.Lock()  # the ring's head is read-modify-write

    async def __call__(self, handler: Callable[[Context], Awaitable[None]], ctx: Context) -> None:
        keys = _keys(ctx)
        ids = [f"{kind}-{key}" for kind, key in keys]
        stored = await self.auth.get(KeyType.BOT_STATE, ids)
        before: dict[str, str] = {}
        for (kind, key), record_id in zip(keys, ids, strict=True):
            raw = stored.get(record_id)
            if raw is not None:
                for router, values in json.loads(raw).items():
                    held = ctx.scopes.keyed((kind, router), key)
                    held.clear()
                    held.update(values)
            before[record_id] = _encode(kind, key, ctx.scopes.holders(kind, key))
        try:
            await handler(ctx)
        finally:
            await self._save(ctx, keys, ids, before, set(stored))

    async def _save(self, ctx: Context, keys: list[tuple[str, str]], ids: list[str], before: dict[str, str],
                    existed: set[str]) -> None:
        changed = [(record_id, kind, key, after) for (kind, key), record_id in zip(keys, ids, strict=True)
                   if (after := _encode(kind, key, ctx.scopes.holders(kind, key))) != before[record_id]]
        if not changed:
            return
        try:
            async with self._lock, self.auth.transaction() as tx:
                dropped: list[str] = []
                for record_id, kind, key, after in changed:
                    if len(after) > self.max_bytes:
                        logger.warning("{} state of {} is {} bytes, over {}; kept in memory only", kind, key,
                                       len(after), self.max_bytes)
                        continue
                    tx.set(KeyType.BOT_STATE, record_id, after.encode() if after else None)
                    if after and record_id not in existed:
                        dropped += await self._ring.add(tx, record_id, time.time())
                for record_id in dropped:  # out of the ring: gone from the store even if written just above
                    tx.set(KeyType.BOT_STATE, record_id, None)
        except Exception as exc:  # the store is down: the reply went out; the state stays in memory
            logger.error("message {}: chat/user state not saved: {}: {}", ctx.event.id, type(exc).__name__, exc)
