"""What a `w:g2` answer says about a group: members and their roles, owner, settings. Pure functions.

A `<group>` (the answer to `<query request="interactive">`, to `<create>`, and the `<create>` notification)
carries the subject (`subject s_o s_t`), `creator`/`creation`, `size` and `addressing_mode` as attributes;
members as `<participant jid type="admin|superadmin" [phone_number|lid]>`; the settings as children:
`<description id t participant><body/></description>`, `<announcement/>`, `<locked/>`,
`<ephemeral expiration/>`, `<member_add_mode>`, and community links (`<parent/>`, `<linked_parent jid/>`)
(whatsmeow `group.go` parseGroupNode, Baileys `src/Socket/groups.ts` extractGroupMetadata).
The answers to participant changes hold one `<participant jid [error]>` per member asked for, with an
`<add_request code expiration/>` when the member's privacy settings turned an add into an invite.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from whatsapp.binary import Node
from whatsapp.errors import DecodeError
from whatsapp.jid import JID, LID, S_WHATSAPP_NET

GROUP_SERVER_JID = JID("", "g.us")
INVITE_LINK_PREFIX = "https://chat.whatsapp.com/"


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One participant: `jid` in the group's addressing, its other address where the server gave it."""

    jid: JID
    phone_number: JID | None = None
    lid: JID | None = None
    admin: bool = False  # admin or super admin
    super_admin: bool = False  # the creator (or whoever the server made owner)


@dataclass(frozen=True, slots=True)
class GroupInfo:
    jid: JID
    subject: str
    addressing_mode: str  # "lid" or "pn"
    participants: tuple[JID, ...]  # user JIDs in the group's addressing (what a send fans out to)
    fetched_at: float
    members: tuple[GroupMember, ...] = ()
    owner: JID | None = None  # the creator
    created: int = 0
    subject_by: JID | None = None
    subject_at: int = 0
    description: str = ""
    description_id: str | None = None  # the `prev` of the next description change
    announce: bool = False  # only admins may send
    locked: bool = False  # only admins may edit the group info
    ephemeral: int = 0  # disappearing-message timer in seconds (0: off)
    member_add_mode: str | None = None  # "admin_add" or "all_member_add"
    size: int = 0
    community: bool = False  # a community's parent group
    linked_parent: JID | None = None  # the community this group belongs to

    @property
    def admins(self) -> tuple[JID, ...]:
        return tuple(m.jid for m in self.members if m.admin)

    @property
    def super_admins(self) -> tuple[JID, ...]:
        return tuple(m.jid for m in self.members if m.super_admin)

    def member(self, user: JID) -> GroupMember | None:
        """The member with this user (PN or LID, any device)."""
        for m in self.members:
            if user.user in {m.jid.user, m.phone_number.user if m.phone_number else None,
                             m.lid.user if m.lid else None}:
                return m
        return None


@dataclass(frozen=True, slots=True)
class InviteRequest:
    """An add the member's privacy settings refused: send them this invite instead (`send_group_invite`)."""

    code: str
    expiration: int


@dataclass(frozen=True, slots=True)
class ParticipantResult:
    """What the server did with one member of an add/remove/promote/demote: `status` 200 is done."""

    jid: JID
    status: int
    phone_number: JID | None = None
    lid: JID | None = None
    invite: InviteRequest | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.status == 200


def _other_addresses(item: Node, member: JID) -> tuple[JID | None, JID | None]:
    if member.server == LID:
        return item.try_attr_jid("phone_number"), member
    if member.server == S_WHATSAPP_NET:
        return member, item.try_attr_jid("lid")
    return None, None


def parse_member(item: Node) -> GroupMember | None:
    jid = item.try_attr_jid("jid")
    if jid is None:
        return None
    role = item.attr_str("type") or ""
    pn, lid = _other_addresses(item, jid)
    return GroupMember(jid.to_non_ad(), pn.to_non_ad() if pn else None, lid.to_non_ad() if lid else None,
                       role in ("admin", "superadmin"), role == "superadmin")


def parse_group_node(group: Node, now: float | None = None) -> GroupInfo:
    gid = group.attr_str("id") or ""
    jid = JID.parse(gid if "@" in gid else f"{gid}@g.us")
    members = tuple(m for m in (parse_member(i) for i in group.children_by_tag("participant")) if m is not None)
    description, description_id, member_add_mode = "", None, None
    announce = locked = community = False
    ephemeral, linked_parent = 0, None
    for child in group.children:
        tag = child.tag
        if tag == "description" and (body := child.child("body")) is not None:
            description = (body.content_bytes or b"").decode("utf-8", "replace")
            description_id = child.attr_str("id")
        elif tag == "announcement":
            announce = True
        elif tag == "locked":
            locked = True
        elif tag == "ephemeral":
            ephemeral = child.attr_int("expiration", 0) or 0
        elif tag == "member_add_mode":
            member_add_mode = (child.content_bytes or b"").decode() or None
        elif tag == "parent":
            community = True
        elif tag == "linked_parent":
            linked_parent = child.try_attr_jid("jid")
    return GroupInfo(
        jid, group.attr_str("subject") or "", group.attr_str("addressing_mode") or "pn",
        tuple(m.jid for m in members), now if now is not None else time.time(), members=members,
        owner=group.try_attr_jid("creator"), created=group.attr_int("creation", 0) or 0,
        subject_by=group.try_attr_jid("s_o"), subject_at=group.attr_int("s_t", 0) or 0,
        description=description, description_id=description_id, announce=announce, locked=locked,
        ephemeral=ephemeral, member_add_mode=member_add_mode, size=group.attr_int("size", 0) or len(members),
        community=community, linked_parent=linked_parent,
    )


def mapping_pairs(info: GroupInfo) -> list[tuple[str, str]]:
    """The (pn_user, lid_user) pairs the members reveal."""
    return [(m.phone_number.user, m.lid.user) for m in info.members
            if m.phone_number is not None and m.lid is not None
            and m.phone_number.server == S_WHATSAPP_NET and m.lid.server == LID]


def parse_group(result: Node, now: float | None = None) -> tuple[GroupInfo, list[tuple[str, str]]]:
    """The `<group>` of a w:g2 answer, and the (pn_user, lid_user) pairs its participants reveal."""
    group = result if result.tag == "group" else result.child("group")
    if group is None:
        raise DecodeError("w:g2 answer without <group>")
    info = parse_group_node(group, now)
    return info, mapping_pairs(info)


def parse_participant_results(result: Node, action: str) -> list[ParticipantResult]:
    """The per-member outcome of `<add>`/`<remove>`/`<promote>`/`<demote>` (absent `error`: done)."""
    answer = result.child(action)
    if answer is None:
        raise DecodeError(f"w:g2 answer without <{action}>")
    found: list[ParticipantResult] = []
    for item in answer.children_by_tag("participant"):
        jid = item.try_attr_jid("jid")
        if jid is None:
            continue
        error = item.attr_int("error", 0) or 0
        request = item.child("add_request")
        invite = None
        if request is not None and request.attr_str("code"):
            invite = InviteRequest(request.attr_str("code") or "", request.attr_int("expiration", 0) or 0)
        pn, lid = _other_addresses(item, jid)
        found.append(ParticipantResult(jid.to_non_ad(), error or 200, pn, lid, invite))
    return found


def invite_code(link_or_code: str) -> str:
    return link_or_code.removeprefix(INVITE_LINK_PREFIX).strip("/")
