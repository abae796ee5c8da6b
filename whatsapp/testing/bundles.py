"""Prekey bundle fetch: `<iq xmlns="encrypt" type="get"><key><user jid=DEVICE/>…</key></iq>`.

The client side is whatsmeow `prekeys.go` (fetchPreKeys, nodeToPreKeyBundle) and Baileys
`src/Utils/signal.ts` (parseAndInjectE2ESessions). Each fetched bundle consumes one uploaded one-time
prekey, as the real server does; when the pool is empty the bundle has no `<key>` and the client builds
its session from the signed prekey alone. A device the server does not know gets a
`<user jid><error code="404"/></user>` entry.

The primary phone (device 0) answers too, with Signal keys of its own (`Account.phone_keys`): Baileys 6
`src/Socket/messages-send.ts` (relayMessage) adds the own account's device 0 to every 1:1 fan-out and
fails the whole send without its bundle. When its one-time prekeys run out, the phone "uploads" more.
"""

from __future__ import annotations

from loguru import logger

from whatsapp.binary.node import AttrValue, Node
from whatsapp.key_nodes import key_node, key_type_node, registration_node, signed_key_node
from whatsapp.testing.errors import IQError
from whatsapp.testing.state import Device, ServerState


def has_bundle(device: Device) -> bool:
    """Whether the device has published the keys a bundle needs (companions do after their prekey upload)."""
    return (not device.removed and device.identity_public is not None and device.registration_id is not None
            and device.signed_prekey is not None)


def bundle_node(requested: AttrValue, device: Device) -> Node:
    """`<user jid=…>` with the device's bundle, consuming one one-time prekey."""
    if device.is_primary and not device.prekeys:
        device.add_prekeys(device.account.phone_keys.refill())
    spk = device.signed_prekey
    assert spk is not None and device.identity_public is not None and device.registration_id is not None
    children = [
        registration_node(device.registration_id),
        key_type_node(),
        Node("identity", {}, device.identity_public),
        signed_key_node(spk.key_id, spk.public, spk.signature),
    ]
    prekey = device.take_prekey()
    if prekey is not None:
        children.append(key_node(prekey.key_id, prekey.public))
    return Node("user", {"jid": requested}, children)  # echo the JID as asked: clients key sessions by it


def answer_prekey_fetch(state: ServerState, iq: Node) -> Node:
    """The `<list>` answering a bundle fetch (the `<key>` may also be wrapped in `<keys>`)."""
    keys = iq.child("keys")
    key = iq.child("key") or (keys.child("key") if keys is not None else None)
    if key is None:
        raise IQError(400, "bad-request")
    users: list[Node] = []
    for user in key.children_by_tag("user"):
        requested = user.attrs.get("jid")
        jid = user.try_attr_jid("jid")
        device = state.device_for(jid) if jid is not None and jid.is_user else None
        if device is None and jid is not None and jid.is_user and jid.device == 0:
            account = state.account_for(jid)
            device = account.devices.get(0) if account else None
        if device is None or requested is None or (not device.is_primary and not has_bundle(device)):
            logger.debug("emulator: prekey bundle requested for unknown device {}", requested)
            error = Node("error", {"code": "404", "text": "item-not-found"})
            users.append(Node("user", {"jid": requested or ""}, [error]))
            continue
        users.append(bundle_node(requested, device))
    return Node("list", {}, users)
