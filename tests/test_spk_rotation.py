"""Signed-prekey rotation against the emulator and real Baileys contacts: a contact that fetched our bundle
before the rotation reached the server still starts a session (the retired key, in its grace period); one
that fetches after it gets the new key, whose signature libsignal's curve (curve25519-js) verifies."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from tests.fixtures.emulator import HarnessFactory
from tests.messaging_support import PyPeer, paired_baileys, paired_python
from whatsapp.binary import Node
from whatsapp.creds import Credentials
from whatsapp.events import MessageReceived
from whatsapp.keys import prefixed
from whatsapp.spk_rotation import DAY, GRACE_DAYS, due_in, rotated
from whatsapp.testing import EmulatedServer
from whatsapp.testing import prekeys as emulator_prekeys
from whatsapp.testing.dispatch import HandlerContext, IQResult
from whatsapp.testing.harness.nodejs import run_node_json


def _bot_jid(peer: PyPeer) -> str:
    me = peer.auth.creds.me_id
    assert me is not None
    return me.split(":")[0] + "@s.whatsapp.net"


async def test_contacts_before_and_after_a_rotation_both_reach_the_bot(
    emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path
) -> None:
    bot = await paired_python(emulator)
    device = emulator.state.device_for(bot.auth.creds.me_id or "")
    assert device is not None and device.signed_prekey is not None
    old_id = bot.auth.creds.signed_prekey.key_id
    # The server takes the new key only when the test says: until then it hands out the old bundle.
    release = asyncio.Event()

    async def slow_rotate(context: HandlerContext, node: Node) -> IQResult:
        await release.wait()
        return await emulator_prekeys.rotate(context, node)

    emulator.handlers.iq("encrypt", "set", "rotate")(slow_rotate)
    rotation = asyncio.create_task(bot.client.rotate_signed_prekey())
    await asyncio.sleep(0.3)
    assert bot.auth.creds.signed_prekey.key_id == old_id + 1 and not bot.auth.creds.signed_prekey_uploaded
    assert device.signed_prekey.key_id == old_id  # committed here, not yet on the server

    alice = await paired_baileys(emulator, make_baileys, tmp_path, "alice")
    await alice.command("send_text", jid=_bot_jid(bot), text="before the rotation")
    await bot.wait(MessageReceived, lambda e: e.text == "before the rotation", timeout=30)
    assert not bot.failures

    release.set()
    await asyncio.wait_for(rotation, 10)
    assert bot.auth.creds.signed_prekey_uploaded and device.signed_prekey.key_id == old_id + 1
    bob = await paired_baileys(emulator, make_baileys, tmp_path, "bob")
    await bob.command("send_text", jid=_bot_jid(bot), text="after the rotation")
    await bot.wait(MessageReceived, lambda e: e.text == "after the rotation", timeout=30)
    assert not bot.failures
    # libsignal's own curve verifies the signature the server now hands out.
    spk = device.signed_prekey
    assert device.identity_public is not None
    verdict = run_node_json("crypto_xeddsa.mjs", input_obj={"verify": [
        {"pub": device.identity_public.hex(), "msg": prefixed(spk.public).hex(), "sig": spk.signature.hex()}]})
    assert verdict["verify"] == [True]
    await bot.close()


def test_rotation_keeps_retired_keys_for_the_grace_period_then_drops_them() -> None:
    creds = Credentials.generate()
    assert due_in(creds, 7, time.time()) > 6 * DAY
    now = time.time()
    once = rotated(creds, now)
    assert once.signed_prekey.key_id == creds.signed_prekey.key_id + 1 and not once.signed_prekey_uploaded
    assert once.signed_prekey_pair(creds.signed_prekey.key_id) == creds.signed_prekey.key_pair
    later = rotated(dataclasses.replace(once, signed_prekey_uploaded=True), now + (GRACE_DAYS + 1) * DAY)
    assert later.signed_prekey_pair(creds.signed_prekey.key_id) is None  # past its grace
    assert later.signed_prekey_pair(once.signed_prekey.key_id) == once.signed_prekey.key_pair
    assert Credentials.from_dict(later.to_dict()) == later
