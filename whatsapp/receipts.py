"""`<receipt>` stanzas both ways: receipts for what we sent become `Receipt` events; we send read/played.

Incoming (whatsmeow `receipt.go` parseReceipt, Baileys `src/Socket/messages-recv.ts` handleReceipt):
`<receipt from id t [participant] [recipient] [type]>[<list><item id/>…</list>]`. No type means
delivered; `read`, `played`, and from our own devices `read-self`, `played-self`, `sender`. In a group
`from` is the group and `participant` the member, so each member's receipt is its own event; a grouped
receipt (`<participants key><user jid t/>…</participants>`, no participant) is one event per user.
Every receipt is acknowledged first (router prelude). A retry receipt (`type="retry"`) means a device
could not decrypt a message we sent: answered in a task (whatsapp/resend.py), so the reader never waits
for the prekey fetch it may need; it stays raw (`NodeReceived`).

Outgoing (whatsmeow `MarkRead`, Baileys `readMessages`): `<receipt id=FIRST to=CHAT type=read|played t
[participant=AUTHOR in groups]>` and the other ids as `<list><item id/></list>`; all from one author.
`read-self` instead of `read` when our read receipts are private (contacts see no blue ticks, our other
devices still learn the chat was read).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from whatsapp import events
from whatsapp.addressing import own_addresses, own_users
from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.context import Context
from whatsapp.jid import JID
from whatsapp.router import Route, StanzaRouter

READ, PLAYED, READ_SELF = "read", "played", "read-self"
MAX_IDS = 1000  # ids in one read receipt (a chat's backlog read at once is split, as the apps do)


class RetryAnswerer(Protocol):
    async def handle_retry(self, node: Node) -> bool: ...


def read_receipts(chat: JID, ids: Sequence[str], sender: JID | None, kind: str, now: int) -> list[Node]:
    """The read (or played) receipts for messages of one author in one chat, at most MAX_IDS per stanza."""
    nodes = []
    for start in range(0, len(ids), MAX_IDS):
        batch = list(ids[start:start + MAX_IDS])
        attrs: dict[str, AttrValue] = {"id": batch[0], "to": chat.to_non_ad(), "type": kind, "t": str(now)}
        if sender is not None and not chat.is_user:  # a group names the author; a 1:1 chat is the author
            attrs["participant"] = sender.to_non_ad()
        items = [Node("item", {"id": i}) for i in batch[1:]]
        nodes.append(Node("receipt", attrs, [Node("list", {}, items)] if items else None))
    return nodes


def parse_receipts(node: Node, own: set[str]) -> list[events.Receipt]:
    """The `Receipt` events one `<receipt>` stands for (none for one without from/id)."""
    source = node.try_attr_jid("from")
    main_id = node.attr_str("id")
    if source is None or not main_id:
        return []
    kind = node.attr_str("type") or "delivered"
    timestamp = node.attr_int("t", 0) or 0
    participant = node.try_attr_jid("participant")
    is_group = source.is_group
    if is_group and participant is None:
        found = []
        for group in node.children_by_tag("participants"):
            key = group.attr_str("key") or main_id
            for user in group.children_by_tag("user"):
                jid = user.try_attr_jid("jid")
                if jid is not None:
                    found.append(events.Receipt(source, jid, (key,), kind, user.attr_int("t", 0) or timestamp,
                                                True, jid.user in own, node))
        return found
    sender = participant if is_group and participant is not None else source
    ids = [main_id]
    listed = node.child("list")
    if listed is not None:
        ids += [i for i in (item.attr_str("id") for item in listed.children_by_tag("item")) if i]
    from_me = sender.user in own
    recipient = node.try_attr_jid("recipient")
    chat = source if is_group else (recipient if from_me and recipient is not None else source).to_non_ad()
    return [events.Receipt(chat, sender, tuple(ids), kind, timestamp, is_group, from_me, node)]


class Receipts:
    def __init__(self, ctx: Context, resender: RetryAnswerer) -> None:
        self.ctx = ctx
        self.resender = resender

    def install(self, router: StanzaRouter) -> None:
        router.add_prelude("receipt", self.ctx.ack)
        router.add(Route("receipt", self.on_retry, type="retry", child="retry"))
        router.set_default("receipt", self.on_receipt)

    async def on_retry(self, node: Node) -> None:
        self.ctx.spawn(self.resender.handle_retry(node), "retry receipt")
        await self.ctx.emit(events.NodeReceived(node))

    async def on_receipt(self, node: Node) -> None:
        found = parse_receipts(node, self._own())
        for receipt in found:
            await self.ctx.emit(receipt)
        if not found:
            await self.ctx.emit(events.NodeReceived(node))

    def _own(self) -> set[str]:
        if not self.ctx.auth.creds.me_id:
            return set()
        return own_users(*own_addresses(self.ctx.auth.creds))

    async def mark_read(self, chat: JID, ids: Sequence[str], sender: JID | None = None, *, played: bool = False,
                        private: bool = False) -> None:
        """Mark messages of one author read (or voice notes played); `private`: read-self (no blue ticks)."""
        if not ids:
            return
        kind = PLAYED if played else (READ_SELF if private else READ)
        for node in read_receipts(chat, ids, sender, kind, int(time.time())):
            await self.ctx.send(node)
