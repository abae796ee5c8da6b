"""Users and contacts through the emulator: the on-WhatsApp check, PN↔LID lookups, about texts, profile
pictures, the block list, and push names learned from a Baileys 7 contact's messages, kept in the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import PEOPLE, paired_baileys, paired_python, pn
from whatsapp import events
from whatsapp.contacts import ContactStore
from whatsapp.jid import JID
from whatsapp.testing import EmulatedServer

pytestmark = [pytest.mark.node, pytest.mark.slow]


async def test_who_is_who(emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path) -> None:
    py = await paired_python(emulator)
    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    account = emulator.account(PEOPLE["alice"][0])
    account.about, account.picture_id = "Hey there, I use WhatsApp", "1700000000"
    try:
        found = await py.client.on_whatsapp([f"+{PEOPLE['alice'][0]}", "+1 555 000 0000"])
        by_number = {r.query: r for r in found}
        assert by_number[PEOPLE["alice"][0]].exists and by_number[PEOPLE["alice"][0]].lid == JID(account.lid, "lid")
        assert not by_number["15550000000"].exists
        # The check's LID was kept: both lookups answer from the store now.
        assert await py.client.lid_for(pn("alice")) == JID(account.lid, "lid")
        assert await py.client.pn_for(f"{account.lid}@lid") == JID.parse(pn("alice"))
        assert await py.client.pn_for("999999@lid") is None

        assert await py.client.about(pn("alice")) == "Hey there, I use WhatsApp"
        url = await py.client.profile_picture_url(pn("alice"))
        assert url is not None and url.startswith("https://") and "1700000000" in url
        assert await py.client.profile_picture_url(pn("py")) is None  # none set

        assert await py.client.blocklist() == []
        assert await py.client.block(pn("alice")) == [JID(account.lid, "lid")]
        assert await py.client.blocklist() == [JID(account.lid, "lid")]
        assert await py.client.unblock(pn("alice")) == []

        # Alice writes: her push name is kept under both her addresses, in the session store.
        sent = (await alice.command("send_text", jid=pn("py"), text="hi"))["id"]
        got = await py.message(sent)
        assert got.push_name
        assert await py.client.push_name(got.sender) == got.push_name
        assert await ContactStore(py.auth).push_name(JID.parse(pn("alice"))) == got.push_name  # a fresh reader
        assert not py.of(events.DecryptFailed)
    finally:
        await py.close()


async def test_contact_store_is_bounded_and_writes_only_changes() -> None:
    from whatsapp.auth import KeyType, MemoryAuthState

    auth = MemoryAuthState()
    store = ContactStore(auth, max_contacts=100)
    assert await store.learn(JID("1", "s.whatsapp.net"), "One", 1.0)
    assert not await store.learn(JID("1", "s.whatsapp.net"), "One", 2.0)  # unchanged: no write
    assert await store.learn(JID("1", "s.whatsapp.net"), "Uno", 3.0)
    for n in range(2, 400):
        await store.learn(JID(str(n), "s.whatsapp.net"), f"user {n}", float(n))
    kept = await auth.get(KeyType.CONTACT, [f"{n}@s.whatsapp.net" for n in range(1, 400)])
    assert len(kept) <= 100 + 2 * 64 and "399@s.whatsapp.net" in kept and "1@s.whatsapp.net" not in kept
    assert await ContactStore(auth).push_name(JID("399", "s.whatsapp.net")) == "user 399"


async def test_business_profile(emulator: EmulatedServer) -> None:
    py = await paired_python(emulator)
    shop = await paired_python(emulator, name="alice")
    account = emulator.account(PEOPLE["alice"][0])
    try:
        assert await py.client.business_profile(pn("alice")) is None  # a personal account has none
        account.platform, account.business_name = "smba", "Alice's Bakery"
        account.business_description, account.business_category = "Fresh bread daily", "Bakery"
        account.business_email, account.business_website = "hi@bakery.example", "https://bakery.example"
        account.business_address = "1 Main St"
        profile = await py.client.business_profile(pn("alice"))
        assert profile is not None and profile.jid == JID.parse(pn("alice"))
        assert (profile.description, profile.category, profile.email, profile.websites, profile.address) == (
            "Fresh bread daily", "Bakery", "hi@bakery.example", ("https://bakery.example",), "1 Main St")
        assert await py.client.business_profile("15550000000@s.whatsapp.net") is None  # no such account
        assert not py.failures
    finally:
        await shop.close()
        await py.close()
