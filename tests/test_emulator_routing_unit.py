"""Sans-I/O tests of the emulator's routing: feed stanzas to a Router, check replies and deliveries."""

from __future__ import annotations

import os

import pytest

from whatsapp.binary.node import Node
from whatsapp.jid import JID
from whatsapp.keys import KeyPair
from whatsapp.proto import adv_pb2
from whatsapp.testing.delivery import Delivery, Outcome, deliver, take_offline
from whatsapp.testing.errors import IQError
from whatsapp.testing.routing import Router
from whatsapp.testing.state import Account, Device, PreKey, ServerState, SignedPreKey
from whatsapp.xeddsa import verify

A, B, C = "15550001111", "15550002222", "15550003333"


def companion(account: Account, prekeys: int = 3) -> Device:
    device = account.new_companion()
    device.identity_public = KeyPair.generate().public
    device.registration_id = 1000 + device.device_id
    device.signed_prekey = SignedPreKey(7, os.urandom(32), os.urandom(64))
    device.add_prekeys([PreKey(100 + i, os.urandom(32)) for i in range(prekeys)])
    return device


@pytest.fixture
def state() -> ServerState:
    state = ServerState()
    for phone, name in ((A, "Alice"), (B, "Bob"), (C, "Carol")):
        account = state.add_account(phone, push_name=name)
        companion(account)
    return state


@pytest.fixture
def router(state: ServerState) -> Router:
    return Router(state)


def dev(state: ServerState, phone: str, device_id: int) -> Device:
    return state.accounts[phone].devices[device_id]


def usync_iq(users: list[Node], *protocols: str) -> Node:
    query = Node("query", {}, [Node(p, {"version": "2"} if p == "devices" else {}) for p in protocols])
    usync = Node("usync", {"sid": "1", "mode": "query", "context": "message", "last": "true", "index": "0"},
                 [query, Node("list", {}, users)])
    return Node("iq", {"xmlns": "usync", "type": "get", "to": JID("", "s.whatsapp.net")}, [usync])


def enc(kind: str, payload: bytes = b"ciphertext") -> Node:
    return Node("enc", {"v": "2", "type": kind}, payload)


def to(jid: JID, kind: str = "msg", payload: bytes = b"ciphertext") -> Node:
    return Node("to", {"jid": jid}, [enc(kind, payload)])


# -- usync ----------------------------------------------------------------------------------------


def test_usync_device_list_and_lid_by_phone_number(state: ServerState, router: Router) -> None:
    bob = state.accounts[B]
    out = router.answer_iq(dev(state, A, 1), usync_iq([Node("user", {"jid": bob.jid})], "devices", "lid"))
    [user] = out.replies[0].child("list").children
    assert user.attrs["jid"] == bob.jid
    devices = user.child("devices").child("device-list").children
    assert [d.attrs for d in devices] == [{"id": "0"}, {"id": "1", "key-index": "1"}]
    assert user.child("lid").attrs["val"] == bob.lid_jid
    signed = adv_pb2.ADVSignedKeyIndexList.FromString(user.child("devices").child("key-index-list").content)
    details = adv_pb2.ADVKeyIndexList.FromString(signed.details)
    assert list(details.validIndexes) == [1]
    assert verify(bob.identity.public, b"\x06\x02" + signed.details, signed.accountSignature)


def test_usync_by_lid_answers_under_the_lid_without_a_lid_child(state: ServerState, router: Router) -> None:
    bob = state.accounts[B]
    out = router.answer_iq(dev(state, A, 1), usync_iq([Node("user", {"jid": bob.lid_jid})], "devices", "lid"))
    [user] = out.replies[0].child("list").children
    assert user.attrs["jid"] == bob.lid_jid
    assert user.child("lid") is None
    assert len(user.child("devices").child("device-list").children) == 2


def test_usync_lists_only_companions_with_keys(state: ServerState, router: Router) -> None:
    state.accounts[B].new_companion()  # being paired: no keys yet
    removed = companion(state.accounts[B])
    removed.removed = True
    out = router.answer_iq(dev(state, A, 1), usync_iq([Node("user", {"jid": JID(B, "s.whatsapp.net")})], "devices"))
    device_list = out.replies[0].child("list").children[0].child("devices").child("device-list")
    ids = [d.attrs["id"] for d in device_list.children]
    assert ids == ["0", "1"]


