"""Prekey bundle fetch: `<iq xmlns="encrypt" type="get"><key><user jid=DEVICE/>…</key></iq>` (protocol-notes 5.10).

Each fetched bundle consumes one uploaded one-time prekey, as the real server does; when the pool is
empty the bundle has no `<key>` and the client builds its session from the signed prekey alone.
A device the server does not know gets a `<user jid><error code="404"/></user>` entry.

The primary phone (device 0) answers too, with Signal keys of its own: Baileys 6 always fetches the
account's own device 0 before sending (interop-notes P14) and fails the whole send without it.
"""

from __future__ import annotations

import weakref

from loguru import logger

from whatsapp import creds
from whatsapp.binary.node import Node
from whatsapp.key_nodes import key_node, key_type_node, registration_node, signed_key_node
from whatsapp.keys import KeyPair, generate_registration_id
from whatsapp.testing.state import Device, PreKey, ServerState, SignedPreKey

PRIMARY_PREKEY_BATCH = 30  # one-time prekeys the simulated phone "uploads" when it runs out

# Next one-time prekey id per simulated phone (its first batch, from phone.py, uses small ids).
_phone_prekey_ids: weakref.WeakKeyDictionary[Device, int] = weakref.WeakKeyDictionary()


def ensure_primary_keys(device: Device) -> None:
    """Give the simulated phone (device 0) a registration id, a signed prekey and one-time prekeys.

    Only the public halves are kept: the phone never decrypts in the emulator. The signed prekey is
    really signed with the account identity, so clients that verify bundles (whatsmeow) accept it.
    """
    account = device.account
    if device.identity_public is None:
        device.identity_public = account.identity.public
    if device.registration_id is None:
        device.registration_id = generate_registration_id()
    if device.signed_prekey is None:
        spk = creds.SignedPreKey.generate(account.identity, key_id=1)  # signed like a real device's
        device.signed_prekey = SignedPreKey(key_id=1, public=spk.key_pair.public, signature=spk.signature)
    if not device.prekeys:
        # The phone "uploads" a fresh batch; ids continue past any it ever had, so none is reused.
        start = _phone_prekey_ids.get(device, 0x100000)
        device.add_prekeys([PreKey(key_id=i, public=KeyPair.generate().public)
                            for i in range(start, start + PRIMARY_PREKEY_BATCH)])
        _phone_prekey_ids[device] = start + PRIMARY_PREKEY_BATCH


def has_bundle(device: Device) -> bool:
    """Whether the device has published the keys a bundle needs (companions do after their prekey upload)."""
    return (not device.removed and device.identity_public is not None and device.registration_id is not None
            and device.signed_prekey is not None)


def bundle_node(requested: object, device: Device) -> Node:
    """`<user jid=…>` with the device's bundle, consuming one one-time prekey."""
    if device.is_primary:
        ensure_primary_keys(device)
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
    key = iq.child("key") or (iq.child("keys").child("key") if iq.child("keys") else None)
    users: list[Node] = []
    for user in key.children_by_tag("user") if key else []:
        requested = user.attrs.get("jid")
        jid = user.try_attr_jid("jid")
        device = state.device_for(jid) if jid is not None and jid.is_user else None
        if device is None and jid is not None and jid.is_user and jid.device == 0:
            account = state.account_for(jid)
            device = account.devices.get(0) if account else None
        if device is None or (not device.is_primary and not has_bundle(device)):
            logger.debug("emulator: prekey bundle requested for unknown device {}", requested)
            error = Node("error", {"code": "404", "text": "item-not-found"})
            users.append(Node("user", {"jid": requested or ""}, [error]))
            continue
        users.append(bundle_node(requested, device))
    return Node("list", {}, users)
