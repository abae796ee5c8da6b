"""The emulator's trust tokens: issuing, the notification, 463 enforcement; and what real Baileys clients get.

Decided per the real server (docs/protocol.md §Trust tokens): a gated 1:1 message to a contact who issued
the sender a token must carry it. Baileys 7 stores the tokens it is handed and attaches them, so it keeps
talking; Baileys 6.7 never attaches one, so its reply to a contact who wrote first is refused with 463 and
not delivered, as the 2026 server refuses it. `ServerSettings.tctoken_enforcement` is on by default.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from pathlib import Path

import pytest

from tests.messaging_support import DELIVERY_ACK, PEOPLE, paired_baileys, paired_python, pn
from tests.test_messaging_tokens import token_from
from whatsapp.binary.node import Node
from whatsapp.jid import JID
from whatsapp.keys import KeyPair
from whatsapp.testing import EmulatedServer
from whatsapp.testing.errors import IQError
from whatsapp.testing.harness.baileys import HarnessFactory
from whatsapp.testing.records import IssuedToken
from whatsapp.testing.routing import Router
from whatsapp.testing.settings import ServerSettings
from whatsapp.testing.state import Account, Device, PreKey, ServerState, SignedPreKey
from whatsapp.testing.tokens import KEEP_ISSUED, WEEK, issue, refusal, valid_at

A, B = "15550001111", "15550002222"
NOW = 3000 * WEEK + 500


def _companion(account: Account) -> Device:
    device = account.new_companion()
    device.identity_public = KeyPair.generate().public
    device.registration_id = 1000 + device.device_id
    device.signed_prekey = SignedPreKey(7, os.urandom(32), os.urandom(64))
    device.add_prekeys([PreKey(100, os.urandom(32))])
    return device


@pytest.fixture
def state() -> ServerState:
    state = ServerState()
    for phone in (A, B):
        _companion(state.add_account(phone))
    return state


def _token_iq(jid: JID | str, t: int = NOW, kind: str = "trusted_contact") -> Node:
    return Node("iq", {"xmlns": "privacy", "type": "set"}, [Node("tokens", {}, [
        Node("token", {"jid": jid, "t": str(t), "type": kind}),
    ])])


def _message(to: JID, *extra: Node) -> Node:
    target = JID(to.user, to.server, 1)
    enc = Node("enc", {"v": "2", "type": "msg"}, b"c")
    participants = Node("participants", {}, [Node("to", {"jid": target}, [enc])])
    return Node("message", {"id": "M1", "to": to, "type": "text"}, [participants, *extra])


def test_tokens_stay_valid_four_buckets() -> None:
    assert valid_at(IssuedToken(b"t", 2997 * WEEK), NOW)
    assert not valid_at(IssuedToken(b"t", 2997 * WEEK - 1), NOW)


def test_issuing_records_the_token_and_notifies_the_recipient(state: ServerState) -> None:
    alice, bob = state.accounts[A], state.accounts[B]
    deliveries = issue(state, alice, _token_iq(bob.lid_jid), now=NOW)  # by LID or phone number: same account
    assert [d.device for d in deliveries] == bob.companions()
    note = deliveries[0].node
    assert note.attrs["type"] == "privacy_token" and note.attrs["from"] == alice.jid
    assert note.attrs["sender_lid"] == alice.lid_jid
    token = note.child("tokens").children[0]  # type: ignore[union-attr]  # built by issue()
    assert token.attrs["t"] == str(NOW) and token.content == alice.issued_tokens[B][0].token
    first = alice.issued_tokens[B][0]
    for _ in range(3):  # issued again in the same second: the first one stays good for its window
        issue(state, alice, _token_iq(bob.jid), now=NOW)
    reply = _message(alice.jid, Node("tctoken", {}, first.token))
    assert refusal(bob.devices[1], alice, reply, alice.jid, now=NOW) is None
    later = NOW + 4 * WEEK  # the window has passed: the old ones are dropped when the next is issued
    assert refusal(bob.devices[1], alice, reply, alice.jid, now=later) is not None
    issue(state, alice, _token_iq(bob.jid, t=later), now=later)
    assert [t.t for t in alice.issued_tokens[B]] == [later]
    for _ in range(KEEP_ISSUED + 2):
        issue(state, alice, _token_iq(bob.jid, t=later), now=later)
    assert len(alice.issued_tokens[B]) == KEEP_ISSUED  # bounded all the same


@pytest.mark.parametrize(("iq", "code"), [
    (Node("iq", {}, []), 400),
    (_token_iq(JID(B, "s.whatsapp.net"), kind="other"), 400),
    (_token_iq(JID(B, "s.whatsapp.net"), t=NOW - 2 * WEEK), 400),
    (_token_iq(JID("15559990000", "s.whatsapp.net")), 404),
    (_token_iq(JID(A, "s.whatsapp.net")), 400),
])
def test_bad_token_iqs_are_refused(state: ServerState, iq: Node, code: int) -> None:
    with pytest.raises(IQError) as error:
        issue(state, state.accounts[A], iq, now=NOW)
    assert error.value.code == str(code)


def test_what_a_1to1_message_needs(state: ServerState) -> None:
    alice, bob = state.accounts[A], state.accounts[B]
    sender = alice.devices[1]
    plain = _message(bob.jid)
    assert refusal(sender, bob, plain, bob.jid, NOW) is None  # nobody issued anything: a normal reach-out
    issue(state, bob, _token_iq(alice.jid), now=NOW)
    bob_token = bob.issued_tokens[A][0].token
    assert refusal(sender, bob, plain, bob.jid, NOW) is not None  # Bob issued Alice a token: it is needed
    assert refusal(sender, bob, _message(bob.jid, Node("tctoken", {}, bob_token)), bob.jid, NOW) is None
    assert refusal(sender, bob, _message(bob.jid, Node("tctoken", {}, bob_token)), bob.jid, NOW + 5 * WEEK)
    assert refusal(sender, bob, _message(bob.jid, Node("tctoken", {}, b"forged")), bob.jid, NOW) is not None
    # A retry resend to one device and messages to one's own account carry no token.
    device = JID(B, "s.whatsapp.net", 1)
    resend = Node("message", {"id": "M1", "to": device}, [Node("enc", {"count": "1"}, b"c")])
    assert refusal(sender, bob, resend, device, NOW) is None
    assert refusal(sender, alice, _message(alice.jid), alice.jid, NOW) is None


def test_cstoken_and_restricted_senders(state: ServerState) -> None:
    alice, bob = state.accounts[A], state.accounts[B]
    sender = alice.devices[1]
    good = hmac.new(alice.nct_salt, f"{bob.lid}@lid".encode(), hashlib.sha256).digest()
    assert refusal(sender, bob, _message(bob.jid, Node("cstoken", {}, good)), bob.jid, NOW) is None
    assert refusal(sender, bob, _message(bob.jid, Node("cstoken", {}, b"x" * 32)), bob.jid, NOW) is not None
    alice.reachout_restricted = True
    assert refusal(sender, bob, _message(bob.jid), bob.jid, NOW) is not None
    assert refusal(sender, bob, _message(bob.jid, Node("cstoken", {}, good)), bob.jid, NOW) is not None
    issue(state, bob, _token_iq(alice.jid, t=int(time.time())), now=int(time.time()))
    token = bob.issued_tokens[A][0].token
    assert refusal(sender, bob, _message(bob.jid, Node("tctoken", {}, token)), bob.jid) is None


def test_router_refuses_with_463_and_delivers_nothing(state: ServerState) -> None:
    alice, bob = state.accounts[A], state.accounts[B]
    issue(state, bob, _token_iq(alice.jid, t=int(time.time())), now=int(time.time()))
    lenient, strict = Router(state, settings=ServerSettings(tctoken_enforcement=False)), Router(state)
    assert lenient.handle(alice.devices[1], _message(bob.jid)).deliveries  # enforcement turned off: routed
    outcome = strict.handle(alice.devices[1], _message(bob.jid))
    assert outcome.deliveries == [] and outcome.replies[0].attrs["error"] == "463"
    with_token = _message(bob.jid, Node("tctoken", {}, bob.issued_tokens[A][0].token))
    routed = strict.handle(alice.devices[1], with_token)
    assert "error" not in routed.replies[0].attrs and routed.deliveries
    assert all(d.node.child("tctoken") is None for d in routed.deliveries)  # the token stays with the server


@pytest.mark.node
@pytest.mark.slow
async def test_baileys_7_and_python_keep_talking_under_enforcement(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice", "baileys")
    try:
        first = (await alice.command("send_text", jid=pn("py"), text="hello python"))["id"]
        got = await py.message(first)
        await token_from(py, emulator, "alice")  # Baileys 7 issued its token after writing; we have it now
        reply = await py.client.send_text(pn("alice"), "hello alice", quoted=got)
        assert (await alice.wait_for("message", lambda e: e["id"] == reply.id))["text"] == "hello alice"
        # Baileys stored the token our client issued after the reply and attaches it to its next message.
        await emulator.wait_for(lambda e: e.kind == "token_issued" and e.account is emulator.account(PEOPLE["py"][0]))
        await asyncio.sleep(0.5)  # Baileys stores the notification's token in the background
        second = (await alice.command("send_text", jid=pn("py"), text="again"))["id"]
        assert (await py.message(second)).text == "again"
        routed = [e.data["error"] for e in emulator.state.events.of_kind("message_routed") if e.data["id"] == second]
        assert routed == [None]
        await alice.wait_for("update", lambda e: e["id"] == second and (e["status"] or 0) >= DELIVERY_ACK)
    finally:
        await py.close()


@pytest.mark.node
@pytest.mark.slow
async def test_baileys_6_reply_without_the_token_is_refused_with_463(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py = await paired_python(emulator)
    bob = await paired_baileys(emulator, make_baileys, tmp_path, "bob", "@whiskeysockets/baileys")
    try:
        first = await py.client.send_text(pn("bob"), "hello bob")  # Bob never issued a token: a reach-out
        assert (await bob.wait_for("message", lambda e: e["id"] == first.id))["text"] == "hello bob"
        await emulator.wait_for(lambda e: e.kind == "token_issued" and e.account is emulator.account(PEOPLE["py"][0]))
        answer = (await bob.command("send_text", jid=pn("py"), text="hi"))["id"]
        refused = await emulator.wait_for(lambda e: e.kind == "message_routed" and e.data["id"] == answer)
        assert refused.data["error"] == "463" and refused.data["targets"] == []
        assert not [m for m in py.messages if m.id == answer]
    finally:
        await py.close()
