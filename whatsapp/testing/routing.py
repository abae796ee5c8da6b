"""Message routing for the emulated server: what WhatsApp's servers do between end-to-end encrypted clients.

The server never decrypts: it reads the envelope, fans the per-device `<enc>` payloads out, rewrites
each copy the way the receiving client expects and acks the sender. The sending side is whatsmeow
`send.go` (SendMessage, the `<participants>` fan-out) and Baileys `src/Socket/messages-send.ts`
(relayMessage); the receiving side whatsmeow `message.go` (parseMessageSource: sender_lid, recipient,
participant) and Baileys `src/Utils/decode-wa-message.ts`.

- 1:1 `<message to=USER><participants><to jid=DEVICE><enc/></to>…</participants>[<device-identity/>]`:
  each addressed device gets `<message from=<sender device> id t type notify [sender_lid|sender_pn]>`
  with its own `<enc>` (and `<device-identity>` when that enc starts a session, i.e. is a pkmsg). The
  sender's other devices get `recipient=<chat>` (their copy is a DeviceSentMessage). `from` uses the
  addressing the sender used: a conversation addressed by LID gets LID JIDs, by phone number PN JIDs.
- Group `<message to=GROUP><participants>SKDMs</participants><enc type="skmsg"/>`: every device of
  every member except the sending device gets `<message from=GROUP participant=<sender device> …>`
  with its pairwise SKDM (if any) followed by the skmsg — order matters, the SKDM must be processed
  before the skmsg can be decrypted.
- Retry resends (`<message to=DEVICE><enc count/></message>`, or `to=GROUP participant=DEVICE`) and
  peer messages (`category="peer"`, to our own phone) go to that one device.
- Chat states (typing) go to the chat's companion devices as `<chatstate from=…>`.
- Receipts: receipts.py. Groups IQs: groups.py. usync: usync.py. Prekey bundles: bundles.py.
- Offline devices: the copies wait in `Device.offline_queue` and are delivered at the next login,
  marked `offline`, before `<ib><offline count=N/>` (delivery.py).

- The other children: message_parts.py (the reporting token is kept, never delivered; an unknown child is
  reported as unmodelled).

Each routed message emits a `message_routed` server event (data: id, to, targets, error, reporting) for tests.
`Router` is sans-I/O (state + stanza in, `Outcome` out); messaging.py plugs it into the server's
handler table (dispatch.py) and is the only code around it that awaits anything.
"""

from __future__ import annotations

from loguru import logger

from whatsapp.binary.node import AttrValue, Node
from whatsapp.jid import JID
from whatsapp.testing import strict
from whatsapp.testing.bundles import answer_prekey_fetch
from whatsapp.testing.coverage import direct_phash_mismatch, group_phash_mismatch
from whatsapp.testing.delivery import Delivery, Outcome, device_address, now, user_address
from whatsapp.testing.errors import IQError
from whatsapp.testing.groups import GroupService
from whatsapp.testing.message_parts import check_children
from whatsapp.testing.receipts import route_receipt
from whatsapp.testing.settings import DEFAULT_GROUP_ADDRESSING, ServerSettings
from whatsapp.testing.state import Device, ServerState
from whatsapp.testing.tokens import TOKEN_REFUSED, refusal
from whatsapp.testing.usync import answer_usync

# The ack error of a stanza the server cannot validate (Baileys `src/Utils/decode-wa-message.ts`
# SERVER_ERROR_CODES.SmaxInvalid): no id or `to`, an addressee that does not exist.
SMAX_INVALID = 479
# Envelope attributes the server passes through from the sender's stanza to every copy.
PASSED_THROUGH = ("type", "category", "edit", "push_priority", "expiration")


def message_ack(node: Node, t: int, error: int | None = None) -> Node:
    attrs: dict[str, AttrValue] = {"class": "message", "id": node.attrs.get("id", ""), "t": str(t)}
    if node.attrs.get("to") is not None:
        attrs["from"] = node.attrs["to"]
    if error is not None:
        attrs["error"] = str(error)
    return Node("ack", attrs)


