"""At-least-once delivery: a `<message>` or `<notification>` stays the server's until the device confirms it.

WhatsApp keeps each message for a device until that device's delivery receipt (or an `<ack>`, a NACK
included) and delivers the ones still unconfirmed again at its next login, marked `offline="1"`,
before `<ib><offline count=N/>` (whatsmeow `message.go` handles redelivered `offline` messages; Baileys
`src/Socket/messages-recv.ts` sends the receipt only after a message was processed). Here:

- `track` records every message sent to a companion's live connection, keyed by (id, from,
  participant) and the connection it went out on;
- `settle` forgets it when that device sends `<receipt>` (any type but `retry`: a retry asks for a
  new copy, the message is not delivered) or `<ack class="message">` naming it (`<list><item id>`s too);
  a notification when its `<ack class="notification">` comes (whatsmeow acks one after handling it,
  `notification.go`; what it carried, a trust token say, is the device's only once stored);
- `requeue`, when a connection closes, puts what it left unconfirmed back at the front of the device's
  offline queue, in the order it was sent (delivery.py takes it from there at the next login).
"""

from __future__ import annotations

from whatsapp.binary.node import Node
from whatsapp.testing.records import Connection, Device

Key = tuple[str, str, str]
TRACKED = ("message", "notification")


def _key(message_id: str, source: object, participant: object) -> Key:
    return message_id, str(source or ""), str(participant or "")


def _node_key(node: Node) -> Key:
    if node.tag == "notification":  # the server numbers its notifications: the id alone names one
        return _key(node.attr_str("id") or "", "notification", None)
    return _key(node.attr_str("id") or "", node.attrs.get("from"), node.attrs.get("participant"))


def track(device: Device, connection: Connection, node: Node) -> None:
    if node.tag not in TRACKED or device.is_primary:
        return
    key = _node_key(node)
    entries = device.unconfirmed
    entries.pop(key, None)  # a new copy (a resend with the same id) replaces the old one
    if connection.is_open:
        entries[key] = (id(connection), node)
    else:  # closed while it was sent (its close may have been handled already): wait for the next login
        device.offline_queue.append(node)


def settle(device: Device, node: Node) -> int:
    """Forget what the device's `<receipt>` or `<ack class=message|notification>` confirms; how many."""
    if node.tag == "receipt" and node.attr_str("type") == "retry":
        return 0
    if node.tag == "ack" and node.attr_str("class") not in (None, *TRACKED):
        return 0
    entries = device.unconfirmed
    if not entries:
        return 0
    if node.tag == "ack" and node.attr_str("class") == "notification":
        return 1 if entries.pop(_key(node.attr_str("id") or "", "notification", None), None) is not None else 0
    ids = [node.attr_str("id") or ""]
    listed = node.child("list")
    if listed is not None:
        ids += [item.attr_str("id") or "" for item in listed.children_by_tag("item")]
    settled = 0
    for message_id in ids:
        if entries.pop(_key(message_id, node.attrs.get("to"), node.attrs.get("participant")), None) is not None:
            settled += 1
    return settled


def requeue(device: Device, connection: Connection) -> int:
    """Back into the offline queue (at its front, in send order): what `connection` left unconfirmed."""
    entries = device.unconfirmed
    left = [(key, node) for key, (sent_on, node) in entries.items() if sent_on == id(connection)]
    for key, _ in left:
        del entries[key]
    device.offline_queue.extendleft(node for _, node in reversed(left))
    return len(left)
