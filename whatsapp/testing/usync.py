"""usync: device lists, LID mappings and is-on-WhatsApp lookups (client side: whatsmeow `user.go` usync,
GetUserDevices; Baileys `src/WAUSync/`).

```
<iq xmlns="usync" type="get"><usync sid mode context last index>
  <query><devices version="2"/><lid/><contact/>…</query>
  <list><user jid="user@s.whatsapp.net|user@lid"/> | <user><contact>+1555…</contact></user> …</list>
</usync></iq>
```

Each `<user>` is answered with one child per protocol asked for. Users are answered under the JID
they were asked by: clients key their caches by it. `<lid val>` is given for users asked by phone
number (Baileys 7 `src/Socket/messages-send.ts` resolves the LID it sends to from it); never for LID
queries, where Baileys would store the answer as a LID→LID "mapping" (storeLIDPNMappings with the asked
JID). Non-zero devices carry `key-index` (Baileys drops them otherwise).
"""

from __future__ import annotations

from loguru import logger

from whatsapp.binary.node import AttrValue, Node
from whatsapp.jid import JID
from whatsapp.proto import adv_pb2
from whatsapp.testing import strict
from whatsapp.testing.bundles import has_bundle
from whatsapp.testing.errors import IQError
from whatsapp.testing.state import PN_SERVER, Account, ServerState
from whatsapp.xeddsa import sign

MODELLED_PROTOCOLS = frozenset({"devices", "lid", "contact", "status", "disappearing_mode", "business"})


def _contact_phone(user: Node) -> str | None:
    contact = user.child("contact")
    if contact is None:
        return None
    raw = contact.content_bytes
    if not raw:
        return None
    text = raw.decode("utf-8", "replace").strip()
    # Baileys sends "+15551234567"; whatsmeow "+15551234567@c.us".
    return text.split("@", 1)[0].lstrip("+") or None


def listed_devices(account: Account) -> list[int]:
    """Device ids usync lists: the phone and every linked companion that has published its keys."""
    return [d.device_id for d in account.linked_devices() if d.is_primary or has_bundle(d)]


def signed_key_index_list(account: Account, timestamp: int) -> bytes:
    """ADVSignedKeyIndexList over the account's companion key indexes, signed by the account identity."""
    companions = [d for d in account.companions() if has_bundle(d)]
    details = adv_pb2.ADVKeyIndexList(
        rawID=int(account.lid) & 0xFFFFFFFF,
        timestamp=timestamp,
        currentIndex=max((d.key_index for d in companions), default=0),
        validIndexes=[d.key_index for d in companions],
    ).SerializeToString()
    signature = sign(account.identity.private, b"\x06\x02" + details)
    return adv_pb2.ADVSignedKeyIndexList(details=details, accountSignature=signature).SerializeToString()


def devices_node(account: Account) -> Node:
    ts = int(account.created_at)
    entries = []
    for device_id in listed_devices(account):
        device = account.devices[device_id]
        attrs: dict[str, AttrValue] = {"id": str(device_id)}
        if device_id:
            attrs["key-index"] = str(device.key_index)
        entries.append(Node("device", attrs))
    return Node("devices", {}, [
        Node("device-list", {}, entries),
        Node("key-index-list", {"ts": str(ts)}, signed_key_index_list(account, ts)),
    ])


def _protocol_child(protocol: Node, account: Account | None, asked_by: JID | None) -> Node | None:
    tag = protocol.tag
    if tag == "devices":
        if account is None:
            return Node("devices", {}, [Node("device-list", {}, [])])
        return devices_node(account)
    if tag == "lid":
        if account is None or asked_by is None or asked_by.server == "lid":
            return None
        return Node("lid", {"val": account.lid_jid})
    if tag == "contact":
        return Node("contact", {"type": "in" if account is not None else "out"})
    if tag == "status":
        return Node("status", {"t": str(int(account.created_at))} if account else {},
                    account.about.encode() if account else None)
    if tag == "disappearing_mode":
        return Node("disappearing_mode", {"duration": "0", "t": "0"})
    if tag == "business":
        return None  # no account here is a verified business
    return None


def answer_usync(state: ServerState, iq: Node) -> Node:
    """The `<usync>` child of the result."""
    usync = iq.child("usync")
    if usync is None:
        raise IQError(400, "bad-request")
    query = usync.child("query")
    protocols = query.children if query is not None else []
    for protocol in protocols:
        if protocol.tag not in MODELLED_PROTOCOLS:
            # Left out of every user's answer, as for a user with nothing to say; reported, since a client
            # that depends on it is tested against nothing.
            strict.report(state, strict.UNMODELLED, "usync-protocol", f"<{protocol.tag}>", node=protocol)
    user_list = usync.child("list")
    results: list[Node] = []
    for user in user_list.children_by_tag("user") if user_list is not None else []:
        asked = user.attrs.get("jid")
        asked_by = user.try_attr_jid("jid")
        account: Account | None = None
        reply_jid: JID | str | None = asked
        if asked_by is not None and asked_by.is_user:
            account = state.account_for(asked_by.to_non_ad())
            reply_jid = asked_by.to_non_ad()
        else:
            phone = _contact_phone(user)
            if phone is None:
                logger.debug("emulator: usync user without jid or contact: {}", user)
                continue
            account = state.accounts.get(phone)
            reply_jid = JID(phone, PN_SERVER)
            asked_by = reply_jid
        children = [c for c in (_protocol_child(p, account, asked_by) for p in protocols) if c is not None]
        results.append(Node("user", {"jid": reply_jid}, children))
    attrs = {k: v for k, v in usync.attrs.items() if k in ("sid", "mode", "context", "index", "last")}
    return Node("usync", attrs, [Node("result", {}, [Node(p.tag, {}) for p in protocols]),
                                 Node("list", {}, results)])

