"""The auth-state contract between the protocol client and a session store.

A session is the credentials plus a typed key store. The client reads keys freely but writes
only through `transaction()`: every change one protocol action makes (a pairing, a prekey
upload, a decrypt) is committed as one unit, so credentials and the keys they refer to never
diverge. Values are opaque bytes; each protocol module owns the format of its records.

`MemoryAuthState` is the reference implementation (tests, throwaway bots); the durable stores
(folder, MongoDB, both) live in the top-level `storage` package.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from enum import StrEnum

from whatsapp.creds import Credentials


class KeyType(StrEnum):
    PRE_KEY = "pre-key"  # id: decimal prekey id; value: KeyPair.to_bytes()
    SESSION = "session"  # id: signal address "user[_domain].device"
    SENDER_KEY = "sender-key"  # id: "group::user[_domain]::device"
    SENDER_KEY_MEMORY = "sender-key-memory"  # id: group JID
    APP_STATE_SYNC_KEY = "app-state-sync-key"  # id: base64 key id
    APP_STATE_SYNC_VERSION = "app-state-sync-version"  # id: collection name; value: syncd.CollectionState JSON
    CHAT_SETTING = "chat-setting"  # id: chat JID (whatsapp/appstate.py); value: JSON {pinned, muted_until, archived}
    CONTACT_NAME = "contact-name"  # id: user JID (whatsapp/appstate.py); value: JSON {full_name, first_name}
    IDENTITY = "identity-key"  # id: signal address; value: 33-byte identity key
    LID_MAPPING = "lid-mapping"  # id: PN user (value LID user) or "<lid>_reverse"
    DEVICE_LIST = "device-list"  # id: user
    TC_TOKEN = "tctoken"  # id: JID
    # Records the client enumerates through a bounded index (whatsapp/ring.py), never by listing a type:
    INDEX = "index"  # id: "<ring>" (head) or "<ring>.<n>" (bucket); value: JSON
    EVENT = "event"  # id: stable event id (whatsapp/eventlog.py); value: JSON, pending event or handled mark
    SENT_MESSAGE = "sent-message"  # id: message id (whatsapp/sentstore.py); value: JSON
    CONTACT = "contact"  # id: user JID (whatsapp/contacts.py); value: JSON {"name": push name, "t": learned}
    BOT_STATE = "bot-state"  # id: "chat-<JID>" or "user-<JID>" (whatsapp/bot/persist.py); value: JSON {router: {..}}


class ConnectionStatus(StrEnum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"
    LOGGED_OUT = "logged_out"


class Transaction:
    """Pending writes of one unit of work; reads see the pending writes first."""

    def __init__(self, state: AuthState) -> None:
        self._state = state
        self.creds: Credentials | None = None
        self.keys: dict[tuple[KeyType, str], bytes | None] = {}

    def set_creds(self, creds: Credentials) -> None:
        self.creds = creds

    def set(self, key_type: KeyType, key_id: str, value: bytes | None) -> None:
        """Write a key; None deletes it."""
        self.keys[(KeyType(key_type), key_id)] = value

    async def get(self, key_type: KeyType, ids: Iterable[str]) -> dict[str, bytes]:
        ids = list(ids)
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for key_id in ids:
            pending = (KeyType(key_type), key_id)
            if pending in self.keys:
                value = self.keys[pending]
                if value is not None:
                    found[key_id] = value
            else:
                missing.append(key_id)
        if missing:
            found.update(await self._state.get(key_type, missing))
        return found

    @property
    def empty(self) -> bool:
        return self.creds is None and not self.keys


# The transactions open in the current asyncio task (a ContextVar: each task has its own), so a nested
# `transaction()` joins only its own task's unit of work, never another task's that is suspended mid-way.
_open_transactions: ContextVar[tuple[tuple[AuthState, Transaction], ...]] = ContextVar(
    "open_auth_transactions", default=()
)


class AuthState(abc.ABC):
    """What the client needs from a session store."""

    creds: Credentials

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds

    @abc.abstractmethod
    async def get(self, key_type: KeyType, ids: Iterable[str]) -> dict[str, bytes]:
        """Committed values of the given keys; absent keys are left out."""

    @abc.abstractmethod
    async def commit(self, tx: Transaction) -> None:
        """Durably write one unit of work, all or nothing; raise if it could not be written."""

    @abc.abstractmethod
    async def clear(self) -> None:
        """Logged out: remove credentials and every key; the next start pairs anew."""

    async def set_status(self, status: ConnectionStatus) -> None:  # noqa: B027 - optional hook
        """Record the connection status where the store keeps one (MongoDB does)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """`async with state.transaction() as tx:`; commits on success, discards on error.

        A nested transaction (in the same asyncio task) joins the outer one, so helpers can open their
        own freely; concurrent tasks get separate transactions. Each commit is atomic, but two tasks
        doing a read-modify-write of the same record must serialise themselves (the client holds one
        Signal lock over every session and sender-key change); a store-wide lock here would deadlock a
        task that holds a transaction while the reader it waits on needs one.
        """
        open_now = _open_transactions.get()
        for state, open_tx in open_now:
            if state is self:
                yield open_tx
                return
        tx = Transaction(self)
        token = _open_transactions.set((*open_now, (self, tx)))
        try:
            yield tx
        finally:
            _open_transactions.reset(token)
        if not tx.empty:
            await self.commit(tx)
            if tx.creds is not None:
                self.creds = tx.creds


class MemoryAuthState(AuthState):
    """Keeps everything in memory: for tests and for bots that do not need to survive a restart."""

    def __init__(self, creds: Credentials | None = None) -> None:
        super().__init__(creds or Credentials.generate())
        self.keys: dict[KeyType, dict[str, bytes]] = {}
        self.status: ConnectionStatus | None = None
        self.commits = 0

    async def get(self, key_type: KeyType, ids: Iterable[str]) -> dict[str, bytes]:
        bucket = self.keys.get(KeyType(key_type), {})
        return {key_id: bucket[key_id] for key_id in ids if key_id in bucket}

    async def commit(self, tx: Transaction) -> None:
        for (key_type, key_id), value in tx.keys.items():
            bucket = self.keys.setdefault(key_type, {})
            if value is None:
                bucket.pop(key_id, None)
            else:
                bucket[key_id] = value
        self.commits += 1

    async def clear(self) -> None:
        self.keys.clear()
        self.creds = Credentials.generate()

    async def set_status(self, status: ConnectionStatus) -> None:
        self.status = status
