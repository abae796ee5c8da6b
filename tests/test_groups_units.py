"""Pure parsing of w:g2 answers: full metadata, participant results, invite codes; w:gp2 events."""

from __future__ import annotations

from whatsapp.binary import Node
from whatsapp.group_changes import group_events
from whatsapp.group_meta import invite_code, parse_group, parse_participant_results
from whatsapp.jid import JID


def test_full_metadata_is_read() -> None:
    group = Node("group", {"id": "1203", "subject": "Club", "s_o": JID.parse("300@lid"), "s_t": "1700",
                           "creator": JID.parse("300@lid"), "creation": "1600", "size": "2",
                           "addressing_mode": "lid"}, [
        Node("participant", {"jid": JID.parse("300@lid"), "phone_number": JID.parse("1555@s.whatsapp.net"),
                             "type": "superadmin"}),
        Node("participant", {"jid": JID.parse("301@lid"), "type": "admin"}),
        Node("participant", {"jid": JID.parse("302@lid")}),
        Node("description", {"id": "D1", "t": "1650"}, [Node("body", {}, b"Rules")]),
        Node("announcement"), Node("locked"), Node("ephemeral", {"expiration": "86400"}),
        Node("member_add_mode", {}, b"admin_add"), Node("linked_parent", {"jid": JID.parse("9@g.us")}),
    ])
    info, pairs = parse_group(Node("iq", {}, [group]), now=1.0)
    assert info.jid == JID.parse("1203@g.us") and info.owner == JID.parse("300@lid") and info.created == 1600
    assert info.admins == (JID.parse("300@lid"), JID.parse("301@lid"))
    assert info.super_admins == (JID.parse("300@lid"),)
    assert info.description == "Rules" and info.description_id == "D1"
    assert info.announce and info.locked and info.ephemeral == 86400 and info.member_add_mode == "admin_add"
    assert info.linked_parent == JID.parse("9@g.us") and info.size == 2 and pairs == [("1555", "300")]
    member = info.member(JID.parse("1555:3@s.whatsapp.net"))
    assert member is not None and member.super_admin


def test_participant_results_and_invites() -> None:
    answer = Node("iq", {}, [Node("add", {}, [
        Node("participant", {"jid": JID.parse("1@s.whatsapp.net")}),
        Node("participant", {"jid": JID.parse("2@s.whatsapp.net"), "error": "403"},
             [Node("add_request", {"code": "ABC", "expiration": "1800000000"})]),
    ])])
    done, refused = parse_participant_results(answer, "add")
    assert done.ok and done.status == 200 and done.invite is None
    assert not refused.ok and refused.status == 403 and refused.invite is not None
    assert refused.invite.code == "ABC" and refused.invite.expiration == 1800000000
    assert invite_code("https://chat.whatsapp.com/XyZ") == "XyZ" and invite_code("XyZ") == "XyZ"


def test_leave_notification_is_left() -> None:
    node = Node("notification", {"from": JID.parse("1203@g.us"), "type": "w:gp2", "t": "5",
                                 "participant": JID.parse("301@lid")},
                [Node("remove", {"reason": "leave"}, [Node("participant", {"jid": JID.parse("301@lid")})])])
    (event,) = group_events(node)
    assert event.action == "left"  # type: ignore[attr-defined]
