"""Group metadata: who is in a group, its admins and settings, cached for a few minutes.

`GroupDirectory` asks the server (`<iq xmlns="w:g2" type="get" to=GROUP><query request="interactive"/>`) and
keeps a bounded cache that a `w:gp2` notification clears. Lookups of one group are merged: while an answer
is awaited, every other caller waits for that same answer, so a burst of sends to a new group costs one IQ
(peers that ask once per send hit `rate-overlimit`, Baileys #1419, #1061). A 429 answer is retried after a
growing pause. When members leave or are removed, our sender key of the group is dropped, so the next send
starts a new chain the removed members never get (docs/protocol.md §Groups).
The parsing is pure, in whatsapp/group_meta.py.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from loguru import logger

from whatsapp.addressing import own_addresses, sender_key_id, store_mapping
from whatsapp.auth import KeyType
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.errors import IqError
from whatsapp.events import Event, GroupParticipantsChanged
from whatsapp.group_meta import GroupInfo, GroupMember, parse_group
from whatsapp.jid import JID

__all__ = ["GROUP_CACHE_SIZE", "GROUP_CACHE_TTL", "GroupDirectory", "GroupInfo", "GroupMember", "parse_group"]

GROUP_CACHE_TTL = 300.0
GROUP_CACHE_SIZE = 128
RATE_OVERLIMIT = 429
# Pauses before the retries of a w:g2 IQ the server answered 429; then the error reaches the caller.
RATE_LIMIT_DELAYS: tuple[float, ...] = (1.0, 3.0, 9.0)


class GroupDirectory:
    def __init__(self, ctx: Context, rate_limit_delays: Sequence[float] = RATE_LIMIT_DELAYS) -> None:
        self.ctx = ctx
        self.rate_limit_delays = tuple(rate_limit_delays)
        self._groups: OrderedDict[JID, GroupInfo] = OrderedDict()
        self._inflight: dict[JID, asyncio.Future[GroupInfo]] = {}  # the answer being awaited, per group
        # Bumped by every invalidation: an answer that was in flight meanwhile is not cached.
        self._generation: dict[JID, int] = {}
        self.fetches = 0

    async def query(self, node: Node) -> Node:
        """One w:g2 IQ, retried after a pause while the server answers 429 rate-overlimit."""
        for delay in (*self.rate_limit_delays, None):
            try:
                return await self.ctx.query(node)
            except IqError as exc:
                if exc.code != RATE_OVERLIMIT or delay is None:
                    raise
                logger.warning("group IQ to {} rate-limited (429): trying again in {:.0f}s", node.attrs.get("to"),
                               delay)
                await self.ctx.clock.sleep(delay)
                node = Node(node.tag, {k: v for k, v in node.attrs.items() if k != "id"}, node.content)
        raise AssertionError("unreachable")

    async def info(self, group: JID, *, refresh: bool = False) -> GroupInfo:
        group = group.to_non_ad()
        cached = self._groups.get(group)
        if cached is not None and not refresh and self.ctx.clock.now() - cached.fetched_at < GROUP_CACHE_TTL:
            return cached
        pending = self._inflight.get(group)
        if pending is None:
            # The first caller's fetch runs in a task of its own: one caller cancelled never fails the others.
            pending = asyncio.ensure_future(self._fetch(group))
            self._inflight[group] = pending
            pending.add_done_callback(lambda done: self._settled(group, done))
        return await asyncio.shield(pending)

    def _settled(self, group: JID, done: asyncio.Future[GroupInfo]) -> None:
        if self._inflight.get(group) is done:
            del self._inflight[group]
        if not done.cancelled():
            done.exception()  # retrieved here: a failure nobody awaits any more is not logged as unhandled

    async def _fetch(self, group: JID) -> GroupInfo:
        generation = self._generation.get(group, 0)
        answer = await self.query(Node("iq", {"xmlns": "w:g2", "type": "get", "to": group},
                                       [Node("query", {"request": "interactive"})]))
        self.fetches += 1
        return await self.remember(answer, cache=self._generation.get(group, 0) == generation)

    async def remember(self, answer: Node, *, cache: bool = True) -> GroupInfo:
        """Parse a `<group>` answer, store the PN↔LID pairs it reveals and (`cache`) keep it."""
        info, pairs = parse_group(answer, self.ctx.clock.now())
        if pairs:
            async with self.ctx.auth.transaction() as tx:
                for pn_user, lid_user in pairs:
                    store_mapping(tx, pn_user, lid_user)
        if cache:
            self._groups[info.jid] = info
            self._groups.move_to_end(info.jid)
            while len(self._groups) > GROUP_CACHE_SIZE:
                self._groups.popitem(last=False)
        return info

    def forget(self, group: JID) -> None:
        """The group changed (`w:gp2`): fetch its metadata again next time."""
        group = group.to_non_ad()
        self._groups.pop(group, None)
        self._inflight.pop(group, None)
        self._generation[group] = self._generation.get(group, 0) + 1

    async def changed(self, group: JID, found: Sequence[Event]) -> None:
        """A `w:gp2` notification: forget the metadata; a member gone → a new sender key for the next send."""
        self.forget(group)
        if any(isinstance(e, GroupParticipantsChanged) and e.action in ("left", "removed") for e in found):
            await self.rotate_sender_key(group)

    async def rotate_sender_key(self, group: JID) -> None:
        """Drop our sender key of `group` and the list of devices holding it: the next send creates a new
        key and gives it (SKDM) to the current members only, so a removed member cannot read on."""
        group = group.to_non_ad()
        me_pn, me_lid = own_addresses(self.ctx.auth.creds)
        async with self.ctx.locks.signal, self.ctx.auth.transaction() as tx:
            for me in (me_pn, me_lid):
                if me is not None:
                    tx.set(KeyType.SENDER_KEY, sender_key_id(group, me), None)
            tx.set(KeyType.SENDER_KEY_MEMORY, str(group), None)
        logger.info("group {}: a member left, our sender key will be renewed at the next send", group)