def test_usync_contact_query(state: ServerState, router: Router) -> None:
    users = [Node("user", {}, [Node("contact", {}, b"+" + B.encode())]),
             Node("user", {}, [Node("contact", {}, "+15559999999@c.us")])]
    out = router.answer_iq(dev(state, A, 1), usync_iq(users, "contact"))
    known, unknown = out.replies[0].child("list").children
    assert known.attrs["jid"] == JID(B, "s.whatsapp.net") and known.child("contact").attrs["type"] == "in"
    assert unknown.attrs["jid"] == JID("15559999999", "s.whatsapp.net")
    assert unknown.child("contact").attrs["type"] == "out"


# -- prekey bundles -------------------------------------------------------------------------------


def bundle_iq(*jids: JID) -> Node:
    return Node("iq", {"xmlns": "encrypt", "type": "get"},
                [Node("key", {}, [Node("user", {"jid": j}) for j in jids])])


def test_bundle_fetch_consumes_one_time_prekeys(state: ServerState, router: Router) -> None:
    bob1 = dev(state, B, 1)
    ids = []
    for _ in range(4):
        [user] = router.answer_iq(dev(state, A, 1), bundle_iq(bob1.lid_jid)).replies[0].children
        assert user.attrs["jid"] == bob1.lid_jid
        assert user.child("registration").content == bob1.registration_id.to_bytes(4, "big")
        assert user.child("type").content == b"\x05"
        assert user.child("identity").content == bob1.identity_public
        assert user.child("skey").child("id").content == (7).to_bytes(3, "big")
        key = user.child("key")
        ids.append(int.from_bytes(key.child("id").content, "big") if key else None)
    assert ids == [100, 101, 102, None]
    assert bob1.prekeys == {}


def test_bundle_of_primary_phone_and_unknown_device(state: ServerState, router: Router) -> None:
    alice = state.accounts[A]
    phone_user, unknown = router.answer_iq(dev(state, A, 1), bundle_iq(alice.jid, JID(B, "lid", 9))).replies[0].children
    assert phone_user.child("identity").content == alice.identity.public
    spk = phone_user.child("skey")
    assert verify(alice.identity.public, b"\x05" + spk.child("value").content, spk.child("signature").content)
    assert phone_user.child("key") is not None
    assert unknown.child("error").attrs["code"] == "404"


# -- 1:1 messages ---------------------------------------------------------------------------------


def test_direct_message_fan_out_by_phone_number(state: ServerState, router: Router) -> None:
    alice1, bob0, bob1, alice0 = dev(state, A, 1), dev(state, B, 0), dev(state, B, 1), dev(state, A, 0)
    alice2 = companion(state.accounts[A])
    msg = Node("message", {"id": "3EB0AA", "to": JID(B, "s.whatsapp.net"), "type": "text"}, [
        Node("participants", {}, [to(bob0.jid, "pkmsg", b"b0"), to(bob1.jid, "msg", b"b1"),
                                  to(alice0.jid, "msg", b"a0"), to(alice2.jid, "msg", b"a2")]),
        Node("device-identity", {}, b"ADV"),
    ])
    out = router.handle(alice1, msg)
    [ack] = out.replies
    assert ack.tag == "ack" and ack.attrs["class"] == "message" and ack.attrs["id"] == "3EB0AA"
    assert "error" not in ack.attrs
    by_device = {d.device: d.node for d in out.deliveries}
    assert set(by_device) == {bob0, bob1, alice0, alice2}
    to_bob = by_device[bob1]
    assert to_bob.attrs["from"] == alice1.jid and to_bob.attrs["id"] == "3EB0AA"
    assert to_bob.attrs["sender_lid"] == state.accounts[A].lid_jid
    assert to_bob.attrs["notify"] == "Alice" and to_bob.attrs["type"] == "text" and "recipient" not in to_bob.attrs
    assert [c.tag for c in to_bob.children] == ["enc"] and to_bob.children[0].content == b"b1"
    # The pkmsg copy carries the sender's device identity, the msg copy does not.
    assert [c.tag for c in by_device[bob0].children] == ["enc", "device-identity"]
    own = by_device[alice2]
    assert own.attrs["from"] == alice1.jid and own.attrs["recipient"] == JID(B, "s.whatsapp.net")
    assert own.children[0].content == b"a2"


