"""The app-state concern (whatsapp/appstate.py) over a fake link: our phone's key share is stored, the sync
IQ's patches are applied with the LTHash checked and kept (events, queries), a tampered patch is refused with
one warning and no state change, server_sync fetches again."""

from __future__ import annotations

import pytest
from loguru import logger

from tests.client_support import FakeLink, Rig
from tests.test_appstate_crypto import KEY_DATA, KEY_ID, patch, record
from whatsapp.appstate import AppStateSync
from whatsapp.auth import KeyType
from whatsapp.binary import Node
from whatsapp.events import MessageReceived
from whatsapp.events_appstate import ChatSettingChanged, ContactUpdated
from whatsapp.jid import JID
from whatsapp.media_message import Downloadable
from whatsapp.proto import app_state_pb2 as pb
from whatsapp.proto import e2e_pb2
from whatsapp.syncd import CollectionState

ME = JID("15550001111", "s.whatsapp.net")
BOB = "15550002222@s.whatsapp.net"


def share_event(from_me: bool = True) -> MessageReceived:
    share = e2e_pb2.AppStateSyncKeyShare(keys=[e2e_pb2.AppStateSyncKey(
        keyID=e2e_pb2.AppStateSyncKeyId(keyID=KEY_ID), keyData=e2e_pb2.AppStateSyncKeyData(keyData=KEY_DATA))])
    message = e2e_pb2.Message(protocolMessage=e2e_pb2.ProtocolMessage(
        type=e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE, appStateSyncKeyShare=share))
    return MessageReceived(chat=ME, sender=ME, id="K1", timestamp=0, push_name=None, from_me=from_me,
                           is_group=False, offline=False, message=message)


class Server:
    """Answers the sync IQ with the patches after the asked version."""

    def __init__(self) -> None:
        self.patches: dict[str, list[pb.SyncdPatch]] = {}

    def answer(self, node: Node) -> Node:
        sync = node.child("sync")
        assert node.attr_str("xmlns") == "w:sync:app:state" and sync is not None
        out = []
        for c in sync.children_by_tag("collection"):
            name, version = c.attr_str("name") or "", int(c.attr_str("version") or 0)
            later = [p for p in self.patches.get(name, []) if p.version.version > version]
            out.append(Node("collection", {"name": name, "version": str(version + len(later))},
                            [Node("patches", {}, [Node("patch", {}, p.SerializeToString()) for p in later])]))
        return Node("iq", {"type": "result"}, [Node("sync", {}, out)])


async def _no_download(item: Downloadable) -> bytes:
    raise AssertionError("no external blobs here")


async def _no_name(name: str) -> None:
    return None


@pytest.mark.asyncio
async def test_key_share_then_patches_applied_kept_and_a_tampered_one_refused() -> None:
    server = Server()
    rig = Rig(link=FakeLink(server.answer))
    concern = AppStateSync(rig.ctx, _no_download, _no_name)
    empty = CollectionState()
    rename = record(["contact", BOB], pb.SyncActionValue(contactAction=pb.ContactAction(fullName="Bob B")))
    server.patches["critical_unblock_low"] = [patch("critical_unblock_low", empty, [rename])]
    pin = record(["pin_v1", BOB], pb.SyncActionValue(pinAction=pb.PinAction(pinned=True)))
    mute = record(["mute", BOB], pb.SyncActionValue(muteAction=pb.MuteAction(muted=True, muteEndTimestamp=-1)))
    server.patches["regular_low"] = [patch("regular_low", empty, [pin])]
    server.patches["regular_high"] = [patch("regular_high", empty, [mute])]

    await concern.on_message(share_event(from_me=False))
    assert not await rig.auth.get(KeyType.APP_STATE_SYNC_KEY, ["AAAAAas="])
    await concern.on_message(share_event())
    await rig.control.settle()
    assert await rig.auth.get(KeyType.APP_STATE_SYNC_KEY, ["AAAAAas="])
    assert [(e.jid, e.full_name) for e in rig.of(ContactUpdated)] == [(JID.parse(BOB), "Bob B")]  # type: ignore[attr-defined]
    assert {(e.setting, e.value) for e in rig.of(ChatSettingChanged)} == {("pin", True), ("mute", True)}  # type: ignore[attr-defined]
    assert await concern.contact_name(JID.parse(BOB)) == "Bob B"
    settings = await concern.chat_settings(JID.parse(BOB))
    assert settings.pinned and settings.muted_until == -1 and not settings.archived

    # A tampered patch: one warning, nothing applied, the version kept.
    state = CollectionState.from_json((await rig.auth.get(KeyType.APP_STATE_SYNC_VERSION, ["regular_low"]))
                                      ["regular_low"])
    unpin = patch("regular_low", state, [record(["pin_v1", BOB], pb.SyncActionValue(pinAction=pb.PinAction()))])
    unpin.patchMAC = bytes(32)
    server.patches["regular_low"].append(unpin)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    try:
        await concern.on_server_sync(Node("notification", {"type": "server_sync"},
                                          [Node("collection", {"name": "regular_low"})]))
        await rig.control.settle()
    finally:
        logger.remove(sink)
    assert len(lines) == 1 and "regular_low refused" in lines[0]
    assert (await concern.chat_settings(JID.parse(BOB))).pinned
    after = await rig.auth.get(KeyType.APP_STATE_SYNC_VERSION, ["regular_low"])
    assert CollectionState.from_json(after["regular_low"]) == state
