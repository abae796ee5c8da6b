"""Group settings, description and invite links (`xmlns="w:g2"`), as the server answers them (client side:
whatsmeow `group.go`, Baileys `src/Socket/groups.ts`).

Rights as WhatsApp enforces them: settings and invite links are for admins (others: 403 / 401); the
subject, description and timer for every member unless the group is `locked`. A description change names
the one it replaces (`prev`); a stale `prev` is a 409 conflict. Every change is announced to the members
with a `w:gp2` notification holding the same child the admin sent (a revoked link: `<invite code=NEW/>`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from whatsapp.binary.node import AttrValue, Node
from whatsapp.testing.delivery import Delivery, Outcome, device_address, now, user_address
from whatsapp.testing.errors import IQError
from whatsapp.testing.state import Device, Group, GroupParticipant, ServerState

SETTING_TAGS = ("announcement", "not_announcement", "locked", "unlocked")


def is_admin(group: Group, device: Device) -> bool:
    member = group.participants.get(device.account.phone_number)
    return member is not None and member.role in ("admin", "superadmin")


def require_admin(group: Group, device: Device) -> None:
    if not is_admin(group, device):
        raise IQError(403, "forbidden")


def require_editor(group: Group, device: Device) -> None:
    """A locked group's info is changed by admins only."""
    if group.locked:
        require_admin(group, device)


def settings_children(group: Group) -> list[Node]:
    """The settings and description children of a `<group>`."""
    children: list[Node] = []
    if group.description:
        children.append(Node("description", {"id": group.description_id or "1",
                                             "t": str(group.description_time or group.created_at)},
                             [Node("body", {}, group.description.encode())]))
    if group.announce:
        children.append(Node("announcement"))
    if group.locked:
        children.append(Node("locked"))
    if group.ephemeral:
        children.append(Node("ephemeral", {"expiration": str(group.ephemeral)}))
    return children


def apply_create_settings(group: Group, create: Node) -> None:
    group.announce = create.child("announcement") is not None
    group.locked = create.child("locked") is not None
    ephemeral = create.child("ephemeral")
    group.ephemeral = ephemeral.attr_int("expiration", 0) or 0 if ephemeral is not None else 0


Notify = Callable[[ServerState, Group, Device, Node], list[Delivery]]


class GroupSettings:
    """`notify` announces a change to the members (whatsapp/testing/groups.py notify_members)."""

    def __init__(self, state: ServerState, notify: Notify) -> None:
        self.state = state
        self._notify = notify

    def deliveries(self, group: Group, sender: Device, child: Node) -> list[Delivery]:
        return self._notify(self.state, group, sender, child)

    def handle(self, sender: Device, group: Group, op: Node, iq_type: str | None) -> Outcome | None:
        """Answer a settings/description/invite IQ on `group`; None when `op` is none of them."""
        tag = op.tag
        if tag in SETTING_TAGS and iq_type == "set":
            require_admin(group, sender)
            if tag in ("announcement", "not_announcement"):
                group.announce = tag == "announcement"
            else:
                group.locked = tag == "locked"
            return Outcome(deliveries=self.deliveries(group, sender, Node(tag)))
        if tag in ("ephemeral", "not_ephemeral") and iq_type == "set":
            require_editor(group, sender)
            group.ephemeral = (op.attr_int("expiration", 0) or 0) if tag == "ephemeral" else 0
            timer = str(group.ephemeral)
            child = Node("ephemeral", {"expiration": timer}) if group.ephemeral else Node("not_ephemeral")
            return Outcome(deliveries=self.deliveries(group, sender, child))
        if tag == "description" and iq_type == "set":
            return self.describe(sender, group, op)
        if tag == "invite":
            require_admin(group, sender)
            if iq_type == "set":
                group.invite_code = secrets.token_urlsafe(16)[:22]
                return Outcome(replies=[Node("invite", {"code": group.invite_code})],
                               deliveries=self.deliveries(group, sender, Node("invite", {"code": group.invite_code})))
            return Outcome(replies=[Node("invite", {"code": group.invite_code})])
        return None

    def describe(self, sender: Device, group: Group, op: Node) -> Outcome:
        require_editor(group, sender)
        prev = op.attr_str("prev")
        if group.description_id and prev != group.description_id:
            raise IQError(409, "conflict")
        new_id = op.attr_str("id") or secrets.token_hex(8).upper()
        body = op.child("body")
        text = (body.content_bytes or b"").decode("utf-8", "replace") if body is not None else ""
        group.description = text if op.attr_str("delete") != "true" and text else None
        group.description_id, group.description_time = new_id, now()
        attrs: dict[str, AttrValue] = {"id": new_id, "t": str(group.description_time),
                 "participant": device_address(sender, group.addressing_mode == "lid").to_non_ad()}
        content = [Node("body", {}, text.encode())] if group.description else [Node("delete")]
        return Outcome(deliveries=self.deliveries(group, sender, Node("description", attrs, content)))

    def join_by_code(self, sender: Device, op: Node) -> Outcome:
        """`<invite code/>` set to `@g.us`: the sender joins the group whose link it is."""
        code = op.attr_str("code") or ""
        group = next((g for g in self.state.groups.values() if g.invite_code == code), None)
        if group is None:
            raise IQError(406, "not-acceptable")  # a revoked or unknown link
        outcome = Outcome(replies=[Node("group", {"jid": group.jid})])
        account = sender.account
        if account.phone_number not in group.participants:
            jid = user_address(account, group.addressing_mode == "lid")
            group.participants[account.phone_number] = GroupParticipant(jid=jid)
            child = Node("add", {"reason": "invite"}, [Node("participant", {"jid": jid})])
            outcome.deliveries.extend(self.deliveries(group, sender, child))
        return outcome

