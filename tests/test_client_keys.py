"""After login and on every send: the prekey digest check, the AB props, `reason="identity"`, the message secret."""

from __future__ import annotations

import asyncio
import os

from tests.messaging_support import PEOPLE, PyPeer, paired_python, pn
from whatsapp.auth import MemoryAuthState
from whatsapp.binary import Node
from whatsapp.creds import Credentials
from whatsapp.digest import bundle_problem, digest_problem
from whatsapp.key_nodes import encode_key_id, key_type_node, registration_node, signed_key_node
from whatsapp.msgsecret import needs_secret, with_message_secret
from whatsapp.proto import e2e_pb2
from whatsapp.testing import EmulatedServer, SignedPreKey


def _digest(creds: Credentials, ids: list[int], *, signature: bytes | None = None) -> Node:
    spk = creds.signed_prekey
    return Node("iq", {"type": "result"}, [Node("digest", {}, [
        key_type_node(),
        registration_node(creds.registration_id),
        Node("identity", {}, creds.identity_key.public),
        signed_key_node(spk.key_id, spk.key_pair.public, signature or spk.signature),
        Node("list", {}, [Node("id", {}, encode_key_id(i)) for i in ids]),
    ])])


async def test_digest_is_compared_with_what_we_hold() -> None:
    auth = MemoryAuthState()
    creds = auth.creds
    assert bundle_problem(_digest(creds, []), creds) is None
    assert bundle_problem(_digest(creds, [], signature=os.urandom(64)), creds) == "signed prekey differs"
    assert bundle_problem(Node("iq", {"type": "result"}), creds) == "the server has no key bundle for this device"
    other = Credentials.generate()
    assert bundle_problem(_digest(other, []), creds) is not None
    assert await digest_problem(_digest(creds, [5]), auth) == "1 of the server's 1 one-time prekeys are unknown here"


async def _digests_sent(peer: PyPeer, count: int) -> list[Node]:
    for _ in range(200):
        digests = [n for n in peer.sent_nodes if n.attrs.get("xmlns") == "encrypt" and n.child("digest")]
        if len(digests) >= count:
            return digests
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} digest checks sent")


async def _uploads(server: EmulatedServer, phone: str) -> int:
    return len([e for e in server.state.events.of_kind("prekeys_uploaded") if e.account is server.account(phone)])


async def test_a_digest_mismatch_after_login_uploads_our_keys_again(emulator: EmulatedServer) -> None:
    peer = await paired_python(emulator)
    try:
        device = emulator.account(PEOPLE["py"][0]).companions()[0]
        await _digests_sent(peer, 1)
        await asyncio.sleep(0.1)  # its answer is handled
        assert await _uploads(emulator, PEOPLE["py"][0]) == 1  # the first login: 812 keys, digest agreed
        await peer.close()
        # The server lost track of our signed prekey (a stale bundle): peers would build sessions we cannot open.
        good = device.signed_prekey
        assert good is not None
        device.signed_prekey = SignedPreKey(good.key_id, os.urandom(32), os.urandom(64))
        await peer.start_again()
        await emulator.wait_for(lambda e: e.kind == "prekeys_uploaded" and e.device is device
                                and e.data["count"] == 100, past=False, timeout=10)
        assert device.signed_prekey == good  # the upload carried our real signed prekey
        assert len(await _digests_sent(peer, 2)) == 2  # one per login
    finally:
        await peer.close()


async def test_server_props_gate_the_token_on_1to1(emulator: EmulatedServer) -> None:
    # A server where tokens on 1:1 chats are not rolled out: it says so in its props and does not ask for
    # them; the emulator's default (enforcing, no props) is the rolled-out server of 2026.
    emulator.settings.ab_props = {"10518": "false"}
    emulator.settings.tctoken_enforcement = False
    bot = await paired_python(emulator)
    alice = await paired_python(emulator, name="alice")
    try:
        props_asked = [n for n in bot.sent_nodes if n.attrs.get("xmlns") == "abt"]
        assert len(props_asked) == 1 and props_asked[0].child("props").attrs == {"protocol": "1"}  # type: ignore[union-attr]
        hello = await alice.client.send_text(pn("py"), "hello")
        await bot.message(hello.id)
        alice_account = emulator.account(PEOPLE["alice"][0])
        await emulator.wait_for(lambda e: e.kind == "token_issued" and e.account is alice_account)
        await asyncio.sleep(0.2)  # the notification reaches the bot
        reply = await bot.client.send_text(pn("alice"), "hi")
        assert bot.sent("message", id=reply.id)[0].child("tctoken") is None  # the server said not to
    finally:
        await alice.close()
        await bot.close()


def test_message_secret_on_messages_not_on_references() -> None:
    text = e2e_pb2.Message(conversation="hi")
    secret = with_message_secret(text).messageContextInfo.messageSecret
    assert len(secret) == 32 and not text.HasField("messageContextInfo")  # a copy; the caller's is untouched
    kept = with_message_secret(with_message_secret(text))
    assert len(kept.messageContextInfo.messageSecret) == 32
    reaction = e2e_pb2.Message()
    reaction.reactionMessage.text = "👍"
    assert not needs_secret(reaction) and with_message_secret(reaction) is reaction


async def test_sends_carry_a_secret_and_bundle_fetches_say_why(emulator: EmulatedServer) -> None:
    bot: PyPeer = await paired_python(emulator)
    alice = await paired_python(emulator, name="alice")
    try:
        sent = await bot.client.send_text(pn("alice"), "first contact")
        got = await alice.message(sent.id)
        secret = got.message.messageContextInfo.messageSecret
        assert len(secret) == 32
        fetches = [n for n in bot.sent_nodes if n.attrs.get("xmlns") == "encrypt" and n.child("key")]
        users = [u for n in fetches for u in n.child("key").children]  # type: ignore[union-attr]
        assert users and all(u.attrs.get("reason") == "identity" for u in users)
        again = await bot.client.send_text(pn("alice"), "second")
        assert (await alice.message(again.id)).message.messageContextInfo.messageSecret not in (b"", secret)
    finally:
        await alice.close()
        await bot.close()