class Router:
    """Routes client stanzas over one ServerState. Holds no I/O; see `install()` for the async side."""

    def __init__(self, state: ServerState, group_addressing_mode: str = DEFAULT_GROUP_ADDRESSING,
                 settings: ServerSettings | None = None) -> None:
        self.state = state
        self.settings = settings or ServerSettings()
        self.groups = GroupService(state, group_addressing_mode)
        self.routed = 0  # messages accepted (for benchmarks and tests)
        self.copies = 0  # per-device copies produced

    # -- IQs ----------------------------------------------------------------------------------------

    def answer_iq(self, sender: Device, iq: Node) -> Outcome:
        """The children of the `<iq type="result">` in `replies`, notifications in `deliveries`.

        Raises IQError for an `<iq type="error">`.
        """
        xmlns = iq.attr_str("xmlns")
        if xmlns == "usync":
            return Outcome(replies=[answer_usync(self.state, iq)])
        if xmlns == "encrypt" and iq.attr_str("type") == "get" and (iq.child("key") or iq.child("keys")):
            return Outcome(replies=[answer_prekey_fetch(self.state, iq)])
        if xmlns == "w:g2":
            return self.groups.handle(sender, iq)
        raise IQError(501, "feature-not-implemented", what="iq")

    # -- stanzas ------------------------------------------------------------------------------------

    def handle(self, sender: Device, node: Node) -> Outcome:
        if node.tag == "message":
            return self.route_message(sender, node)
        if node.tag == "receipt":
            return route_receipt(self.state, sender, node)
        if node.tag == "ack":
            return Outcome()  # a client acking what we delivered: nothing to do
        if node.tag == "chatstate":
            return self.route_chatstate(sender, node)
        logger.debug("emulator: {} stanza not routed", node.tag)
        return Outcome()

    def route_chatstate(self, sender: Device, node: Node) -> Outcome:
        """Typing/recording indicators: `<chatstate to=CHAT><composing/></chatstate>` to the chat's devices."""
        to = node.try_attr_jid("to")
        if to is None or not node.children:
            return Outcome()
        state_child = Node(node.children[0].tag, dict(node.children[0].attrs))
        outcome = Outcome()
        if to.is_group:
            group = self.state.group_for(to)
            if group is None or sender.account.phone_number not in group.participants:
                return outcome
            lid = group.addressing_mode == "lid"
            attrs: dict[str, AttrValue] = {"from": to, "participant": user_address(sender.account, lid)}
            accounts = self.state.member_accounts(group)
        else:
            account = self.state.account_for(to.to_non_ad()) if to.is_user else None
            if account is None:
                return outcome
            attrs = {"from": user_address(sender.account, to.server == "lid")}
            accounts = [account]
        for account in accounts:
            for device in account.companions():  # the simulated phone shows no typing indicators
                if device is not sender:
                    outcome.deliveries.append(Delivery(device, Node("chatstate", dict(attrs), [state_child])))
        return outcome

    def _token_refusal(self, sender: Device, node: Node, to: JID) -> str | None:
        """Why a 1:1 message lacks the trust token it needs (tokens.py), when the server enforces them."""
        if not self.settings.tctoken_enforcement:
            return None
        why = refusal(sender, self.state.account_for(to.to_non_ad()), node, to)
        if why is not None:
            logger.info("emulator: message {} from {} to {} refused (463): {}", node.attrs.get("id"), sender.jid,
                        to, why)
        return why

    def route_message(self, sender: Device, node: Node) -> Outcome:
        t = now()
        to = node.try_attr_jid("to")
        if to is None or not node.attrs.get("id"):
            logger.info("emulator: message without id/to refused (479): {}", node)
            return Outcome(replies=[message_ack(node, t, error=SMAX_INVALID)])
        reporting = check_children(self.state, node)  # kept by the server, delivered to nobody
        pairwise = self._pairwise_payloads(node, to)
        if to.is_group:
            outcome = self._route_group(sender, node, to, pairwise, t)
        elif to.is_user and self._token_refusal(sender, node, to) is not None:
            outcome = Outcome(replies=[message_ack(node, t, error=TOKEN_REFUSED)])
        elif to.is_user:
            outcome = self._route_direct(sender, node, to, pairwise, t)
        elif to.user == "status" and to.server == "broadcast":
            outcome = self._route_status(sender, node, pairwise, t)
        else:
            strict.report(self.state, strict.UNMODELLED, "message-target", f"message to {to}", node=node)
            outcome = Outcome(replies=[message_ack(node, t, error=SMAX_INVALID)])
        if not outcome.replies:
            outcome.replies.append(message_ack(node, t))
        mismatch = self._phash_mismatch(sender, node, to, pairwise)
        if mismatch is not None and "error" not in outcome.replies[0].attrs:
            logger.info("emulator: message {} missed devices: ack carries phash {}", node.attrs["id"], mismatch)
            outcome.replies[0].attrs["phash"] = mismatch
        self.routed += 1
        self.copies += len(outcome.deliveries)
        self.state.emit("message_routed", account=sender.account, device=sender,
                        data={"id": node.attrs["id"], "to": to, "targets": [d.device for d in outcome.deliveries],
                              "error": outcome.replies[0].attrs.get("error") if outcome.replies else None,
                              "reporting": reporting})
        return outcome

    def _phash_mismatch(self, sender: Device, node: Node, to: JID, pairwise: dict[Device, list[Node]]) -> str | None:
        """The server's participant hash when the message did not cover the right devices (coverage.py)."""
        if to.is_group:
            group = self.state.group_for(to)
            if group is None:
                return None
            return group_phash_mismatch(self.state, sender, node, self.state.member_accounts(group),
                                        group.addressing_mode == "lid")
        recipient = node.try_attr_jid("recipient")
        chat = (recipient or to).to_non_ad()
        account = self.state.account_for(chat) if chat.is_user else None
        if account is None:
            return None
        return direct_phash_mismatch(self.state, sender, node, account, pairwise, to.server == "lid")

    def _pairwise_payloads(self, node: Node, to: JID) -> dict[Device, list[Node]]:
        """Per target device, the pairwise `<enc>` nodes addressed to it."""
        payloads: dict[Device, list[Node]] = {}
        participants = node.child("participants")
        if participants is not None:
            for item in participants.children_by_tag("to"):
                jid = item.try_attr_jid("jid")
                device = self.state.device_for(jid) if jid is not None and jid.is_user else None
                if device is None or device.removed:
                    logger.debug("emulator: message {} addressed to unknown device {}", node.attrs.get("id"),
                                 item.attrs.get("jid"))
                    continue
                payloads.setdefault(device, []).extend(item.children_by_tag("enc"))
        direct = [enc for enc in node.children_by_tag("enc") if enc.attr_str("type") != "skmsg"]
        if direct:
            # Retry resend or peer message: one device, named by `participant` (groups) or `to`.
            target_jid = node.try_attr_jid("participant") if to.is_group else to
            device = self.state.device_for(target_jid) if target_jid is not None and target_jid.is_user else None
            if device is not None and not device.removed:
                payloads.setdefault(device, []).extend(direct)
            else:
                logger.debug("emulator: direct enc for unknown device {}", target_jid)
        return payloads

    def _base_attrs(self, sender: Device, node: Node, t: int) -> dict[str, AttrValue]:
        attrs: dict[str, AttrValue] = {"id": node.attrs["id"], "t": str(t)}
        for name in PASSED_THROUGH:
            if name in node.attrs:
                attrs[name] = node.attrs[name]
        attrs.setdefault("type", "text")
        attrs["notify"] = sender.push_name or sender.account.push_name
        return attrs

    @staticmethod
    def _children(encs: list[Node], node: Node, extra: list[Node] | None = None) -> list[Node]:
        children = [Node("enc", dict(enc.attrs), enc.content) for enc in encs]
        if extra:
            children.extend(Node("enc", dict(enc.attrs), enc.content) for enc in extra)
        identity = node.child("device-identity")
        if identity is not None and any(enc.attr_str("type") == "pkmsg" for enc in encs):
            children.append(Node("device-identity", {}, identity.content))
        return children

    def _route_direct(self, sender: Device, node: Node, to: JID, pairwise: dict[Device, list[Node]],
                      t: int) -> Outcome:
        lid = to.server == "lid"
        recipient_attr = node.try_attr_jid("recipient")
        chat = recipient_attr.to_non_ad() if recipient_attr is not None else to.to_non_ad()
        chat_account = self.state.account_for(chat)
        if chat_account is None:
            logger.info("emulator: message to unknown user {} refused (479)", chat)
            return Outcome(replies=[message_ack(node, t, error=SMAX_INVALID)])
        base = self._base_attrs(sender, node, t)
        outcome = Outcome()
        for device, encs in pairwise.items():
            if device is sender:
                continue
            attrs = dict(base)
            attrs["from"] = device_address(sender, lid)
            if device.account is sender.account:
                if chat_account is not sender.account:
                    attrs["recipient"] = chat
                    attrs["recipient_pn" if lid else "recipient_lid"] = user_address(chat_account, not lid)
            elif device.account is chat_account:
                attrs["sender_pn" if lid else "sender_lid"] = user_address(sender.account, not lid)
            else:
                logger.debug("emulator: {} is neither sender nor recipient of {}; not delivered", device.jid,
                             node.attrs["id"])
                continue
            outcome.deliveries.append(Delivery(device, Node("message", attrs, self._children(encs, node))))
        return outcome

    def _route_status(self, sender: Device, node: Node, pairwise: dict[Device, list[Node]], t: int) -> Outcome:
        """A status goes to the devices its stanza names (the SKDM each one gets), as `from=status@broadcast`
        with the author as `participant`; a status naming nobody is refused (400)."""
        skmsg = [enc for enc in node.children_by_tag("enc") if enc.attr_str("type") == "skmsg"]
        if not skmsg or not pairwise:
            return Outcome(replies=[message_ack(node, t, error=400)])
        base = self._base_attrs(sender, node, t)
        base.update({"from": node.attrs["to"], "participant": device_address(sender, False)})
        outcome = Outcome()
        for device, encs in pairwise.items():
            if device is not sender:
                outcome.deliveries.append(Delivery(device, Node("message", dict(base), self._children(encs, node,
                                                                                                  skmsg))))
        return outcome

    def _route_group(self, sender: Device, node: Node, to: JID, pairwise: dict[Device, list[Node]],
                     t: int) -> Outcome:
        group = self.state.group_for(to)
        if group is None:
            return Outcome(replies=[message_ack(node, t, error=404)])
        if sender.account.phone_number not in group.participants:
            return Outcome(replies=[message_ack(node, t, error=403)])
        lid = group.addressing_mode == "lid"
        skmsg = [enc for enc in node.children_by_tag("enc") if enc.attr_str("type") == "skmsg"]
        base = self._base_attrs(sender, node, t)
        base.update({
            "from": group.jid,
            "participant": device_address(sender, lid),
            "participant_pn" if lid else "participant_lid": user_address(sender.account, not lid),
            "addressing_mode": group.addressing_mode,
        })
        outcome = Outcome()
        members = self.state.member_accounts(group)
        for account in members:
            for device in account.linked_devices():
                if device is sender:
                    continue
                encs = pairwise.get(device, [])
                if not encs and not skmsg:
                    continue  # a retry resend names one device; the others already have this message
                children = self._children(encs, node, skmsg)
                outcome.deliveries.append(Delivery(device, Node("message", dict(base), children)))
        return outcome
