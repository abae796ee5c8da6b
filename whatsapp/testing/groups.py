"""Groups (`xmlns="w:g2"`): create, metadata, participating list, leave, subject (client side: whatsmeow
`group.go`, Baileys `src/Socket/groups.ts`).

A group's members are held by account (state.Group.participants, keyed by phone number) and shown in
the group's addressing mode: `addressing_mode="lid"` lists LID JIDs with a `phone_number` attribute,
`"pn"` lists phone-number JIDs with a `lid` attribute — both are PN↔LID mapping sources for clients.
Every change is announced to each member device with `<notification type="w:gp2">`.
"""

from __future__ import annotations

from loguru import logger

from whatsapp.binary.node import AttrValue, Node
from whatsapp.jid import JID
from whatsapp.testing.delivery import Delivery, Outcome, device_address, now, user_address
from whatsapp.testing.errors import IQError
from whatsapp.testing.group_settings import (
    GroupSettings,
    apply_create_settings,
    require_admin,
    require_editor,
    settings_children,
)
from whatsapp.testing.state import Account, Device, Group, GroupParticipant, ServerState


def is_lid(group: Group) -> bool:
    return group.addressing_mode == "lid"


def participant_node(state: ServerState, group: Group, phone_number: str, member: GroupParticipant) -> Node:
    account = state.accounts.get(phone_number)
    attrs: dict[str, AttrValue] = {"jid": member.jid}
    if account is not None:
        if is_lid(group):
            attrs["phone_number"] = account.jid
        else:
            attrs["lid"] = account.lid_jid
    if member.role:
        attrs["type"] = member.role
    return Node("participant", attrs)


def group_node(state: ServerState, group: Group) -> Node:
    """The `<group>` element of create results, metadata answers and create notifications."""
    creator = state.account_for(group.creator)
    attrs: dict[str, AttrValue] = {
        "id": group.group_id,
        "subject": group.subject,
        "s_t": str(group.subject_time),
        "s_o": group.creator,
        "creation": str(group.created_at),
        "creator": group.creator,
        "size": str(len(group.participants)),
        "addressing_mode": group.addressing_mode,
    }
    if creator is not None:
        alt = creator.jid if is_lid(group) else creator.lid_jid
        attrs["creator_pn" if is_lid(group) else "creator_lid"] = alt
        attrs["s_o_pn" if is_lid(group) else "s_o_lid"] = alt
    children = [participant_node(state, group, pn, member) for pn, member in group.participants.items()]
    children.extend(settings_children(group))
    return Node("group", attrs, children)


def notify_members(state: ServerState, group: Group, actor: Device, child: Node,
                   extra_accounts: list[Account] | None = None) -> list[Delivery]:
    """A `w:gp2` notification about `child` for every device of every member (and `extra_accounts`)."""
    lid = is_lid(group)
    accounts = state.member_accounts(group) + [a for a in extra_accounts or [] if a.phone_number not in
                                                 group.participants]
    notification_id = state.next_notification_id()
    deliveries: list[Delivery] = []
    for account in accounts:
        for device in account.linked_devices():
            attrs: dict[str, AttrValue] = {
                "from": group.jid,
                "type": "w:gp2",
                "id": notification_id,
                "t": str(now()),
                "participant": device_address(actor, lid),
                "notify": actor.push_name or actor.account.push_name,
            }
            attrs["participant_pn" if lid else "participant_lid"] = user_address(actor.account, not lid)
            deliveries.append(Delivery(device, Node("notification", attrs, [child])))
    return deliveries


def _resolve_members(state: ServerState, nodes: list[Node]) -> list[Account]:
    accounts: list[Account] = []
    for node in nodes:
        jid = node.try_attr_jid("jid")
        account = state.account_for(jid.to_non_ad()) if jid is not None and jid.is_user else None
        if account is None:
            logger.debug("emulator: group participant {} is not on the emulated WhatsApp", node.attrs.get("jid"))
            continue
        if account not in accounts:
            accounts.append(account)
    return accounts


def _member_group(state: ServerState, sender: Device, to: JID | None) -> Group:
    group = state.group_for(to) if to is not None and to.is_group else None
    if group is None:
        raise IQError(404, "item-not-found")
    if sender.account.phone_number not in group.participants:
        raise IQError(403, "forbidden")
    return group


