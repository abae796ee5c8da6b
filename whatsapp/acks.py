"""`<ack>` stanzas: how we confirm a stanza to the server (and refuse one for good). Pure functions.

Every `<receipt>`, `<notification>`, `<call>` and undecryptable or plaintext `<message>` gets one;
a decrypted message is confirmed by its delivery receipt instead (whatsapp/envelope.py). An ack
with `error=` (a NACK) tells the server we will never process the stanza, so it stops re-sending it.
Shape as Baileys `sendMessageAck` (src/Socket/socket.ts) and whatsmeow `sendAck` (receipt.go);
docs/protocol.md §Stanzas and acks.
"""

from __future__ import annotations

from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.jid import SERVER_JID

NACK_PARSE_ERROR = 487  # the envelope could not be read
NACK_UNRECOGNIZED = 488  # content we will never understand (e.g. an unknown <enc> type)
NACK_UNHANDLED = 500  # still undecryptable after every retry


def build_ack(node: Node, me_id: str | None = None, *, error: int | None = None) -> Node:
    """`<ack id to class [participant] [recipient] [type] [from] [error]>` for the stanza `node`."""
    attrs: dict[str, AttrValue] = {
        "id": node.attr_str("id", "") or "",
        "to": node.attrs.get("from", SERVER_JID),
        "class": node.tag,
    }
    for name in ("participant", "recipient"):
        value = node.attrs.get(name)
        if value is not None:
            attrs[name] = value
    kind = node.attrs.get("type")
    if kind is not None and node.tag != "message":
        attrs["type"] = kind
    if node.tag == "message" and me_id:
        attrs["from"] = me_id
    if error is not None:
        attrs["error"] = str(error)
    return Node("ack", attrs)