def test_direct_message_by_lid_uses_lid_addresses(state: ServerState, router: Router) -> None:
    alice1, bob1 = dev(state, A, 1), dev(state, B, 1)
    msg = Node("message", {"id": "X1", "to": state.accounts[B].lid_jid, "type": "text"},
               [Node("participants", {}, [to(bob1.lid_jid)])])
    [delivery] = router.handle(alice1, msg).deliveries
    assert delivery.node.attrs["from"] == alice1.lid_jid
    assert delivery.node.attrs["sender_pn"] == state.accounts[A].jid


def test_sender_device_and_strangers_get_nothing(state: ServerState, router: Router) -> None:
    alice1, carol1 = dev(state, A, 1), dev(state, C, 1)
    msg = Node("message", {"id": "X2", "to": JID(B, "s.whatsapp.net")},
               [Node("participants", {}, [to(alice1.jid), to(carol1.jid), to(JID(B, "s.whatsapp.net", 42))])])
    out = router.handle(alice1, msg)
    assert out.deliveries == [] and out.replies[0].tag == "ack"


def test_retry_resend_goes_to_the_one_device(state: ServerState, router: Router) -> None:
    alice1, bob1 = dev(state, A, 1), dev(state, B, 1)
    msg = Node("message", {"id": "X3", "to": bob1.jid, "type": "text", "device_fanout": "false"},
               [Node("enc", {"v": "2", "type": "pkmsg", "count": "1"}, b"again")])
    [delivery] = router.handle(alice1, msg).deliveries
    assert delivery.device is bob1 and delivery.node.children[0].attrs["count"] == "1"


def test_malformed_message_is_nacked(state: ServerState, router: Router) -> None:
    # 479: what WhatsApp acks a stanza with that fails its validation (Baileys SERVER_ERROR_CODES.SmaxInvalid).
    out = router.handle(dev(state, A, 1), Node("message", {"to": JID(B, "s.whatsapp.net")}))
    assert out.replies[0].attrs["error"] == "479" and out.deliveries == []
    unknown = Node("message", {"id": "U1", "to": JID("15559998888", "s.whatsapp.net"), "type": "text"})
    out = router.handle(dev(state, A, 1), unknown)
    assert out.replies[0].attrs["error"] == "479" and out.deliveries == []


# -- receipts -------------------------------------------------------------------------------------


def test_delivery_receipt_reaches_the_senders_devices(state: ServerState, router: Router) -> None:
    bob1, alice1 = dev(state, B, 1), dev(state, A, 1)
    receipt = Node("receipt", {"id": "3EB0AA", "to": JID(A, "s.whatsapp.net")})
    out = router.handle(bob1, receipt)
    assert out.replies[0].attrs == {"class": "receipt", "id": "3EB0AA", "from": JID(A, "s.whatsapp.net")}
    targets = {d.device: d.node for d in out.deliveries}
    assert set(targets) == {alice1, dev(state, A, 0)}
    assert targets[alice1].attrs["from"] == bob1.jid and "type" not in targets[alice1].attrs


def test_read_receipt_keeps_its_list_and_sender_receipt_goes_to_one_device(state: ServerState, router: Router) -> None:
    bob1 = dev(state, B, 1)
    read = Node("receipt", {"id": "m1", "to": JID(A, "s.whatsapp.net"), "type": "read", "t": "5"},
                [Node("list", {}, [Node("item", {"id": "m2"})])])
    node = router.handle(bob1, read).deliveries[0].node
    assert node.attrs["type"] == "read" and node.attrs["t"] == "5"
    assert node.child("list").children[0].attrs["id"] == "m2"
    bob2 = companion(state.accounts[B])
    sender = Node("receipt", {"id": "m3", "to": bob2.jid, "recipient": JID(A, "s.whatsapp.net"), "type": "sender"})
    [delivery] = router.handle(bob1, sender).deliveries
    assert delivery.device is bob2 and delivery.node.attrs["recipient"] == JID(A, "s.whatsapp.net")


