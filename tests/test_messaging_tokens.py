"""Trust tokens end to end: Python clients through an emulated server that enforces them (463 without).

The contact writes first, its client issues its token to us, the server hands it over in a
`privacy_token` notification, our reply carries it; we issue ours after the reply, and the contact's
next message carries that one (docs/protocol.md §Trust tokens).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.bot_support import capture_logs
from tests.messaging_support import PEOPLE, PyPeer, paired_python, pn
from whatsapp.auth import KeyType
from whatsapp.binary import Node
from whatsapp.errors import SendError
from whatsapp.tctoken import TokenRecord
from whatsapp.testing import EmulatedServer, HandlerContext
from whatsapp.testing.delivery import deliver
from whatsapp.testing.dispatch import IQResult
from whatsapp.testing.tokens import issue

pytestmark = pytest.mark.slow


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    yield from capture_logs()


async def token_from(peer: PyPeer, server: EmulatedServer, name: str, timeout: float = 10.0) -> bytes:
    """The token the account of PEOPLE[name] issued to `peer`, once `peer` has stored it."""
    key = f"{server.account(PEOPLE[name][0]).lid}@lid"

    async def stored() -> bytes:
        while True:
            raw = (await peer.auth.get(KeyType.TC_TOKEN, [key])).get(key)
            record = TokenRecord.from_bytes(raw) if raw else None
            if record is not None and record.token:
                return record.token
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(stored(), timeout)


def _routed(server: EmulatedServer, message_id: str) -> list[str | None]:
    """The ack error of each time the server routed this message id (None: delivered)."""
    return [e.data["error"] for e in server.state.events.of_kind("message_routed") if e.data["id"] == message_id]


async def test_reply_to_a_contact_who_wrote_first_carries_its_token(emulator: EmulatedServer) -> None:
    bot = await paired_python(emulator, name="py")
    alice = await paired_python(emulator, name="alice")
    try:
        hello = await alice.client.send_text(pn("py"), "hello bot")
        got = await bot.message(hello.id)
        alice_token = await token_from(bot, emulator, "alice")
        issued = emulator.account(PEOPLE["alice"][0]).issued_tokens[PEOPLE["py"][0]]
        assert [t.token for t in issued] == [alice_token]

        reply = await bot.client.send_text(pn("alice"), "hi alice", quoted=got)
        sent = bot.sent("message", id=reply.id)
        assert len(sent) == 1 and sent[0].child("tctoken").content == alice_token  # type: ignore[union-attr]
        assert (await alice.message(reply.id)).text == "hi alice"
        assert _routed(emulator, reply.id) == [None]

        # The bot issued its own token after the reply: Alice's next message needs and carries it.
        bot_token = await token_from(alice, emulator, "py")
        again = await alice.client.send_text(pn("py"), "thanks")
        assert alice.sent("message", id=again.id)[0].child("tctoken").content == bot_token  # type: ignore[union-attr]
        assert (await bot.message(again.id)).text == "thanks"
        # Once per 7-day bucket: the second reply issues nothing new.
        await bot.client.send_text(pn("alice"), "bye")
        await asyncio.sleep(0.2)
        assert len(emulator.account(PEOPLE["py"][0]).issued_tokens[PEOPLE["alice"][0]]) == 1
        assert not bot.failures and not alice.failures
    finally:
        await alice.close()
        await bot.close()


async def test_a_token_that_arrives_during_the_refresh_gets_one_retry(emulator: EmulatedServer) -> None:
    bot = await paired_python(emulator, name="py")
    alice = await paired_python(emulator, name="alice")
    # Alice issued her token to the bot (as her client does after writing), but its notification is held back.
    token = Node("token", {"jid": pn("py"), "t": str(int(time.time())), "type": "trusted_contact"})
    held = issue(emulator.state, emulator.account(PEOPLE["alice"][0]), Node("iq", {}, [Node("tokens", {}, [token])]))
    original = emulator.handlers.find_iq("privacy", "set", "tokens")
    assert original is not None

    async def deliver_first(context: HandlerContext, iq: Node) -> IQResult:
        # Alice's notification was late: it reaches the bot while the bot re-issues its own token.
        await deliver(held)
        held.clear()
        return await original(context, iq)

    emulator.handlers.iq("privacy", "set", "tokens")(deliver_first)
    try:
        sent = await bot.client.send_text(pn("alice"), "first")
        assert _routed(emulator, sent.id) == ["463", None]  # refused without her token, accepted with it
        nodes = bot.sent("message", id=sent.id)
        assert nodes[0].child("tctoken") is None and nodes[1].child("tctoken") is not None
        assert (await alice.message(sent.id)).text == "first"
    finally:
        await alice.close()
        await bot.close()


async def test_463_surfaces_as_send_error_when_no_token_can_be_had(
    emulator: EmulatedServer, log_lines: list[str]
) -> None:
    bot = await paired_python(emulator, name="py")
    carol = await paired_python(emulator, name="carol")
    emulator.account(PEOPLE["py"][0]).reachout_restricted = True  # may not start new chats
    try:
        with pytest.raises(SendError) as refused:
            await bot.client.send_text(pn("carol"), "unsolicited")
        assert refused.value.code == 463
        message_id = refused.value.message_id
        assert _routed(emulator, message_id) == ["463"]  # refreshed, found nothing new, so no second try
        assert len(bot.sent("message", id=message_id)) == 1
        assert [n for n in bot.sent_nodes if n.attrs.get("xmlns") == "privacy"]  # the refresh re-issued ours
        assert not carol.messages
        warnings = [line for line in log_lines if line.startswith("WARNING") and message_id in line]
        assert len(warnings) == 1 and "463" in warnings[0] and "trust token" in warnings[0]

        # Once Carol writes (and issues her token), the restricted bot may answer her.
        hello = await carol.client.send_text(pn("py"), "hi")
        await bot.message(hello.id)
        await token_from(bot, emulator, "carol")
        answer = await bot.client.send_text(pn("carol"), "now I may")
        assert (await carol.message(answer.id)).text == "now I may"
    finally:
        await carol.close()
        await bot.close()
