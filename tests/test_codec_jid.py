"""JID parsing, printing, predicates and Signal addresses."""

from __future__ import annotations

import pytest

from whatsapp.errors import DecodeError, EncodeError
from whatsapp.jid import (
    DOMAIN_FOR_SERVER,
    JID,
    SERVER_FOR_DOMAIN,
    SERVER_JID,
    STATUS_BROADCAST_JID,
    SignalAddress,
)
from whatsapp.testing.harness.nodejs import run_node_json

ROUND_TRIP = [
    ("15551234567@s.whatsapp.net", JID("15551234567", "s.whatsapp.net")),
    ("15551234567:12@s.whatsapp.net", JID("15551234567", "s.whatsapp.net", 12)),
    ("15551234567_5:3@s.whatsapp.net", JID("15551234567", "s.whatsapp.net", 3, agent=5)),
    ("@s.whatsapp.net", JID("", "s.whatsapp.net")),
    ("123456789012345@lid", JID("123456789012345", "lid")),
    ("123456789012345:7@lid", JID("123456789012345", "lid", 7)),
    ("120363025246125486@g.us", JID("120363025246125486", "g.us")),
    ("15551234567-1600000000@g.us", JID("15551234567-1600000000", "g.us")),
    ("status@broadcast", JID("status", "broadcast")),
    ("1600000000@broadcast", JID("1600000000", "broadcast")),
    ("120363123@newsletter", JID("120363123", "newsletter")),
    ("15551234567:99@hosted", JID("15551234567", "hosted", 99)),
    ("123456789012345:99@hosted.lid", JID("123456789012345", "hosted.lid", 99)),
    ("100001234:2@msgr", JID("100001234", "msgr", 2)),
    ("7-5551234:3@interop", JID("5551234", "interop", 3, integrator=7)),
    ("867051314767696@bot", JID("867051314767696", "bot")),
    ("16505361212@c.us", JID("16505361212", "c.us")),
]


@pytest.mark.parametrize(("text", "jid"), ROUND_TRIP)
def test_parse_and_print(text: str, jid: JID) -> None:
    assert JID.parse(text) == jid
    assert str(jid) == text
    assert JID.parse(str(jid)) == jid


def test_whatsmeow_forms() -> None:
    assert JID.parse("15551234567.5:3@s.whatsapp.net") == JID("15551234567", "s.whatsapp.net", 3, agent=5)
    assert JID.parse("15551234567.0:3@s.whatsapp.net") == JID("15551234567", "s.whatsapp.net", 3)
    assert JID.parse("s.whatsapp.net") == SERVER_JID
    assert JID.parse("g.us") == JID("", "g.us")
    # a dot on a non-user server is part of the user
    assert JID.parse("a.b@newsletter") == JID("a.b", "newsletter")


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "abc",
        "a@",
        "a@b@c",
        "a:@s.whatsapp.net",
        "a:x@s.whatsapp.net",
        "a:1:2@s.whatsapp.net",
        "a:70000@s.whatsapp.net",
        "a_x@s.whatsapp.net",
        "a_300:1@s.whatsapp.net",
        "a b@s.whatsapp.net",
        "a@s.what sapp.net",
        "a@.lid",
        "1-2:3@interop" + "\n",
    ],
)
def test_parse_rejects_junk(junk: str) -> None:
    with pytest.raises(DecodeError):
        JID.parse(junk)
    assert JID.try_parse(junk) is None


def test_parse_rejects_non_str() -> None:
    with pytest.raises(DecodeError):
        JID.parse(b"1@s.whatsapp.net")  # type: ignore[arg-type]


def test_repr_and_constants() -> None:
    assert str(SERVER_JID) == "@s.whatsapp.net"
    assert repr(JID("1", "lid", 2)) == "JID('1:2@lid')"
    assert str(STATUS_BROADCAST_JID) == "status@broadcast"
    assert SERVER_FOR_DOMAIN == {0: "s.whatsapp.net", 1: "lid", 128: "hosted", 129: "hosted.lid"}
    assert DOMAIN_FOR_SERVER == {"lid": 1, "hosted": 128, "hosted.lid": 129}


