"""Receipt routing (client side: whatsmeow `receipt.go` parseReceipt and sendMessageReceipt; Baileys
`src/Socket/messages-recv.ts` handleReceipt and `src/Socket/messages-send.ts` sendReceipt).

A client's `<receipt id to=… [participant] [recipient] [type]>` concerns a message someone else sent.
The server forwards it to the devices of the account it is addressed to (`participant` for groups,
`to` otherwise), rewritten as the receiving side expects it:

- 1:1: `<receipt from=<receipt sender's device> id t [type]>`;
- group: `<receipt from=<group> participant=<receipt sender's device> id t [type]>`;
- `type="inactive"` (delivered to a device that is not marked available) reaches the sender as a plain
  delivery receipt;
- from our own other device (`type="sender"`, `to`=our device, `recipient`=chat):
  `<receipt from=<sending device> recipient=<chat> id t type="sender">` to our devices only.

Children (`<list><item/>`, a retry's `<retry>`/`<registration>`/`<keys>`) are carried unchanged, so
retry receipts reach the original sender with the keys they hold. The sender's own device never gets
its receipt back. The reply to the receipt's sender is `<ack class="receipt" id from [type]>`. Each routed
receipt emits a `receipt_routed` server event (data: id, type, to, targets).
"""

from __future__ import annotations

from loguru import logger

from whatsapp.binary.node import AttrValue, Node
from whatsapp.testing import strict
from whatsapp.testing.delivery import Delivery, Outcome, device_address, now
from whatsapp.testing.state import Device, ServerState


def receipt_ack(node: Node) -> Node:
    attrs: dict[str, AttrValue] = {"class": "receipt", "id": node.attrs.get("id", "")}
    to = node.attrs.get("to")
    if to is not None:
        attrs["from"] = to
    if "type" in node.attrs:
        attrs["type"] = node.attrs["type"]
    if "participant" in node.attrs:
        attrs["participant"] = node.attrs["participant"]
    return Node("ack", attrs)


# Receipt types clients send (whatsmeow `receipt.go` ReceiptType*, Baileys `src/Types/Message.ts` MessageReceiptType);
# each is forwarded as it is. Anything else is reported (strict.py) and still forwarded.
RECEIPT_TYPES = frozenset({None, "read", "read-self", "played", "played-self", "sender", "inactive", "retry",
                           "hist_sync", "peer_msg", "server-error", "view", "enc_rekey_retry"})


def route_receipt(state: ServerState, sender: Device, node: Node) -> Outcome:
    if node.attr_str("type") not in RECEIPT_TYPES:
        strict.report(state, strict.UNMODELLED, "stanza-type", f"<receipt type={node.attr_str('type')}>", node=node)
    outcome = Outcome(replies=[receipt_ack(node)])
    to = node.try_attr_jid("to")
    if to is None or not node.attrs.get("id"):
        # A stanza the server cannot validate: its ack says so (479, as routing.SMAX_INVALID).
        logger.info("emulator: receipt without to/id refused (479): {}", node)
        outcome.replies[0].attrs["error"] = "479"
        return outcome
    participant = node.try_attr_jid("participant")
    recipient = node.try_attr_jid("recipient")
    receipt_type = node.attr_str("type")
    base: dict[str, AttrValue] = {"id": node.attrs["id"], "t": node.attrs.get("t") or str(now())}
    if receipt_type == "inactive":
        # A device that is not "available" (no presence sent) acks delivery as "inactive"; the sender only
        # knows delivered, so it is forwarded as a plain delivery receipt.
        receipt_type = None
    if receipt_type:
        base["type"] = receipt_type

    if to.is_group:
        target_account = state.account_for(participant.to_non_ad()) if participant is not None else None
        lid = participant is not None and participant.server == "lid"
        attrs = {"from": to, "participant": device_address(sender, lid), **base}
    elif to.is_user:
        target_account = state.account_for(to.to_non_ad())
        lid = to.server == "lid"
        attrs = {"from": device_address(sender, lid), **base}
        if recipient is not None:
            attrs["recipient"] = recipient
    else:
        logger.debug("emulator: receipt to {} not routed", to)
        return outcome
    if target_account is None:
        logger.debug("emulator: receipt for unknown account {}", to)
        return outcome

    if to.is_user and to.device and target_account is sender.account:
        # Addressed to one device of our own (type="sender", retry from own device): only that one.
        target = target_account.devices.get(to.device)
        targets = [target] if target is not None else []
    else:
        targets = target_account.linked_devices()
    content = node.content if isinstance(node.content, list) else None
    for device in targets:
        if device is sender:
            continue
        copied = [Node(c.tag, dict(c.attrs), c.content) for c in content] if content else None
        outcome.deliveries.append(Delivery(device, Node("receipt", dict(attrs), copied)))
    # Recorded for tests: which receipt (delivered, read, played, ...) went to whom.
    state.emit("receipt_routed", account=sender.account, device=sender,
               data={"id": node.attrs["id"], "type": receipt_type or "delivered", "to": to,
                     "targets": [d.device for d in outcome.deliveries]})
    return outcome
