"""Typed events for what the server tells us, driven by Baileys 7 and the emulator: group participants and
info, calls (and rejecting them), identity and block-list changes; plugins get them through bot routers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import PEOPLE, PyPeer, paired_baileys, pn
from whatsapp import events
from whatsapp.bot import Dispatcher, EventContext, Router
from whatsapp.jid import JID
from whatsapp.payload import DeviceConfig
from whatsapp.testing import EmulatedServer
from whatsapp.testing.notices import blocklist_changed, identity_changed

pytestmark = [pytest.mark.node, pytest.mark.slow]


def users(emulator: EmulatedServer, name: str) -> set[str]:
    account = emulator.account(PEOPLE[name][0])
    return {account.phone_number, account.lid}


async def test_group_changes_calls_identity_and_blocklist_are_typed_events(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    py = PyPeer(emulator, device=DeviceConfig(push_name="Py"))
    await py.pair(*PEOPLE["py"])
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    emulator.create_account(PEOPLE["bob"][0], push_name="Bob")
    seen: list[events.Event] = []
    watcher = Router(name="watcher")

    @watcher.on(events.GroupParticipantsChanged)
    async def members(ctx: EventContext[events.GroupParticipantsChanged]) -> None:
        seen.append(ctx.event)

    @watcher.on(events.CallOffered)
    async def ringing(ctx: EventContext[events.CallOffered]) -> None:
        seen.append(ctx.event)

    dispatcher = Dispatcher(py.client)
    dispatcher.include_router(watcher)
    dispatcher.attach()
    try:
        gid = (await alice.command("create_group", subject="Team", participants=[pn("py")]))["id"]
        group = JID.parse(gid)

        await alice.command("group_participants", jid=gid, participants=[pn("bob")], action="add")
        joined = await py.wait(events.GroupParticipantsChanged, lambda e: e.action == "joined")
        assert joined.group == group and joined.participants[0].user in users(emulator, "bob")
        assert joined.by is not None and joined.by.user in users(emulator, "alice")
        await alice.command("group_participants", jid=gid, participants=[pn("py")], action="promote")
        promoted = await py.wait(events.GroupParticipantsChanged, lambda e: e.action == "promoted")
        assert promoted.participants[0].user in users(emulator, "py")
        await alice.command("group_participants", jid=gid, participants=[pn("py")], action="demote")
        await py.wait(events.GroupParticipantsChanged, lambda e: e.action == "demoted")
        await alice.command("group_participants", jid=gid, participants=[pn("bob")], action="remove")
        removed = await py.wait(events.GroupParticipantsChanged, lambda e: e.action == "removed")
        assert removed.participants[0].user in users(emulator, "bob")
        await alice.command("group_subject", jid=gid, subject="Team 2")
        info = await py.wait(events.GroupInfoChanged, lambda e: e.subject is not None)
        assert info.subject == "Team 2" and info.group == group and info.description is None

        # A call from Alice's phone: offered, then declined by us; the server saw the reject.
        caller = emulator.account(PEOPLE["alice"][0]).devices[0]
        call_id = await emulator.calls.offer(caller, emulator.account(PEOPLE["py"][0]), video=True)
        offer = await py.wait(events.CallOffered, lambda e: e.call_id == call_id)
        assert offer.video and offer.caller.user == PEOPLE["alice"][0]
        await py.client.reject_call(offer)
        rejected = await emulator.wait_for(lambda e: e.kind == "call_rejected" and e.data["call_id"] == call_id)
        assert rejected.device is not None and rejected.device.account.phone_number == PEOPLE["py"][0]

        # Alice re-registered: her identity changed. Our phone blocked Alice: the block list changed.
        await identity_changed(emulator.state, emulator.account(PEOPLE["alice"][0]),
                               [emulator.account(PEOPLE["py"][0])])
        identity = await py.wait(events.IdentityChanged)
        assert identity.jid.user == PEOPLE["alice"][0]
        await blocklist_changed(emulator.state, emulator.account(PEOPLE["py"][0]), [(JID.parse(pn("alice")), "block")])
        blocked = await py.wait(events.BlocklistChanged)
        assert blocked.changes == ((JID.parse(pn("alice")), "block"),)

        # The plugin's router handlers got the typed events too.
        await dispatcher.idle()
        assert {e.action for e in seen if isinstance(e, events.GroupParticipantsChanged)} >= {
            "joined", "promoted", "demoted", "removed"}
        assert any(isinstance(e, events.CallOffered) and e.call_id == call_id for e in seen)
        assert not py.failures
    finally:
        await dispatcher.close()
        await py.close()