# -- groups ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lid", "pn"])
def test_group_create_metadata_and_fan_out(state: ServerState, mode: str) -> None:
    router = Router(state, group_addressing_mode=mode)
    alice1, bob1, carol1 = dev(state, A, 1), dev(state, B, 1), dev(state, C, 1)
    lid = mode == "lid"
    create = Node("iq", {"xmlns": "w:g2", "type": "set", "to": JID("", "g.us")}, [
        Node("create", {"subject": "Team", "key": "k"}, [Node("participant", {"jid": JID(B, "s.whatsapp.net")}),
                                                         Node("participant", {"jid": state.accounts[C].lid_jid})]),
    ])
    out = router.answer_iq(alice1, create)
    group = out.replies[0]
    assert group.tag == "group" and group.attrs["subject"] == "Team" and group.attrs["addressing_mode"] == mode
    members = {p.attrs["jid"]: p.attrs for p in group.children_by_tag("participant")}
    bob = state.accounts[B]
    bob_entry = members[bob.lid_jid if lid else bob.jid]
    assert bob_entry["phone_number" if lid else "lid"] == (bob.jid if lid else bob.lid_jid)
    assert members[state.accounts[A].lid_jid if lid else state.accounts[A].jid]["type"] == "superadmin"
    notified = {d.device for d in out.deliveries}
    assert {alice1, bob1, carol1} <= notified
    note = next(d.node for d in out.deliveries if d.device is bob1)
    assert note.attrs["type"] == "w:gp2" and note.child("create").child("group").attrs["id"] == group.attrs["id"]

    gid = JID(group.attrs["id"], "g.us")
    query = Node("iq", {"xmlns": "w:g2", "type": "get", "to": gid}, [Node("query", {"request": "interactive"})])
    assert router.answer_iq(bob1, query).replies[0].attrs["id"] == group.attrs["id"]

    msg = Node("message", {"id": "G1", "to": gid, "type": "text"}, [
        Node("participants", {}, [to(bob1.lid_jid if lid else bob1.jid, "pkmsg", b"skdm-b")]),
        enc("skmsg", b"group-ct"),
        Node("device-identity", {}, b"ADV"),
    ])
    out = router.handle(alice1, msg)
    copies = {d.device: d.node for d in out.deliveries}
    assert alice1 not in copies and {bob1, carol1, dev(state, B, 0)} <= set(copies)
    to_bob = copies[bob1]
    assert to_bob.attrs["from"] == gid and to_bob.attrs["participant"] == (alice1.lid_jid if lid else alice1.jid)
    assert to_bob.attrs["participant_pn" if lid else "participant_lid"] == (
        state.accounts[A].jid if lid else state.accounts[A].lid_jid)
    assert [(c.tag, c.attrs.get("type"), c.content) for c in to_bob.children] == [
        ("enc", "pkmsg", b"skdm-b"), ("enc", "skmsg", b"group-ct"), ("device-identity", None, b"ADV")]
    assert [c.attrs["type"] for c in copies[carol1].children] == ["skmsg"]


def test_group_errors(state: ServerState, router: Router) -> None:
    alice1, carol1 = dev(state, A, 1), dev(state, C, 1)
    group = state.add_group("Pair", state.accounts[A], [state.accounts[B]])
    query = Node("iq", {"xmlns": "w:g2", "type": "get", "to": group.jid}, [Node("query", {})])
    with pytest.raises(IQError) as forbidden:
        router.answer_iq(carol1, query)
    assert forbidden.value.code == "403"
    missing = Node("iq", {"xmlns": "w:g2", "type": "get", "to": JID("1", "g.us")}, [Node("query", {})])
    with pytest.raises(IQError):
        router.answer_iq(alice1, missing)
    msg = Node("message", {"id": "G2", "to": group.jid}, [enc("skmsg")])
    assert router.handle(carol1, msg).replies[0].attrs["error"] == "403"


def test_participating_groups(state: ServerState, router: Router) -> None:
    state.add_group("One", state.accounts[A], [state.accounts[B]])
    state.add_group("Two", state.accounts[C], [])
    iq = Node("iq", {"xmlns": "w:g2", "type": "get", "to": JID("", "g.us")}, [Node("participating", {})])
    groups = router.answer_iq(dev(state, B, 1), iq).replies[0]
    assert [g.attrs["subject"] for g in groups.children] == ["One"]


# -- offline delivery -----------------------------------------------------------------------------


