"""Who sent a `<message>` and in which chat, and the receipt that confirms it. Pure functions.

`parse_envelope` applies the addressing rules (whatsmeow `message.go` parseMessageInfo, Baileys
`src/Utils/decode-wa-message.ts`): a group or broadcast names its author in `participant`; a 1:1
message from one of our own devices is ours (`from_me`) and its chat is the `recipient`; the
`*_pn` / `*_lid` attributes reveal the other address of the same user (docs/protocol.md
§Addressing). `delivery_receipt` is the receipt that tells the sender (and the server) we have it.
"""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp.addressing import own_users
from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.errors import DecodeError
from whatsapp.jid import JID, LID, S_WHATSAPP_NET

# Envelope attribute pairs that each carry one PN↔LID mapping of the same user.
_ALT_ATTRS = (
    ("sender", "sender_pn", "sender_lid"),
    ("participant", "participant_pn", "participant_lid"),
    ("recipient", "recipient_pn", "recipient_lid"),
    ("peer_recipient", "peer_recipient_pn", "peer_recipient_lid"),
)


@dataclass(frozen=True, slots=True)
class Envelope:
    node: Node
    id: str
    source: JID  # the `from` attribute
    chat: JID
    sender: JID  # the author's device
    sender_alt: JID | None  # the author's other address (user JID), from the envelope
    from_me: bool
    is_group: bool
    timestamp: int
    push_name: str | None
    offline: bool
    stanza_type: str | None
    category: str | None


def parse_envelope(node: Node, me_pn: JID, me_lid: JID | None) -> Envelope:
    """Who sent the message and in which chat. Raises DecodeError."""
    message_id = node.attr_str("id")
    source = node.try_attr_jid("from")
    if not message_id or source is None:
        raise DecodeError("message stanza without id or from")
    participant = node.try_attr_jid("participant")
    recipient = node.try_attr_jid("recipient")
    own = own_users(me_pn, me_lid)
    if source.is_group or source.is_broadcast:
        if participant is None:
            raise DecodeError(f"group message {message_id} without participant")
        chat, sender = source.to_non_ad(), participant
        is_group = source.is_group
        alt = node.try_attr_jid("participant_lid" if participant.server == S_WHATSAPP_NET else "participant_pn")
    else:
        sender = source
        is_group = False
        from_me = source.user in own
        chat = recipient.to_non_ad() if from_me and recipient is not None else source.to_non_ad()
        alt = node.try_attr_jid("sender_lid" if source.server == S_WHATSAPP_NET else "sender_pn")
    if not sender.user:
        raise DecodeError(f"message {message_id} from {sender} names no user")
    try:
        timestamp = int(node.attr_str("t") or 0)
    except ValueError:
        timestamp = 0
    return Envelope(
        node=node,
        id=message_id,
        source=source,
        chat=chat,
        sender=sender,
        sender_alt=alt.to_non_ad() if alt is not None else None,
        from_me=sender.user in own,
        is_group=is_group,
        timestamp=timestamp,
        push_name=node.attr_str("notify"),
        offline=node.attrs.get("offline") is not None,
        stanza_type=node.attr_str("type"),
        category=node.attr_str("category"),
    )


def mapping_pairs(node: Node) -> list[tuple[str, str]]:
    """(pn_user, lid_user) pairs the envelope reveals (`sender_lid`, `participant_pn`, ...)."""
    pairs: list[tuple[str, str]] = []
    for base, pn_name, lid_name in _ALT_ATTRS:
        main = node.try_attr_jid(base) if base != "sender" else node.try_attr_jid("from")
        pn, lid = node.try_attr_jid(pn_name), node.try_attr_jid(lid_name)
        if main is not None and main.server == LID and pn is None and lid is None:
            continue
        if pn is None and main is not None and main.server == S_WHATSAPP_NET:
            pn = main
        if lid is None and main is not None and main.server == LID:
            lid = main
        if pn is not None and lid is not None and pn.user and lid.user and pn.server == S_WHATSAPP_NET \
                and lid.server == LID:
            pairs.append((pn.user, lid.user))
    return pairs


# -- the receipt ------------------------------------------------------------------------------------------


def delivery_receipt(env: Envelope, me_pn: JID, active: bool = True) -> Node:
    """`<receipt id to [participant] [recipient] [type]>`: delivered (the ack of a decrypted message).

    `active`: whether we are marked available; if not, a contact's message gets `type="inactive"`
    (whatsmeow `receipt.go` sendMessageReceipt, Baileys `src/Socket/messages-recv.ts`)."""
    attrs: dict[str, AttrValue] = {"id": env.id, "to": env.source}
    if env.is_group or env.source.is_broadcast:
        attrs["participant"] = env.sender
    if env.category == "peer":
        attrs["type"] = "peer_msg"
    elif env.from_me:
        attrs["type"] = "sender"
        if not env.is_group and env.chat.user != me_pn.user:
            attrs["recipient"] = env.chat
    elif not active:
        attrs["type"] = "inactive"
    return Node("receipt", attrs)
