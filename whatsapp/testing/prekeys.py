"""A companion's own prekeys on the server (`xmlns="encrypt"`): count, upload, digest, signed-prekey rotation.

The client side of these IQs is whatsmeow `prekeys.go` (getServerPreKeyCount, uploadPreKeys) and Baileys
`src/Utils/signal.ts` (getNextPreKeysNode); fetching other devices' bundles is bundles.py.
"""

from __future__ import annotations

from loguru import logger

from whatsapp import xeddsa
from whatsapp.binary import Node
from whatsapp.key_nodes import encode_key_id, key_type_node, registration_node, signed_key_node
from whatsapp.keys import prefixed
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.errors import IQError
from whatsapp.testing.state import PreKey, SignedPreKey


def install(handlers: Handlers) -> None:
    handlers.iq("encrypt", "get", "count")(prekey_count)
    handlers.iq("encrypt", "set", "registration")(prekey_upload)
    handlers.iq("encrypt", "get", "digest")(digest)
    handlers.iq("encrypt", "set", "rotate")(rotate)


async def prekey_count(context: HandlerContext, node: Node) -> Node:
    device = context.logged_in()
    return Node("count", {"value": str(len(device.prekeys))})


async def prekey_upload(context: HandlerContext, node: Node) -> None:
    device = context.logged_in()
    try:
        registration_id = int.from_bytes(_child_bytes(node, "registration", 4), "big")
        key_type = _child_bytes(node, "type", 1)
        identity = _child_bytes(node, "identity", 32)
        signed = _parse_signed_prekey(_required_child(node, "skey"))
        list_node = node.child("list")
        keys = [
            PreKey(int.from_bytes(_child_bytes(k, "id", 3), "big"), _child_bytes(k, "value", 32))
            for k in (list_node.children_by_tag("key") if list_node else [])
        ]
    except ValueError as exc:
        raise IQError(400, f"bad-request: {exc}") from None
    if key_type != b"\x05":
        raise IQError(400, "bad-request: key type must be 0x05")
    if identity != device.identity_public:
        raise IQError(406, "not-acceptable: identity key differs from the paired one")
    if not xeddsa.verify(identity, prefixed(signed.public), signed.signature):
        raise IQError(406, "not-acceptable: bad signed prekey signature")
    device.registration_id = registration_id
    device.signed_prekey = signed
    device.add_prekeys(keys)
    logger.info("emulator: {} uploaded {} prekeys (now {})", device.jid, len(keys), len(device.prekeys))
    context.state.emit("prekeys_uploaded", connection=context.connection, device=device, account=device.account,
                       data={"count": len(keys), "total": len(device.prekeys)})


async def digest(context: HandlerContext, node: Node) -> Node:
    device = context.logged_in()
    if device.signed_prekey is None or device.identity_public is None or device.registration_id is None:
        raise IQError(404, "item-not-found")
    spk = device.signed_prekey
    return Node(
        "digest",
        {},
        [
            key_type_node(),
            registration_node(device.registration_id),
            Node("identity", {}, device.identity_public),
            signed_key_node(spk.key_id, spk.public, spk.signature),
            Node("list", {}, [Node("id", {}, encode_key_id(k)) for k in device.prekeys]),
        ],
    )


async def rotate(context: HandlerContext, node: Node) -> None:
    device = context.logged_in()
    rotate_node = node.child("rotate")
    try:
        signed = _parse_signed_prekey(_required_child(rotate_node, "skey") if rotate_node else None)
    except ValueError as exc:
        raise IQError(400, f"bad-request: {exc}") from None
    # A paired companion always has its identity on record; a signature nothing can verify is refused.
    if device.identity_public is None or not xeddsa.verify(device.identity_public, prefixed(signed.public),
                                                           signed.signature):
        raise IQError(406, "not-acceptable: bad signed prekey signature")
    device.signed_prekey = signed


def _required_child(node: Node | None, tag: str) -> Node:
    child = node.child(tag) if node is not None else None
    if child is None:
        raise ValueError(f"missing <{tag}>")
    return child


def _child_bytes(node: Node, tag: str, length: int) -> bytes:
    data = _required_child(node, tag).content_bytes
    if data is None or len(data) != length:
        raise ValueError(f"<{tag}> must hold {length} bytes")
    return data


def _parse_signed_prekey(skey: Node | None) -> SignedPreKey:
    if skey is None:
        raise ValueError("missing <skey>")
    return SignedPreKey(
        key_id=int.from_bytes(_child_bytes(skey, "id", 3), "big"),
        public=_child_bytes(skey, "value", 32),
        signature=_child_bytes(skey, "signature", 64),
    )
