"""Device lists (usync) and prekey bundles: stanzas, parsing and the cache format (whatsmeow `usync.go`, `prekeys.go`).

Sans-I/O: `devices_query`/`prekey_query` build the IQs, `parse_devices`/`parse_bundles` read the
answers. Device lists are cached per user under `KeyType.DEVICE_LIST` as a small JSON record with the
time it was fetched; `DeviceList.fresh()` applies the TTL, and a `<notification type="devices">`
deletes the entry (the client does that).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from whatsapp.binary import Node
from whatsapp.errors import DecodeError
from whatsapp.jid import HOSTED_DEVICE, JID, LID, SERVER_JID
from whatsapp.signal import PreKeyBundle

DEVICE_LIST_TTL = 3600.0  # seconds; the devices notification invalidates sooner


@dataclass(frozen=True, slots=True)
class DeviceList:
    user: JID  # as asked (PN or LID user JID)
    devices: tuple[int, ...]
    lid: JID | None  # the user's LID (PN queries only)
    fetched_at: float

    def fresh(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) - self.fetched_at < DEVICE_LIST_TTL

    def device_jids(self) -> list[JID]:
        return [JID(self.user.user, self.user.server, device) for device in self.devices]

    def to_bytes(self) -> bytes:
        return json.dumps({"devices": list(self.devices), "lid": str(self.lid) if self.lid else None,
                           "t": self.fetched_at}).encode()

    @classmethod
    def from_bytes(cls, user: JID, data: bytes) -> DeviceList | None:
        """None for an unreadable record (it is simply fetched again)."""
        try:
            raw = json.loads(data)
            devices = tuple(int(d) for d in raw["devices"])
            lid = JID.parse(raw["lid"]) if raw.get("lid") else None
            return cls(user, devices, lid, float(raw["t"]))
        except (ValueError, KeyError, TypeError, DecodeError):
            return None


def devices_query(sid: str, users: list[JID]) -> Node:
    return Node("iq", {"xmlns": "usync", "type": "get", "to": SERVER_JID}, [
        Node("usync", {"sid": sid, "mode": "query", "context": "message", "last": "true", "index": "0"}, [
            Node("query", {}, [Node("devices", {"version": "2"}), Node("lid")]),
            Node("list", {}, [Node("user", {"jid": user.to_non_ad()}) for user in users]),
        ]),
    ])


def parse_devices(result: Node, now: float | None = None) -> dict[JID, DeviceList]:
    """Device lists by user JID. Non-zero devices without a key-index and hosted devices are left out."""
    fetched = now if now is not None else time.time()
    usync = result.child("usync")
    user_list = usync.child("list") if usync is not None else None
    if user_list is None:
        raise DecodeError("usync answer without <usync><list>")
    lists: dict[JID, DeviceList] = {}
    for user in user_list.children_by_tag("user"):
        jid = user.try_attr_jid("jid")
        if jid is None:
            continue
        devices: list[int] = []
        container = user.child("devices")
        device_list = container.child("device-list") if container is not None else None
        for device in device_list.children_by_tag("device") if device_list is not None else []:
            device_id = device.attr_int("id")
            if device_id is None or device_id == HOSTED_DEVICE or device.attr_str("is_hosted") == "true":
                continue
            if device_id and device.attrs.get("key-index") is None:
                continue  # unsigned device: sending to it gets the whole message refused
            devices.append(device_id)
        lid_node = user.child("lid")
        lid_value = lid_node.try_attr_jid("val") if lid_node is not None else None
        lid = lid_value if lid_value is not None and lid_value.server == LID else None
        user_jid = jid.to_non_ad()
        lists[user_jid] = DeviceList(user_jid, tuple(sorted(set(devices))), lid, fetched)
    return lists


def prekey_query(devices: list[JID]) -> Node:
    """One `<user jid reason="identity">` per device, as whatsmeow `prekeys.go` fetchPreKeys asks."""
    return Node("iq", {"xmlns": "encrypt", "type": "get", "to": SERVER_JID}, [
        Node("key", {}, [Node("user", {"jid": device, "reason": "identity"}) for device in devices]),
    ])


def _u(node: Node | None, what: str, length: int | None = None) -> bytes:
    value = node.content_bytes if node is not None else None
    if not value or (length is not None and len(value) != length):
        raise DecodeError(f"prekey bundle: bad or missing {what}")
    return value


def bundle_from_node(user: Node, device_id: int) -> PreKeyBundle:
    """A PreKeyBundle from `<user>` children (also the `<keys>` of a retry receipt, plus `<registration>`)."""
    skey = user.child("skey")
    key = user.child("key")
    if skey is None:
        raise DecodeError("prekey bundle without <skey>")
    return PreKeyBundle(
        registration_id=int.from_bytes(_u(user.child("registration"), "registration", 4), "big"),
        device_id=device_id,
        identity_key=_u(user.child("identity"), "identity"),
        signed_pre_key_id=int.from_bytes(_u(skey.child("id"), "signed prekey id", 3), "big"),
        signed_pre_key_public=_u(skey.child("value"), "signed prekey"),
        signed_pre_key_signature=_u(skey.child("signature"), "signed prekey signature", 64),
        pre_key_id=int.from_bytes(_u(key.child("id"), "prekey id", 3), "big") if key is not None else None,
        pre_key_public=_u(key.child("value"), "prekey") if key is not None else None,
    )


def parse_bundles(result: Node) -> dict[JID, PreKeyBundle | str]:
    """Bundles by device JID (as asked); a string names the error for a device without one."""
    container = result.child("list")
    if container is None:
        raise DecodeError("prekey answer without <list>")
    bundles: dict[JID, PreKeyBundle | str] = {}
    for user in container.children_by_tag("user"):
        jid = user.try_attr_jid("jid")
        if jid is None:
            continue
        error = user.child("error")
        if error is not None:
            bundles[jid] = f"error {error.attr_str('code')} {error.attr_str('text') or ''}".strip()
            continue
        try:
            bundles[jid] = bundle_from_node(user, jid.device)
        except DecodeError as exc:
            bundles[jid] = str(exc)
    return bundles
