"""Trust tokens: the pure part and the concern over a fake link (whatsapp/tctoken.py, cstoken.py, trust.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from tests.client_support import Rig
from whatsapp.abprops import ServerProps, parse_props, props_iq
from whatsapp.addressing import lid_user_for, store_mapping
from whatsapp.auth import KeyType, MemoryAuthState
from whatsapp.binary import Node
from whatsapp.cstoken import cstoken, nct_salt, store_nct_salt
from whatsapp.jid import JID
from whatsapp.tctoken import (
    BUCKET_SECONDS,
    TokenRecord,
    TokenWindow,
    issue_iq,
    parse_privacy_notification,
    storage_key,
    takes_tokens,
)
from whatsapp.trust import TrustTokens, with_token_nodes

WEEK = BUCKET_SECONDS
NOW = 2900 * WEEK + 12345  # inside bucket 2900
ALICE_PN, ALICE_LID = JID("15550001111", "s.whatsapp.net"), JID("100000000000077", "lid")


def test_window_is_four_buckets_of_seven_days() -> None:
    window = TokenWindow()
    assert window.cutoff(NOW) == 2897 * WEEK  # the current bucket and the three before it
    assert not window.expired(2897 * WEEK, NOW)
    assert window.expired(2897 * WEEK - 1, NOW)
    assert window.expired(None, NOW) and window.expired(0, NOW)
    assert TokenWindow(bucket=100, buckets=2).cutoff(1050) == 900


def test_our_token_is_issued_once_per_bucket() -> None:
    window = TokenWindow()
    assert window.issue_due(None, NOW)
    assert not window.issue_due(2900 * WEEK, NOW)  # this bucket already
    assert window.issue_due(2900 * WEEK - 1, NOW)  # the last second of the previous bucket


def test_record_round_trip_merge_and_baileys_import() -> None:
    record = TokenRecord(b"\x01tok", 100, 50)
    assert TokenRecord.from_bytes(record.to_bytes()) == record
    assert TokenRecord.from_bytes(TokenRecord().to_bytes()) == TokenRecord()
    assert record.merged(b"new", 101) == TokenRecord(b"new", 101, 50)
    assert record.merged(b"old", 99) is None  # a stored newer token wins
    baileys = b"\x00baileys-json\x00" + json.dumps({
        "token": {"type": "Buffer", "data": base64.b64encode(b"from-baileys").decode()},
        "timestamp": "1790000000", "senderTimestamp": 1790000100,
    }).encode()
    assert TokenRecord.from_bytes(baileys) == TokenRecord(b"from-baileys", 1790000000, 1790000100)
    assert TokenRecord.from_bytes(b"\xff junk") is None
    window = TokenWindow()
    assert TokenRecord(b"t", NOW - 60, None).usable(window, NOW) == b"t"
    assert TokenRecord(b"t", NOW - 5 * WEEK, None).usable(window, NOW) is None
    assert TokenRecord(None, NOW, NOW).usable(window, NOW) is None


def test_who_takes_tokens() -> None:
    assert takes_tokens(ALICE_PN) and takes_tokens(ALICE_LID) and takes_tokens(JID("1555", "s.whatsapp.net", 3))
    assert not takes_tokens(JID("0", "s.whatsapp.net"))  # service announcements
    assert not takes_tokens(JID("13135550002", "s.whatsapp.net"))  # a Meta bot
    assert not takes_tokens(JID("120363000000000001", "g.us"))
    assert storage_key(JID("100000000000077", "lid", 4)) == "100000000000077@lid"


def test_notification_is_read_and_bad_tokens_named() -> None:
    node = Node("notification", {"from": ALICE_PN, "sender_lid": ALICE_LID, "type": "privacy_token", "id": "1"}, [
        Node("tokens", {}, [
            Node("token", {"jid": "me@s.whatsapp.net", "t": "1790000000", "type": "trusted_contact"}, b"T1"),
            Node("token", {"t": "1790000001", "type": "other"}, b"X"),
            Node("token", {"type": "trusted_contact"}, b"no-t"),
        ]),
    ])
    received = parse_privacy_notification(node)
    assert received is not None
    assert (received.sender, received.sender_lid, received.tokens) == (ALICE_PN, ALICE_LID, [(b"T1", 1790000000)])
    assert len(received.problems) == 2
    assert parse_privacy_notification(Node("notification", {"type": "privacy_token"}, [Node("tokens")])) is None
    assert parse_privacy_notification(Node("notification", {"from": ALICE_PN})) is None


def test_issue_iq_shape() -> None:
    iq = issue_iq(JID("100000000000077", "lid", 2), 1790000000)
    assert (iq.tag, iq.attrs["xmlns"], iq.attrs["type"]) == ("iq", "privacy", "set")
    token = iq.child("tokens").children[0]  # type: ignore[union-attr]  # built just above
    assert token.attrs == {"jid": JID("100000000000077", "lid"), "t": "1790000000", "type": "trusted_contact"}


def test_cstoken_is_hmac_of_the_lid() -> None:
    salt = bytes(range(32))
    expected = hmac.new(salt, b"100000000000077@lid", hashlib.sha256).digest()
    assert cstoken(salt, JID("100000000000077", "lid", 5)) == expected
    with pytest.raises(ValueError):
        cstoken(salt, ALICE_PN)


async def test_nct_salt_is_kept_in_the_credentials() -> None:
    auth = MemoryAuthState()
    assert nct_salt(auth.creds) is None
    await store_nct_salt(auth, b"salt" * 8)
    assert nct_salt(auth.creds) == b"salt" * 8
    await store_nct_salt(auth, None)
    assert nct_salt(auth.creds) is None


def test_server_props_gate_by_code_or_name() -> None:
    answer = Node("iq", {"type": "result"}, [Node("props", {"hash": "h"}, [
        Node("prop", {"config_code": "10518", "config_value": "false"}),
        Node("prop", {"name": "lid_trusted_token_issue_to_lid", "value": "0"}),
        Node("prop", {"config_code": "tctoken_num_buckets", "config_value": "2"}),
    ])])
    props = ServerProps(parse_props(answer))
    assert not props.tctoken_on_1to1 and not props.issue_token_to_lid
    assert props.token_window == TokenWindow(BUCKET_SECONDS, 2)
    defaults = ServerProps()
    assert defaults.tctoken_on_1to1 and defaults.issue_token_to_lid and defaults.token_window == TokenWindow()
    assert props_iq().child("props").attrs == {"protocol": "1"}  # type: ignore[union-attr]  # built above


def _paired_rig() -> Rig:
    rig = Rig()
    rig.auth.creds.me_id = "15550009999:3@s.whatsapp.net"
    rig.auth.creds.account = b"\x0a\x00"
    return rig


def _notification(token: bytes, t: int) -> Node:
    return Node("notification", {"from": ALICE_PN, "sender_lid": ALICE_LID, "type": "privacy_token", "id": "7"}, [
        Node("tokens", {}, [Node("token", {"t": str(t), "type": "trusted_contact"}, token)]),
    ])


async def test_tokens_are_stored_by_lid_and_attached_while_valid() -> None:
    rig = _paired_rig()
    trust = TrustTokens(rig.ctx, ServerProps(), wall=lambda: NOW)
    await trust.on_privacy_token(_notification(b"alice-token", NOW - 100))
    assert await lid_user_for(rig.auth, ALICE_PN.user) == ALICE_LID.user  # the pair the notification revealed
    stored = await rig.auth.get(KeyType.TC_TOKEN, ["100000000000077@lid"])
    assert TokenRecord.from_bytes(stored["100000000000077@lid"]) == TokenRecord(b"alice-token", NOW - 100)
    for chat in (ALICE_PN, ALICE_LID):  # by phone number or LID: the same contact
        nodes = await trust.stanza_nodes(chat)
        assert [(n.tag, n.content) for n in nodes] == [("tctoken", b"alice-token")]
    await trust.on_privacy_token(_notification(b"older", NOW - 200))  # an older token does not replace it
    assert (await trust.stanza_nodes(ALICE_LID))[0].content == b"alice-token"

    expired = TrustTokens(rig.ctx, ServerProps(), wall=lambda: NOW + 5 * WEEK)
    assert await expired.stanza_nodes(ALICE_LID) == []
    gated = TrustTokens(rig.ctx, ServerProps({"10518": "0"}), wall=lambda: NOW)
    assert await gated.stanza_nodes(ALICE_LID) == []


async def test_cstoken_when_there_is_no_tctoken() -> None:
    rig = _paired_rig()
    trust = TrustTokens(rig.ctx, ServerProps(), wall=lambda: NOW)
    assert await trust.stanza_nodes(ALICE_LID) == []
    await store_nct_salt(rig.auth, b"s" * 32)
    nodes = await trust.stanza_nodes(ALICE_LID)
    assert [(n.tag, n.content) for n in nodes] == [("cstoken", cstoken(b"s" * 32, ALICE_LID))]
    assert await trust.stanza_nodes(JID("15550005555", "s.whatsapp.net")) == []  # no LID known: no cstoken


async def test_ours_is_issued_after_a_send_once_per_bucket() -> None:
    rig = _paired_rig()
    trust = TrustTokens(rig.ctx, ServerProps(), wall=lambda: NOW)
    await trust.on_privacy_token(_notification(b"alice-token", NOW - 100))
    trust.after_send(ALICE_PN)
    await rig.control.settle()
    issued = [q for q in rig.link.queries if q.attrs.get("xmlns") == "privacy"]
    assert len(issued) == 1
    token = issued[0].child("tokens").children[0]  # type: ignore[union-attr]  # the issue IQ's shape
    assert token.attrs["jid"] == ALICE_LID and token.attrs["t"] == str(NOW)
    record = TokenRecord.from_bytes((await rig.auth.get(KeyType.TC_TOKEN, ["100000000000077@lid"]))[
        "100000000000077@lid"])
    assert record == TokenRecord(b"alice-token", NOW - 100, NOW)  # her token kept, our issue time added
    trust.after_send(ALICE_LID)
    await rig.control.settle()
    assert len([q for q in rig.link.queries if q.attrs.get("xmlns") == "privacy"]) == 1  # same bucket: not again
    to_pn = TrustTokens(rig.ctx, ServerProps({"14303": "false"}), wall=lambda: NOW + WEEK)
    to_pn.after_send(ALICE_LID)
    await rig.control.settle()
    last = [q for q in rig.link.queries if q.attrs.get("xmlns") == "privacy"][-1]
    assert last.child("tokens").children[0].attrs["jid"] == ALICE_PN  # type: ignore[union-attr]  # prop 14303


async def test_recover_offers_a_fresh_token_only() -> None:
    rig = _paired_rig()
    trust = TrustTokens(rig.ctx, ServerProps(), wall=lambda: NOW)
    assert await trust.recover(ALICE_LID, []) is None  # nothing to be had: no identical second try
    await trust.on_privacy_token(_notification(b"late", NOW - 5))
    fresh = await trust.recover(ALICE_LID, [])
    assert fresh is not None and fresh[0].content == b"late"
    assert await trust.recover(ALICE_LID, fresh) is None  # the one refused already
    message = Node("message", {"id": "X"}, [Node("participants"), Node("cstoken", {}, b"c")])
    replaced = with_token_nodes(message, fresh)
    assert [c.tag for c in replaced.children] == ["participants", "tctoken"] and replaced.attrs == {"id": "X"}
    assert len([q for q in rig.link.queries if q.attrs.get("xmlns") == "privacy"]) == 3  # each 463 re-issues ours


async def test_a_token_stored_by_phone_number_is_found_once_the_lid_is_known() -> None:
    rig = _paired_rig()
    trust = TrustTokens(rig.ctx, ServerProps(), wall=lambda: NOW)
    by_pn = Node("notification", {"from": ALICE_PN, "type": "privacy_token", "id": "8"}, [
        Node("tokens", {}, [Node("token", {"t": str(NOW - 9), "type": "trusted_contact"}, b"pn-token")]),
    ])
    await trust.on_privacy_token(by_pn)
    assert "15550001111@s.whatsapp.net" in await rig.auth.get(KeyType.TC_TOKEN, ["15550001111@s.whatsapp.net"])
    async with rig.auth.transaction() as tx:  # the LID is learned later (a message envelope, usync)
        store_mapping(tx, ALICE_PN.user, ALICE_LID.user)
    assert [n.content for n in await trust.stanza_nodes(ALICE_PN)] == [b"pn-token"]