class FakeConnection:
    """Implements state.Connection, recording what it is sent."""

    id = 1
    is_open = True

    def __init__(self) -> None:
        self.sent: list[Node] = []

    def next_iq_id(self) -> str:
        return f"fake.{len(self.sent)}"

    async def send_node(self, node: Node) -> None:
        self.sent.append(node)

    async def close_with_stream_error(self, code: str | None = None, conflict: str | None = None) -> None:
        self.is_open = False


async def test_offline_devices_get_their_stanzas_at_next_login(state: ServerState, router: Router) -> None:
    alice1, bob1 = dev(state, A, 1), dev(state, B, 1)
    online = FakeConnection()
    alice1.connection = online
    for i in range(3):
        msg = Node("message", {"id": f"O{i}", "to": JID(B, "s.whatsapp.net")},
                   [Node("participants", {}, [to(bob1.jid)])])
        await deliver(router.handle(alice1, msg).deliveries)
    await deliver(router.handle(bob1, Node("receipt", {"id": "x", "to": JID(A, "s.whatsapp.net")})).deliveries)
    assert [n.tag for n in online.sent] == ["receipt"]
    assert len(bob1.offline_queue) == 3
    backlog = take_offline(bob1)
    assert [n.attrs["id"] for n in backlog] == ["O0", "O1", "O2"]
    assert all(n.attrs["offline"] for n in backlog) and not bob1.offline_queue


async def test_phone_copies_are_not_queued(state: ServerState) -> None:
    phone = dev(state, B, 0)
    await deliver([Delivery(phone, Node("message", {"id": "p"}))])
    assert not phone.offline_queue
    assert Outcome().replies == []


def test_retry_receipt_carries_its_keys_to_the_sender(state: ServerState, router: Router) -> None:
    bob1, alice1 = dev(state, B, 1), dev(state, A, 1)
    retry = Node("receipt", {"id": "m9", "to": JID(A, "s.whatsapp.net"), "type": "retry"}, [
        Node("retry", {"count": "2", "id": "m9", "t": "1", "v": "1"}),
        Node("registration", {}, (77).to_bytes(4, "big")),
        Node("keys", {}, [Node("type", {}, b"\x05"), Node("identity", {}, b"i" * 32)]),
    ])
    out = router.handle(bob1, retry)
    assert out.replies[0].attrs["type"] == "retry"
    node = next(d.node for d in out.deliveries if d.device is alice1)
    assert node.attrs["type"] == "retry" and node.attrs["from"] == bob1.jid
    assert [c.tag for c in node.children] == ["retry", "registration", "keys"]
    assert node.child("keys").child("identity").content == b"i" * 32


def test_phone_prekeys_are_refilled_with_fresh_ids(state: ServerState, router: Router) -> None:
    phone = dev(state, A, 0)
    seen = set()
    for _ in range(40):
        [user] = router.answer_iq(dev(state, B, 1), bundle_iq(state.accounts[A].jid)).replies[0].children
        key_id = int.from_bytes(user.child("key").child("id").content, "big")
        assert key_id not in seen
        seen.add(key_id)
    assert phone.prekeys


def test_chatstate_goes_to_the_peer_companions(state: ServerState, router: Router) -> None:
    alice1, bob1 = dev(state, A, 1), dev(state, B, 1)
    node = Node("chatstate", {"to": JID(B, "s.whatsapp.net")}, [Node("composing", {})])
    [delivery] = router.handle(alice1, node).deliveries
    assert delivery.device is bob1 and delivery.node.attrs["from"] == JID(A, "s.whatsapp.net")
    assert delivery.node.children[0].tag == "composing"
    assert router.handle(alice1, Node("presence", {"type": "available"})).deliveries == []


def test_routed_messages_are_announced_as_server_events(state: ServerState, router: Router) -> None:
    alice1, bob1 = dev(state, A, 1), dev(state, B, 1)
    router.handle(alice1, Node("message", {"id": "E1", "to": JID(B, "s.whatsapp.net")},
                               [Node("participants", {}, [to(bob1.jid)])]))
    [event] = state.events.of_kind("message_routed")
    assert event.device is alice1 and event.data["id"] == "E1" and event.data["targets"] == [bob1]
    assert event.data["error"] is None
