"""Media-retry sealing checked against Baileys 7 (tests/node/media_retry_oracle.mjs): our client's request is
what Baileys sends (same receipt, and the emulated phone opens both); the phone's answer opens in Baileys
and in our client alike (whatsapp/mediaretry.py, whatsapp/testing/media_retry.py)."""

from __future__ import annotations

import os

import pytest

from whatsapp.binary import Node
from whatsapp.errors import MediaRetryError, ProtocolError
from whatsapp.jid import JID
from whatsapp.mediaretry import RetryTarget, open_retry_answer, parse_retry_notification, retry_receipt
from whatsapp.proto import mms_retry_pb2
from whatsapp.testing.harness.nodejs import run_node_json
from whatsapp.testing.media_host import MediaHost
from whatsapp.testing.media_retry import PhoneMedia
from whatsapp.testing.state import ServerState

ME = JID.parse("15550001111:3@s.whatsapp.net")
CHAT = JID.parse("15550002222@s.whatsapp.net")


class _Host(MediaHost):
    """A media host that "republishes" without running: enough for the phone's sealing."""

    def republish(self, enc_sha256: bytes) -> str | None:
        return "/v/t62.7118-24/new_n.enc?ccb=11-4" if enc_sha256 == b"E" * 32 else None


def phone() -> tuple[PhoneMedia, ServerState]:
    state = ServerState()
    state.add_account("15550001111")
    return PhoneMedia(state, _Host(state)), state


@pytest.mark.node
def test_our_request_is_baileys_request_and_the_phone_opens_both() -> None:
    media_key = os.urandom(32)
    iv = os.urandom(12)
    ours = retry_receipt(RetryTarget("3EB0ABC", CHAT, False), media_key, ME, iv)
    theirs = run_node_json("media_retry_oracle.mjs", input_obj={"request": {
        "id": "3EB0ABC", "remote_jid": str(CHAT), "from_me": False, "media_key": media_key.hex(), "me": str(ME)}})
    assert {k: str(v) for k, v in ours.attrs.items()} == theirs["request"]["attrs"]
    rmr = ours.child("rmr")
    assert rmr is not None and {k: str(v) for k, v in rmr.attrs.items()} == theirs["request"]["rmr"]
    state_phone, state = phone()
    account = state.accounts["15550001111"]
    device = account.primary
    state_phone.phone_has(account, "3EB0ABC", media_key, b"E" * 32)
    baileys_node = Node("receipt", dict(ours.attrs), [
        Node("encrypt", {}, [Node("enc_p", {}, bytes.fromhex(theirs["request"]["enc_p"])),
                             Node("enc_iv", {}, bytes.fromhex(theirs["request"]["enc_iv"]))]), Node("rmr", rmr.attrs)])
    for request in (ours, baileys_node):
        answer = state_phone.reply_for(device, request)
        assert answer is not None and answer.attr_str("type") == "mediaretry"
        assert open_retry_answer(parse_retry_notification(answer), media_key) == "/v/t62.7118-24/new_n.enc?ccb=11-4"


@pytest.mark.node
def test_the_phones_answer_opens_in_baileys() -> None:
    media_key = os.urandom(32)
    state_phone, state = phone()
    account = state.accounts["15550001111"]
    state_phone.phone_has(account, "3EB0XYZ", media_key, b"E" * 32)
    answer = state_phone.reply_for(account.primary, retry_receipt(RetryTarget("3EB0XYZ", CHAT, True), media_key, ME))
    assert answer is not None
    parsed = parse_retry_notification(answer)
    assert parsed.ciphertext is not None and parsed.iv is not None
    opened = run_node_json("media_retry_oracle.mjs", input_obj={"answer": {
        "ciphertext": parsed.ciphertext.hex(), "iv": parsed.iv.hex(), "media_key": media_key.hex(), "id": "3EB0XYZ"}})
    assert opened["answer"] == {"stanzaId": "3EB0XYZ", "directPath": "/v/t62.7118-24/new_n.enc?ccb=11-4",
                                "result": mms_retry_pb2.MediaRetryNotification.SUCCESS}


def test_answers_that_say_no_or_do_not_open() -> None:
    media_key = os.urandom(32)
    state_phone, state = phone()
    account = state.accounts["15550001111"]
    request = retry_receipt(RetryTarget("3EB0NOPE", CHAT, False), media_key, ME)
    refusal = state_phone.reply_for(account.primary, request)  # the phone does not have it
    assert refusal is not None
    with pytest.raises(MediaRetryError) as caught:
        open_retry_answer(parse_retry_notification(refusal), media_key)
    assert caught.value.code == 2
    state_phone.phone_has(account, "3EB0NOPE", media_key, b"F" * 32)  # known, but the blob is gone everywhere
    gone = state_phone.reply_for(account.primary, request)
    assert gone is not None
    with pytest.raises(MediaRetryError) as caught:
        open_retry_answer(parse_retry_notification(gone), media_key)
    assert caught.value.code == mms_retry_pb2.MediaRetryNotification.NOT_FOUND
    with pytest.raises(MediaRetryError):  # a wrong key cannot open it
        open_retry_answer(parse_retry_notification(gone), os.urandom(32))
    with pytest.raises(ProtocolError):
        parse_retry_notification(Node("notification", {"id": "x", "type": "mediaretry"}))
