"""What a `<notification type="w:gp2">` says, as typed events. Pure functions.

`<notification from=GROUP participant=ACTOR t>` holds one change per child (whatsmeow `group.go`
parseGroupChange, Baileys `src/Socket/groups.ts` / `messages-recv.ts`):
- `<add [reason]>`, `<remove>`, `<promote>`, `<demote>` with `<participant jid/>` children: members
  joined, left (a member removing themselves, or `reason="leave"`) or were removed, made or unmade admins;
- `<subject subject s_o s_t>`, `<description id><body>…</body></description>` (or `<delete/>` inside),
  `<announcement>`/`<not_announcement>`, `<locked>`/`<unlocked>`, `<ephemeral expiration>`/`<not_ephemeral>`:
  the group's info and settings.
Anything else (create, invite links, ...) is left to the raw `NodeReceived`.
"""

from __future__ import annotations

from whatsapp.binary import Node
from whatsapp.events import Event, GroupInfoChanged, GroupParticipantsChanged
from whatsapp.jid import JID

_MEMBER_ACTIONS = {"add": "joined", "remove": "removed", "promote": "promoted", "demote": "demoted"}


def _participants(child: Node) -> tuple[JID, ...]:
    jids = (item.try_attr_jid("jid") for item in child.children_by_tag("participant"))
    return tuple(j for j in jids if j is not None)


def _members(group: JID, by: JID | None, t: int, child: Node, node: Node) -> GroupParticipantsChanged:
    action = _MEMBER_ACTIONS[child.tag]
    members = _participants(child)
    if child.tag == "remove" and (child.attr_str("reason") == "leave" or (
            by is not None and any(m.user == by.user for m in members))):
        action = "left"
    return GroupParticipantsChanged(group, action, members, by, t, node)


def _info(group: JID, by: JID | None, t: int, child: Node, node: Node) -> GroupInfoChanged | None:
    tag = child.tag
    if tag == "subject":
        return GroupInfoChanged(group, by, t, subject=child.attr_str("subject") or "", node=node)
    if tag == "description":
        body = child.child("body")
        text = "" if child.child("delete") is not None or body is None else (body.content_bytes or b"").decode(
            "utf-8", "replace")
        return GroupInfoChanged(group, by, t, description=text, node=node)
    if tag in ("announcement", "not_announcement"):
        return GroupInfoChanged(group, by, t, announce=tag == "announcement", node=node)
    if tag in ("locked", "unlocked"):
        return GroupInfoChanged(group, by, t, locked=tag == "locked", node=node)
    if tag in ("ephemeral", "not_ephemeral"):
        seconds = child.attr_int("expiration", 0) or 0 if tag == "ephemeral" else 0
        return GroupInfoChanged(group, by, t, ephemeral=seconds, node=node)
    return None


def group_events(node: Node) -> list[Event]:
    """The typed events of one w:gp2 notification (empty when it holds only changes not modelled)."""
    group = node.try_attr_jid("from")
    if group is None or not group.is_group:
        return []
    by = node.try_attr_jid("participant")
    t = node.attr_int("t", 0) or 0
    found: list[Event] = []
    for child in node.children:
        if child.tag in _MEMBER_ACTIONS:
            found.append(_members(group, by, t, child, node))
        elif (info := _info(group, by, t, child, node)) is not None:
            found.append(info)
    return found
