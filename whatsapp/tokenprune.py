"""Pruning the stored trust-token records: the index that lists them and the bounded pass that deletes the
expired ones (whatsmeow `tctoken.go` deleteExpiredPrivacyTokens, a day apart, off the send path).

A `KeyType.TC_TOKEN` record is kept per contact that ever issued us a token or was issued ours; without
pruning they pile up for every contact the account ever talked to. The stores cannot list a key type, so
each record is listed once, when first written, in a `Ring` (whatsapp/ring.py) named "tctokens" (the
record's `indexed` flag says it is). Adding never prunes here: a token record's age in the ring says
nothing about its validity. Instead a pass (`TokenIndex.prune`) takes the ring's oldest buckets listed more
than a bucket of the token window ago, deletes their records that `TokenRecord.prunable` says nothing
needs any more (the contact's token outside the 4 × 7-day window, ours due again anyway) and lists the rest
again at the ring's end, to be looked at a week later. Each transaction drops a few buckets of 64 records,
so a pass is bounded work, whatever the number of contacts. Sans-I/O: it works in the caller's
transaction; the caller (whatsapp/trust.py) serialises it with the other writes of token records.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import replace

from whatsapp.auth import KeyType, Transaction
from whatsapp.ring import Ring
from whatsapp.tctoken import TokenRecord, TokenWindow

INDEX_NAME = "tctokens"
PRUNE_INTERVAL = 86_400.0  # seconds between two passes (whatsmeow tcTokenDBPruneInterval)
BUCKETS_PER_TRANSACTION = 4  # at most 256 records read, deleted or listed again per transaction
BUCKETS_PER_PASS = 64  # one pass looks at no more than 4,096 records; the rest waits for the next one


class TokenIndex(Ring):
    def __init__(self, window: Callable[[], TokenWindow]) -> None:
        # Unbounded for `add`: only `prune` removes, and only what is expired.
        super().__init__(INDEX_NAME, KeyType.TC_TOKEN, max_count=sys.maxsize, max_age=math.inf,
                         keep=self._still_needed)
        self.window = window  # the AB props may change the window (whatsapp/abprops.py)
        self._now = 0

    async def save(self, tx: Transaction, record_id: str, record: TokenRecord, now: int) -> None:
        """Write `record` in `tx`, listing it in the index the first time."""
        if not record.indexed:
            record = replace(record, indexed=True)
            await self.add(tx, record_id, now)
        tx.set(KeyType.TC_TOKEN, record_id, record.to_bytes())

    async def prune(self, tx: Transaction, now: int, max_buckets: int = BUCKETS_PER_TRANSACTION
                    ) -> tuple[list[str], bool]:
        """Drop up to `max_buckets` buckets listed before the recheck age; (records deleted, more to do)."""
        self._now = now
        head = await self._head(tx)
        recheck_before = now - self.window().bucket
        deleted: list[str] = []
        dropped = 0
        while head.buckets and head.buckets[0][2] < recheck_before:
            if dropped == max_buckets:
                self._write(tx, head)
                return deleted, True
            deleted += await self._drop(tx, head, now)  # the records still needed move to the end
            dropped += 1
        if dropped:
            self._write(tx, head)
        return deleted, False

    async def _still_needed(self, tx: Transaction, record_id: str, _tag: str) -> bool:
        raw = (await tx.get(KeyType.TC_TOKEN, [record_id])).get(record_id)
        record = TokenRecord.from_bytes(raw) if raw is not None else None
        return record is not None and not record.prunable(self.window(), self._now)
