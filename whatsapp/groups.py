"""Group metadata for sending: who is in a group and how it is addressed, cached for a few minutes.

`parse_group` reads a `w:g2` answer (and the PN↔LID pairs its participants reveal) without I/O;
`GroupDirectory` asks the server and keeps a bounded cache that a `w:gp2` notification clears
(docs/protocol.md §Groups).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from whatsapp.addressing import store_mapping
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.errors import DecodeError
from whatsapp.jid import JID, LID, S_WHATSAPP_NET

GROUP_CACHE_TTL = 300.0
GROUP_CACHE_SIZE = 128


@dataclass(frozen=True, slots=True)
class GroupInfo:
    jid: JID
    subject: str
    addressing_mode: str  # "lid" or "pn"
    participants: tuple[JID, ...]  # user JIDs in the group's addressing
    fetched_at: float


def parse_group(result: Node, now: float | None = None) -> tuple[GroupInfo, list[tuple[str, str]]]:
    """The `<group>` of a w:g2 answer, and the (pn_user, lid_user) pairs its participants reveal."""
    group = result.child("group")
    if group is None:
        raise DecodeError("w:g2 answer without <group>")
    gid = group.attr_str("id") or ""
    jid = JID.parse(gid if "@" in gid else f"{gid}@g.us")
    mode = group.attr_str("addressing_mode") or "pn"
    participants: list[JID] = []
    pairs: list[tuple[str, str]] = []
    for item in group.children_by_tag("participant"):
        member = item.attr_jid("jid")
        if member is None:
            continue
        participants.append(member.to_non_ad())
        other = item.attr_jid("phone_number") if member.server == LID else item.attr_jid("lid")
        if other is not None:
            pn, lid = (other, member) if member.server == LID else (member, other)
            if pn.server == S_WHATSAPP_NET and lid.server == LID:
                pairs.append((pn.user, lid.user))
    info = GroupInfo(jid, group.attr_str("subject") or "", mode, tuple(participants),
                     now if now is not None else time.time())
    return info, pairs


class GroupDirectory:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._groups: OrderedDict[JID, GroupInfo] = OrderedDict()

    async def info(self, group: JID, *, refresh: bool = False) -> GroupInfo:
        cached = self._groups.get(group)
        if cached is not None and not refresh and time.time() - cached.fetched_at < GROUP_CACHE_TTL:
            return cached
        answer = await self.ctx.query(Node("iq", {"xmlns": "w:g2", "type": "get", "to": group},
                                           [Node("query", {"request": "interactive"})]))
        info, pairs = parse_group(answer)
        if pairs:
            async with self.ctx.auth.transaction() as tx:
                for pn_user, lid_user in pairs:
                    store_mapping(tx, pn_user, lid_user)
        self._groups[group] = info
        self._groups.move_to_end(group)
        while len(self._groups) > GROUP_CACHE_SIZE:
            self._groups.popitem(last=False)
        return info

    def forget(self, group: JID) -> None:
        """The group changed (`w:gp2`): fetch its metadata again next time."""
        self._groups.pop(group.to_non_ad(), None)
