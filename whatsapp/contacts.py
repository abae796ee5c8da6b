"""Contacts' push names, learned from their messages and kept in the session store (KeyType.CONTACT).

A push name is the name a contact chose for themselves; every message carries it (`<message notify>`).
It is written when it is new or changed, never on every message, and the records are listed in a
bounded ring (whatsapp/ring.py): the contacts heard from least recently drop out first, so the store
does not grow without end however many people write. Names are kept under the sender's user JID as the
message named it (LID or PN), and under its other address too when the envelope revealed it.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict

from whatsapp.auth import AuthState, KeyType
from whatsapp.events import MessageReceived
from whatsapp.jid import JID
from whatsapp.ring import Ring

MAX_CONTACTS = 5_000
MEMORY_SIZE = 1_024  # names recently read or written, so a chatty contact costs no reads


class ContactStore:
    def __init__(self, auth: AuthState, max_contacts: int = MAX_CONTACTS) -> None:
        self.auth = auth
        # Count-bound only: a name stays until enough newer contacts push it out.
        self._ring = Ring("contacts", KeyType.CONTACT, max_count=max_contacts, max_age=float("inf"))
        self._lock = asyncio.Lock()  # the ring's head is read-modify-write
        self._memory: OrderedDict[str, str] = OrderedDict()

    def _remember(self, key: str, name: str) -> None:
        self._memory[key] = name
        self._memory.move_to_end(key)
        while len(self._memory) > MEMORY_SIZE:
            self._memory.popitem(last=False)

    async def learn(self, user: JID, name: str, now: float) -> bool:
        """Keep `name` for `user` (any device of it); True when it was new or changed."""
        key = str(user.to_non_ad())
        if not name or self._memory.get(key) == name:
            return False
        async with self._lock, self.auth.transaction() as tx:
            raw = (await tx.get(KeyType.CONTACT, [key])).get(key)
            if raw is not None and json.loads(raw).get("name") == name:
                self._remember(key, name)
                return False
            tx.set(KeyType.CONTACT, key, json.dumps({"name": name, "t": int(now)}).encode())
            if raw is None:
                for dropped in await self._ring.add(tx, key, now):
                    self._memory.pop(dropped, None)
        self._remember(key, name)
        return True

    async def push_name(self, user: JID) -> str | None:
        key = str(user.to_non_ad())
        if key in self._memory:
            return self._memory[key]
        raw = (await self.auth.get(KeyType.CONTACT, [key])).get(key)
        if raw is None:
            return None
        name = str(json.loads(raw).get("name") or "") or None
        if name:
            self._remember(key, name)
        return name

    async def users(self) -> list[JID]:
        """Every user a push name is kept for, least recently learned first (the bot's contacts)."""
        async with self.auth.transaction() as tx:
            ids = await self._ring.ids(tx)
        return [jid for jid in map(JID.try_parse, ids) if jid is not None and jid.is_user]

    async def on_message(self, event: MessageReceived) -> None:
        """Every received message: its author's push name (ours are not contacts)."""
        if event.from_me or not event.push_name:
            return
        now = float(event.timestamp or 0)
        for user in (event.sender, event.sender_alt):
            if user is not None and user.is_user:
                await self.learn(user, event.push_name, now)
