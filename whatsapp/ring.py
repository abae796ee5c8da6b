"""A bounded, persistent index of records in the auth state: oldest out first, by age and by count.

The stores (storage/) persist every `KeyType` but offer no "list the keys of a type" call, and must not
need one: a record kind that has to be enumerated or pruned (decrypted events, sent messages, sender
keys that arrived by SKDM) is listed in a `Ring`. The ring lives in `KeyType.INDEX` records:

    INDEX/<name>        head: {"next": n, "buckets": [[bucket, count, newest unix time], ...]}
    INDEX/<name>.<n>    bucket n: [[record id, tag], ...] in insertion order (at most `bucket_size`)

Adding a record writes its bucket and the head (a few KiB at most), never a list of every record, so a
unit of work stays small however many records there are. When the ring is over `max_count`, or its
oldest bucket is older than `max_age`, that bucket is dropped: its records are deleted in the same
transaction, except those `keep(id, tag)` vouches for, which move to the newest bucket. Sans-I/O: it
works inside the caller's `Transaction` (docs/architecture.md §The auth-state contract); the caller
serialises the read-modify-write of the head (each user holds a lock over its `add`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from loguru import logger

from whatsapp.auth import KeyType, Transaction

Keep = Callable[[Transaction, str, str], Awaitable[bool]]
MAX_DROPS_PER_ADD = 2  # buckets dropped by one add: pruning work per unit of work stays bounded


@dataclass(slots=True)
class _Head:
    next: int
    buckets: list[list[int]]  # [bucket number, records, newest unix time]

    @property
    def count(self) -> int:
        return sum(bucket[1] for bucket in self.buckets)


class Ring:
    def __init__(self, name: str, entry_type: KeyType, *, max_count: int, max_age: float,
                 bucket_size: int = 64, keep: Keep | None = None) -> None:
        self.name = name
        self.entry_type = entry_type
        self.max_count = max_count
        self.max_age = max_age
        self.bucket_size = bucket_size
        self.keep = keep

    def _bucket_id(self, number: int) -> str:
        return f"{self.name}.{number}"

    async def _head(self, tx: Transaction) -> _Head:
        raw = (await tx.get(KeyType.INDEX, [self.name])).get(self.name)
        if raw is not None:
            try:
                data = json.loads(raw)
                return _Head(int(data["next"]), [[int(b), int(c), int(t)] for b, c, t in data["buckets"]])
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("index {} is unreadable ({}); starting it afresh", self.name, exc)
        return _Head(0, [])

    async def _bucket(self, tx: Transaction, number: int) -> list[list[str]]:
        raw = (await tx.get(KeyType.INDEX, [self._bucket_id(number)])).get(self._bucket_id(number))
        if raw is None:
            return []
        try:
            return [[str(entry_id), str(tag)] for entry_id, tag in json.loads(raw)]
        except (ValueError, TypeError):
            logger.warning("index bucket {} is unreadable; its records are forgotten", self._bucket_id(number))
            return []

    def _write(self, tx: Transaction, head: _Head) -> None:
        tx.set(KeyType.INDEX, self.name, json.dumps({"next": head.next, "buckets": head.buckets}).encode())

    async def add(self, tx: Transaction, entry_id: str, now: float, tag: str = "") -> list[str]:
        """List `entry_id` (written by the caller in `tx`); prune; returns the ids deleted by pruning."""
        head = await self._head(tx)
        await self._append(tx, head, [[entry_id, tag]], now)
        deleted: list[str] = []
        for _ in range(MAX_DROPS_PER_ADD):
            if len(head.buckets) <= 1:
                break
            oldest = head.buckets[0]
            if head.count <= self.max_count and oldest[2] >= now - self.max_age:
                break
            deleted += await self._drop(tx, head, now)
        self._write(tx, head)
        return deleted

    async def _append(self, tx: Transaction, head: _Head, entries: list[list[str]], now: float) -> None:
        for entry in entries:
            if not head.buckets or head.buckets[-1][1] >= self.bucket_size:
                head.buckets.append([head.next, 0, int(now)])
                head.next += 1
                current: list[list[str]] = []
            else:
                current = await self._bucket(tx, head.buckets[-1][0])
            current.append(entry)
            last = head.buckets[-1]
            last[1], last[2] = len(current), int(now)
            tx.set(KeyType.INDEX, self._bucket_id(last[0]), json.dumps(current).encode())

    async def _drop(self, tx: Transaction, head: _Head, now: float) -> list[str]:
        number = head.buckets.pop(0)[0]
        entries = await self._bucket(tx, number)
        tx.set(KeyType.INDEX, self._bucket_id(number), None)
        kept: list[list[str]] = []
        deleted: list[str] = []
        for entry_id, tag in entries:
            if self.keep is not None and await self.keep(tx, entry_id, tag):
                kept.append([entry_id, tag])
            else:
                tx.set(self.entry_type, entry_id, None)
                deleted.append(entry_id)
        if kept:
            await self._append(tx, head, kept, now)
        return deleted

    async def ids(self, tx: Transaction) -> list[str]:
        """Every listed id, oldest first (at most max_count plus two buckets)."""
        head = await self._head(tx)
        found: list[str] = []
        for number, _, _ in head.buckets:
            found += [entry_id for entry_id, _ in await self._bucket(tx, number)]
        return found