class GroupService:
    """The w:g2 IQs. `addressing_mode` is the mode new groups get ("lid" as WhatsApp creates them now).

    `rate_limit(n)`: the next `n` w:g2 IQs are answered 429 rate-overlimit, as WhatsApp answers a client
    that asks too often; `queries` counts the metadata queries answered.
    """

    def __init__(self, state: ServerState, addressing_mode: str = "lid") -> None:
        self.state = state
        self.addressing_mode = addressing_mode
        self.settings = GroupSettings(state, lambda st, group, actor, child: notify_members(st, group, actor, child))
        self.rate_limited = 0
        self.queries = 0

    def rate_limit(self, count: int) -> None:
        self.rate_limited = count

    def handle(self, sender: Device, iq: Node) -> Outcome:
        """Answer one w:g2 IQ: `Outcome.replies[0]` is the result's child (or none), plus notifications."""
        to = iq.try_attr_jid("to")
        iq_type = iq.attr_str("type")
        op = iq.children[0] if iq.children else None
        if op is None:
            raise IQError(400, "bad-request")
        if self.rate_limited > 0:
            self.rate_limited -= 1
            raise IQError(429, "rate-overlimit")
        if op.tag == "create" and iq_type == "set":
            return self.create(sender, op)
        if op.tag == "invite" and iq_type == "set" and to is not None and not to.user:
            return self.settings.join_by_code(sender, op)
        if op.tag == "query":
            group = _member_group(self.state, sender, to)
            self.queries += 1
            return Outcome(replies=[group_node(self.state, group)])
        if op.tag == "participating":
            groups = [group_node(self.state, g) for g in self.state.groups.values()
                      if sender.account.phone_number in g.participants]
            return Outcome(replies=[Node("groups", {}, groups)])
        if op.tag == "leave":
            return self.leave(sender, op)
        if op.tag == "subject" and iq_type == "set":
            group = _member_group(self.state, sender, to)
            require_editor(group, sender)
            group.subject = (op.content_bytes or b"").decode("utf-8", "replace")
            group.subject_time = now()
            child = Node("subject", {"subject": group.subject, "s_o": device_address(sender, is_lid(group)).to_non_ad(),
                                     "s_t": str(group.subject_time)})
            return Outcome(deliveries=notify_members(self.state, group, sender, child))
        if op.tag in ("add", "remove") and iq_type == "set":
            return self.change_members(sender, to, op)
        if op.tag in ("promote", "demote") and iq_type == "set":
            return self.change_roles(sender, to, op)
        if to is not None and to.is_group:
            answered = self.settings.handle(sender, _member_group(self.state, sender, to), op, iq_type)
            if answered is not None:
                return answered
        raise IQError(501, "feature-not-implemented", what="w:g2")

    def create(self, sender: Device, create: Node) -> Outcome:
        subject = create.attr_str("subject") or ""
        members = _resolve_members(self.state, create.children_by_tag("participant"))
        group = self.state.add_group(subject, sender.account, members, addressing_mode=self.addressing_mode)
        apply_create_settings(group, create)
        logger.info("emulator: group {} created by {} with {} members", group.group_id, sender.account.phone_number,
                    len(group.participants))
        self.state.emit("group_created", account=sender.account, device=sender, data={"group": group})
        node = group_node(self.state, group)
        deliveries = notify_members(self.state, group, sender, Node("create", {"reason": "create"}, [node]))
        return Outcome(replies=[node], deliveries=deliveries)

    def leave(self, sender: Device, leave: Node) -> Outcome:
        outcome = Outcome()
        for item in leave.children_by_tag("group"):
            gid = item.attr_str("id", "") or ""  # the full group JID (both peers send it so) or its user part
            group = self.state.group_for(JID.parse(gid) if "@" in gid else JID(gid, "g.us"))
            if group is None or sender.account.phone_number not in group.participants:
                continue
            member = group.participants.pop(sender.account.phone_number)
            child = Node("remove", {"reason": "leave"}, [Node("participant", {"jid": member.jid})])
            outcome.deliveries.extend(notify_members(self.state, group, sender, child, [sender.account]))
        outcome.replies.append(Node("leave", {}, [Node("group", {"id": g.attrs.get("id", "")})
                                                  for g in leave.children_by_tag("group")]))
        return outcome

    def change_members(self, sender: Device, to: JID | None, op: Node) -> Outcome:
        group = _member_group(self.state, sender, to)
        require_admin(group, sender)
        accounts = _resolve_members(self.state, op.children_by_tag("participant"))
        results: list[Node] = []
        changed: list[Node] = []
        removed: list[Account] = []
        for account in accounts:
            jid = user_address(account, is_lid(group))
            if op.tag == "add" and account.phone_number not in group.participants:
                group.participants[account.phone_number] = GroupParticipant(jid=jid)
                changed.append(participant_node(self.state, group, account.phone_number,
                                                group.participants[account.phone_number]))
            elif op.tag == "remove" and account.phone_number in group.participants:
                group.participants.pop(account.phone_number)
                removed.append(account)
                changed.append(Node("participant", {"jid": jid}))
            results.append(Node("participant", {"jid": jid, "type": "200"}))
        outcome = Outcome(replies=[Node(op.tag, {}, results)])
        if changed:
            outcome.deliveries.extend(notify_members(self.state, group, sender, Node(op.tag, {}, changed), removed))
        return outcome

    def change_roles(self, sender: Device, to: JID | None, op: Node) -> Outcome:
        """`<promote>`/`<demote>` members (admins only, as WhatsApp answers others 403)."""
        group = _member_group(self.state, sender, to)
        require_admin(group, sender)
        results: list[Node] = []
        changed: list[Node] = []
        for account in _resolve_members(self.state, op.children_by_tag("participant")):
            member = group.participants.get(account.phone_number)
            jid = user_address(account, is_lid(group))
            if member is None:
                results.append(Node("participant", {"jid": jid, "error": "404"}))
                continue
            if member.role != "superadmin":
                member.role = "admin" if op.tag == "promote" else None
            changed.append(Node("participant", {"jid": jid}))
            results.append(Node("participant", {"jid": jid, "type": "200"}))
        outcome = Outcome(replies=[Node(op.tag, {}, results)])
        if changed:
            outcome.deliveries.extend(notify_members(self.state, group, sender, Node(op.tag, {}, changed)))
        return outcome
