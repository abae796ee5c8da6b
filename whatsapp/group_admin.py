"""Managing groups: create, members (add/remove/promote/demote), subject, description, settings, invite
links, joining and leaving. Every operation is one `<iq xmlns="w:g2" to=GROUP>` (whatsmeow `group.go`,
Baileys `src/Socket/groups.ts`; docs/protocol.md §Groups):

- `<create subject key>` to `@g.us` with `<participant jid/>` children (and the settings the group starts
  with) → the new `<group>`;
- `<add|remove|promote|demote>` with `<participant jid/>` → one result per member (`error` when refused, an
  `<add_request code expiration/>` when the member's privacy turned the add into an invite);
- `<subject>TEXT</subject>`; `<description id prev><body>TEXT</body></description>` (`delete="true"` and no body
  to clear it); `<announcement/>`/`<not_announcement/>`, `<locked/>`/`<unlocked/>`,
  `<ephemeral expiration/>`/`<not_ephemeral/>`;
- `<invite/>` get → the code, set → a new code (the old link stops working); `<invite code/>` to `@g.us` set →
  joined; `<accept code expiration admin/>` to the group → joined by an invite message;
- `<leave><group id/></leave>` to `@g.us`.

The directory's cache is cleared after each change (the `w:gp2` notification does it too, later); a removal
also drops our sender key at once, so even a send racing the notification cannot reach the removed member.
"""

from __future__ import annotations

from collections.abc import Iterable

from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.context import Context
from whatsapp.errors import DecodeError
from whatsapp.group_meta import (
    GROUP_SERVER_JID,
    INVITE_LINK_PREFIX,
    GroupInfo,
    ParticipantResult,
    invite_code,
    parse_participant_results,
)
from whatsapp.groups import GroupDirectory
from whatsapp.jid import JID

PARTICIPANT_ACTIONS = ("add", "remove", "promote", "demote")


def _iq(kind: str, to: JID, child: Node) -> Node:
    return Node("iq", {"xmlns": "w:g2", "type": kind, "to": to}, [child])


class GroupAdmin:
    def __init__(self, ctx: Context, directory: GroupDirectory) -> None:
        self.ctx = ctx
        self.directory = directory

    async def create(self, subject: str, participants: Iterable[JID], *, announce: bool = False,
                     locked: bool = False, ephemeral: int = 0) -> GroupInfo:
        """A new group with us as its owner (super admin) and `participants` as members."""
        children = [Node("participant", {"jid": p.to_non_ad()}) for p in participants]
        if announce:
            children.append(Node("announcement"))
        if locked:
            children.append(Node("locked"))
        if ephemeral:
            children.append(Node("ephemeral", {"expiration": str(ephemeral)}))
        answer = await self.directory.query(_iq("set", GROUP_SERVER_JID, Node(
            "create", {"subject": subject, "key": self.ctx.new_id()}, children)))
        return await self.directory.remember(answer)

    async def participants(self, group: JID, members: Iterable[JID], action: str) -> list[ParticipantResult]:
        if action not in PARTICIPANT_ACTIONS:
            raise ValueError(f"action must be one of {PARTICIPANT_ACTIONS}, not {action!r}")
        group = group.to_non_ad()
        node = Node(action, {}, [Node("participant", {"jid": m.to_non_ad()}) for m in members])
        answer = await self.directory.query(_iq("set", group, node))
        results = parse_participant_results(answer, action)
        self.directory.forget(group)
        if action == "remove" and any(r.ok for r in results):
            await self.directory.rotate_sender_key(group)
        return results

    async def set_subject(self, group: JID, subject: str) -> None:
        await self._set(group, Node("subject", {}, subject.encode()))

    async def set_description(self, group: JID, text: str) -> None:
        """Set (or, with "", clear) the description; `prev` names the one replaced, as the server asks."""
        current = await self.directory.info(group, refresh=True)
        attrs: dict[str, AttrValue] = {"id": self.ctx.new_id()}
        if current.description_id:
            attrs["prev"] = current.description_id
        if text:
            node = Node("description", attrs, [Node("body", {}, text.encode())])
        else:
            node = Node("description", {**attrs, "delete": "true"})
        await self._set(group, node)

    async def set_announce(self, group: JID, announce: bool) -> None:
        """Only admins may send (True), or everybody (False)."""
        await self._set(group, Node("announcement" if announce else "not_announcement"))

    async def set_locked(self, group: JID, locked: bool) -> None:
        """Only admins may edit the group info (True), or everybody (False)."""
        await self._set(group, Node("locked" if locked else "unlocked"))

    async def set_ephemeral(self, group: JID, seconds: int) -> None:
        """The disappearing-messages timer (0: off)."""
        await self._set(group, Node("ephemeral", {"expiration": str(seconds)}) if seconds else Node("not_ephemeral"))

    async def invite_link(self, group: JID, *, revoke: bool = False) -> str:
        """The group's invite link; `revoke`: a new one, the old link stops working."""
        answer = await self.directory.query(_iq("set" if revoke else "get", group.to_non_ad(), Node("invite")))
        invite = answer.child("invite")
        code = invite.attr_str("code") if invite is not None else None
        if not code:
            raise DecodeError("w:g2 invite answer without a code")
        return INVITE_LINK_PREFIX + code

    async def join(self, link_or_code: str) -> JID:
        """Join by an invite link or its code; the group joined."""
        answer = await self.directory.query(_iq("set", GROUP_SERVER_JID,
                                                Node("invite", {"code": invite_code(link_or_code)})))
        group = answer.child("group")
        jid = group.try_attr_jid("jid") if group is not None else None
        if jid is None:
            raise DecodeError("w:g2 join answer without the group")
        self.directory.forget(jid)
        return jid

    async def accept_invite(self, group: JID, inviter: JID, code: str, expiration: int) -> None:
        """Join by a group invite message (GroupInviteMessage: its group, inviter, code, expiration)."""
        await self.directory.query(_iq("set", group.to_non_ad(), Node(
            "accept", {"code": code, "expiration": str(expiration), "admin": inviter.to_non_ad()})))
        self.directory.forget(group)

    async def leave(self, group: JID) -> None:
        group = group.to_non_ad()
        await self.directory.query(_iq("set", GROUP_SERVER_JID, Node(
            "leave", {}, [Node("group", {"id": group})])))
        self.directory.forget(group)
        await self.directory.rotate_sender_key(group)

    async def joined(self) -> list[GroupInfo]:
        """Every group we are a member of (`<participating>`), with members and descriptions."""
        answer = await self.directory.query(_iq("get", GROUP_SERVER_JID, Node(
            "participating", {}, [Node("participants"), Node("description")])))
        groups = answer.child("groups")
        return [await self.directory.remember(g) for g in (groups.children_by_tag("group") if groups else [])]

    async def _set(self, group: JID, node: Node) -> None:
        await self.directory.query(_iq("set", group.to_non_ad(), node))
        self.directory.forget(group)
