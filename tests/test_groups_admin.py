"""Managing a group from Python with two Baileys 7 members through the emulator: create, promote, subject,
remove, invite link; Baileys sees each change, and each message after a change reaches the current
members only. Then a Baileys admin changes the group and we get the typed events."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import PEOPLE, PyPeer, paired_baileys, paired_python, pn
from whatsapp import IqError, events
from whatsapp.auth import KeyType
from whatsapp.jid import JID
from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.baileys import BaileysHarness, HarnessError

pytestmark = [pytest.mark.node, pytest.mark.slow]
GROUP_CREATE_STUB = 20


def is_user(jid: object, emulator: EmulatedServer, name: str) -> bool:
    account = emulator.account(PEOPLE[name][0])
    return JID.parse(str(jid)).user in (account.phone_number, account.lid)


async def reaches(py: PyPeer, gid: str, text: str, members: list[BaileysHarness],
                  outsiders: list[BaileysHarness]) -> str:
    """Send `text` to the group: every member decrypts it; no outsider gets it."""
    sent = await py.client.send_text(gid, text)
    for member in members:
        got = await member.wait_for("message", lambda e: e["id"] == sent.id)
        assert got["text"] == text and got["from"] == gid
    await asyncio.sleep(0.3)  # what a removed member would get arrives with the others
    for outsider in outsiders:
        assert not outsider.seen("message", id=sent.id)
    return sent.id


async def test_python_manages_a_group_of_two_baileys_members(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    bob = await paired_baileys(emulator, make_baileys, tmp_path, "bob")
    try:
        info = await py.client.create_group("Club", [pn("alice"), pn("bob")])
        gid = str(info.jid)
        assert info.subject == "Club" and len(info.participants) == 3 and info.owner is not None
        me = info.member(JID.parse(pn("py")))
        assert me is not None and me.super_admin and me.admin
        for member in (alice, bob):
            await member.wait_for("message", lambda e: e["from"] == gid and e["stub"] == GROUP_CREATE_STUB)
        await reaches(py, gid, "welcome", [alice, bob], [])

        # Promote Alice: Baileys sees it, the metadata says so, and the next message still reaches both.
        results = await py.client.promote_group_participants(gid, [pn("alice")])
        assert [r.ok for r in results] == [True]
        promoted = await alice.wait_for("group_participants", lambda e: e["action"] == "promote")
        assert promoted["id"] == gid and is_user(promoted["participants"][0], emulator, "alice")
        meta = await py.client.group_metadata(gid)
        assert len(meta.admins) == 2 and not meta.announce and not meta.locked
        baileys_view = await bob.command("group_metadata", jid=gid)
        assert {p["admin"] for p in baileys_view["participants"]} == {"superadmin", "admin", None}
        await reaches(py, gid, "after promote", [alice, bob], [])

        await py.client.set_group_subject(gid, "Club 2")
        for member in (alice, bob):
            update = await member.wait_for("groups_update", lambda e: e.get("subject") == "Club 2")
            assert update["id"] == gid
        await reaches(py, gid, "after subject", [alice, bob], [])

        # Remove Bob: our sender key is renewed, only Alice's devices get the new one, Bob gets nothing.
        removed = await py.client.remove_group_participants(gid, [pn("bob")])
        assert removed[0].ok
        gone = await bob.wait_for("group_participants", lambda e: e["action"] == "remove")
        assert is_user(gone["participants"][0], emulator, "bob")
        after = await reaches(py, gid, "after remove", [alice], [bob])
        assert "pkmsg" in py.enc_types(after) or "msg" in py.enc_types(after)  # a fresh SKDM went out
        memory = json.loads((await py.auth.get(KeyType.SENDER_KEY_MEMORY, [gid]))[gid])
        bob_users = {emulator.account(PEOPLE["bob"][0]).phone_number, emulator.account(PEOPLE["bob"][0]).lid}
        assert memory and not any(JID.parse(d).user in bob_users for d in memory)

        # The invite link: a revoked link is replaced, and the members are told.
        first = await py.client.group_invite_link(gid)
        second = await py.client.group_invite_link(gid, revoke=True)
        assert first.startswith("https://chat.whatsapp.com/") and second != first
        code = second.removeprefix("https://chat.whatsapp.com/")
        await alice.wait_for("groups_update", lambda e: e.get("inviteCode") == code)
        await reaches(py, gid, "after revoke", [alice], [bob])

        # Alice (an admin now) changes the group: we get the typed events, and the cache follows.
        await alice.command("group_description", jid=gid, description="Rules: be kind")
        described = await py.wait(events.GroupInfoChanged, lambda e: e.description is not None)
        assert described.description == "Rules: be kind" and described.by is not None
        await alice.command("group_setting", jid=gid, setting="announcement")
        announced = await py.wait(events.GroupInfoChanged, lambda e: e.announce is not None)
        assert announced.announce is True
        meta = await py.client.group_metadata(gid)
        assert meta.description == "Rules: be kind" and meta.announce and meta.description_id

        # Alice adds Bob back: the next message of ours reaches him (a new sender key distribution).
        await alice.command("group_participants", jid=gid, participants=[pn("bob")], action="add")
        await py.wait(events.GroupParticipantsChanged, lambda e: e.action == "joined")
        await reaches(py, gid, "welcome back", [alice, bob], [])

        # Our own description change names the one it replaces (the server refuses a stale one).
        await py.client.set_group_description(gid, "Rules v2")
        await alice.wait_for("groups_update", lambda e: e.get("desc") == "Rules v2")
        assert not py.failures
    finally:
        await py.close()


async def test_concurrent_lookups_share_one_query_and_429_is_retried(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    try:
        info = await py.client.create_group("Busy", [pn("alice")])
        service = emulator.router.groups
        before = service.queries
        answers = await asyncio.gather(*(py.client.group_metadata(info.jid, refresh=True) for _ in range(10)))
        assert service.queries == before + 1 and {a.subject for a in answers} == {"Busy"}

        # Two 429s, then the answer: the directory waits and asks again (short pauses for the test).
        py.client._groups.rate_limit_delays = (0.05, 0.05)
        service.rate_limit(2)
        assert (await py.client.group_metadata(info.jid, refresh=True)).subject == "Busy"
        service.rate_limit(3)
        with pytest.raises(IqError) as refused:
            await py.client.group_metadata(info.jid, refresh=True)
        assert refused.value.code == 429

        # A locked group's info is for admins: Alice (a member) is refused. Leaving works for anyone.
        await py.client.set_group_locked(info.jid, True)
        await alice.wait_for("groups_update", lambda e: e.get("restrict") is True)
        with pytest.raises(HarnessError):
            await alice.command("group_subject", jid=str(info.jid), subject="mine now")
        await alice.command("group_leave", jid=str(info.jid))
        left = await py.wait(events.GroupParticipantsChanged, lambda e: e.action == "left")
        assert is_user(left.participants[0], emulator, "alice")
        await py.client.leave_group(info.jid)
        assert not py.failures
    finally:
        await py.close()