def test_to_non_ad_and_with_device() -> None:
    jid = JID.parse("15551234567_5:3@s.whatsapp.net")
    assert jid.to_non_ad() == JID("15551234567", "s.whatsapp.net")
    assert jid.to_non_ad().with_device(4) == JID("15551234567", "s.whatsapp.net", 4)
    plain = JID("1", "lid")
    assert plain.to_non_ad() is plain
    assert JID.parse("7-55:3@interop").to_non_ad() == JID("55", "interop", integrator=7)
    assert hash(JID.parse("1:2@lid")) == hash(JID("1", "lid", 2))


def test_predicates() -> None:
    pn = JID.parse("15551234567:3@s.whatsapp.net")
    assert pn.is_pn and pn.is_user and pn.is_ad and not pn.is_lid and not pn.is_group
    assert JID.parse("1@lid").is_lid and JID.parse("1@lid").is_user
    assert JID.parse("1@g.us").is_group
    assert JID.parse("status@broadcast").is_status_broadcast
    assert not JID.parse("status@broadcast").is_broadcast_list
    assert JID.parse("123@broadcast").is_broadcast_list and JID.parse("123@broadcast").is_broadcast
    assert JID.parse("1@newsletter").is_newsletter
    assert JID.parse("1:99@hosted").is_hosted and JID.parse("1:99@hosted.lid").is_hosted
    assert JID.parse("867051314767696@bot").is_bot
    assert JID.parse("13135550002@s.whatsapp.net").is_bot
    assert JID.parse("13135550002@c.us").is_bot
    assert not JID.parse("13135550002:1@s.whatsapp.net").is_bot
    assert not JID.parse("15551234567@s.whatsapp.net").is_bot
    assert SERVER_JID.is_server and not SERVER_JID.is_pn and not SERVER_JID.is_user
    assert JID("1", "lid").same_user(JID("1", "lid", 5))
    assert not JID("1", "lid").same_user(JID("1", "s.whatsapp.net"))


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("15551234567@s.whatsapp.net", "15551234567.0"),
        ("15551234567:12@s.whatsapp.net", "15551234567.12"),
        ("123456789012345@lid", "123456789012345_1.0"),
        ("123456789012345:7@lid", "123456789012345_1.7"),
        ("15551234567:99@hosted", "15551234567_128.99"),
        ("123456789012345:99@hosted.lid", "123456789012345_129.99"),
        ("15551234567_5:2@s.whatsapp.net", "15551234567_5.2"),
    ],
)
def test_signal_address(text: str, address: str) -> None:
    jid = JID.parse(text)
    assert jid.signal_address == address
    assert SignalAddress.parse(address) == jid.signal_protocol_address
    assert str(jid.signal_protocol_address) == address


def test_signal_address_rejects_what_baileys_rejects() -> None:
    with pytest.raises(EncodeError):
        _ = SERVER_JID.signal_address
    with pytest.raises(EncodeError):
        _ = JID("1", "s.whatsapp.net", 99).signal_address
    with pytest.raises(DecodeError):
        SignalAddress.parse("nodevice")
    assert SignalAddress.parse("a.b.3") == SignalAddress("a.b", 3)


@pytest.mark.node
def test_domain_types_and_signal_addresses_match_baileys() -> None:
    """Our user/server/device/domain for each JID equals Baileys 7's `jidDecode` of its string, and our
    signal address equals its `jidToSignalProtocolAddress`."""
    texts = [text for text, _ in ROUND_TRIP if "@msgr" not in text and "@interop" not in text]
    signal_texts = [t for t in texts if not t.startswith("@")]  # a signal address needs a user
    ops = [{"op": "jid", "jid": t} for t in texts] + [{"op": "signal", "jid": t} for t in signal_texts]
    results = run_node_json("codec_oracle.mjs", input_obj={"ops": ops})
    for text, result in zip(signal_texts, results[len(texts) :], strict=True):
        assert result["ok"], (text, result)
        assert result["address"] == JID.parse(text).signal_address, text
    for text, result in zip(texts, results[: len(texts)], strict=True):
        jid = JID.parse(text)
        theirs = result["jid"]
        assert (theirs["user"], theirs["server"]) == (jid.user, jid.server), text
        assert theirs["domainType"] == jid.domain_type, text
        assert (theirs["device"] or 0) == jid.device, text
