"""The reporting token of a message we send: `<reporting><reporting_token v="2">16 bytes</…></reporting>`.

When a recipient reports a message as abuse, WhatsApp has to be able to tell that the reported content is
what the sender really sent, without the server ever reading it. So the sender commits to the message's
reportable fields: it derives a key from the message secret (whatsapp/msgsecret.py) and sends, beside the
ciphertexts, an HMAC of those fields; the recipient, who decrypted the same bytes, can reproduce it
(whatsmeow `reportingtoken.go` and `send.go` sendDM/sendGroup, Baileys `src/Utils/reporting-utils.ts`).

- key = HKDF-SHA256(messageSecret, no salt, info = message id || our user JID || the chat's JID ||
  "Report Token", 32 bytes): whatsmeow's generateMsgSecretKey with the JIDs without device, our own in the
  chat's addressing (our LID in a LID chat or LID group, our phone number otherwise).
- content = the serialized message reduced to its reportable fields (`REPORTABLE` below: field numbers
  only, no schema needed), each kept with its original tag and bytes; a field whose entry lists subfields is
  reduced recursively and re-framed with its new length, or dropped when nothing of it is left; the kept
  fields are concatenated in field-number order.
- token = the first 16 bytes of HMAC-SHA256(key, content).

The protobuf is the unpadded `Message` (the padding is no field; Baileys 7 scans its padded bytes and so
loses or garbles its token in most sends). Pure functions; whatsapp/send.py attaches the node.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from whatsapp.binary import Node
from whatsapp.cipher import hkdf_sha256
from whatsapp.errors import DecodeError
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2

TOKEN_VERSION = "2"
TOKEN_LENGTH = 16
KEY_INFO = b"Report Token"  # whatsmeow EncSecretReportToken, the use case mixed into the key

# A field spec maps a field number to what is reported of it: LEAF keeps the whole field; a mapping keeps
# only those subfields. NESTED marks a sub-`Message` (viewOnce, ephemeral, edited, …): both references
# descend into it with no subfields to keep, so nothing of it is ever reported and the field is dropped; we
# do the same, since a token only helps when the recipient's computation gives the same bytes.
Spec = Mapping[int, "Spec | None"]
LEAF = None
NESTED: Spec = {}
_CONTEXT: Spec = {21: LEAF, 22: LEAF}  # ContextInfo: forwardingScore, isForwarded
_POLL: Spec = {2: LEAF, 3: {1: LEAF, 2: LEAF}, 5: _CONTEXT, 8: {1: LEAF, 2: LEAF}}
_VIDEO: Spec = {2: LEAF, 6: LEAF, 7: LEAF, 13: LEAF, 17: _CONTEXT, 20: LEAF}
_WRAPPER: Spec = {1: NESTED}  # FutureProofMessage.message
REPORTABLE: Spec = {
    1: LEAF,  # conversation
    3: {2: LEAF, 3: LEAF, 8: LEAF, 11: LEAF, 17: _CONTEXT, 25: LEAF},  # imageMessage
    4: {1: LEAF, 16: LEAF, 17: _CONTEXT},  # contactMessage
    5: {3: LEAF, 4: LEAF, 5: LEAF, 16: LEAF, 17: _CONTEXT},  # locationMessage
    6: {1: LEAF, 17: _CONTEXT, 30: LEAF},  # extendedTextMessage
    7: {2: LEAF, 7: LEAF, 10: LEAF, 17: _CONTEXT, 20: LEAF},  # documentMessage
    8: {2: LEAF, 7: LEAF, 9: LEAF, 17: _CONTEXT, 21: LEAF},  # audioMessage
    9: _VIDEO,  # videoMessage
    12: {1: LEAF, 2: LEAF, 14: NESTED, 15: LEAF},  # protocolMessage
    18: {6: LEAF, 16: LEAF, 17: _CONTEXT},  # liveLocationMessage
    26: {4: LEAF, 5: LEAF, 8: LEAF, 13: LEAF, 17: _CONTEXT},  # stickerMessage
    28: {1: LEAF, 2: LEAF, 4: LEAF, 5: LEAF, 6: LEAF, 7: _CONTEXT},
    37: _WRAPPER,  # viewOnceMessage
    49: _POLL,  # pollCreationMessage
    53: _WRAPPER,  # documentWithCaptionMessage
    55: _WRAPPER,  # viewOnceMessageV2
    58: _WRAPPER,  # editedMessage
    59: _WRAPPER,  # viewOnceMessageV2Extension
    60: _POLL,  # pollCreationMessageV2
    64: _POLL,  # pollCreationMessageV3
    66: _VIDEO,  # ptvMessage
    74: _WRAPPER,
    87: _WRAPPER,
    88: {1: LEAF, 2: {1: LEAF}, 3: _CONTEXT},
    92: _WRAPPER,
    93: _WRAPPER,
    94: _WRAPPER,
}
# The kinds that carry no token (whatsmeow and Baileys shouldIncludeReportingToken): they refer to another
# message, whose own token already covers what could be reported.
_NOT_REPORTED = ("reactionMessage", "encReactionMessage", "encEventResponseMessage", "pollUpdateMessage")

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def takes_token(message: e2e_pb2.Message) -> bool:
    """Whether a send of `message` carries a reporting token (it also needs a message secret)."""
    present = {field.name for field, _ in message.ListFields()}
    return not present & set(_NOT_REPORTED) and bool(message.messageContextInfo.messageSecret)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    """(value, offset after it)."""
    value = shift = 0
    for offset in range(at, min(len(data), at + 10)):
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset + 1
        shift += 7
    raise DecodeError("truncated or overlong varint in a message protobuf", at)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def reportable_content(data: bytes, spec: Spec = REPORTABLE) -> bytes:
    """`data` (a serialized protobuf) reduced to the fields `spec` reports, in field-number order.

    Raises DecodeError on bytes that are not a protobuf (a group wire type, a length past the end)."""
    kept: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        start = at
        tag, at = _read_varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            _, end = _read_varint(data, at)
        elif wire in (_FIXED64, _FIXED32):
            end = at + (8 if wire == _FIXED64 else 4)
        elif wire == _BYTES:
            length, at = _read_varint(data, at)
            end = at + length
        else:
            raise DecodeError(f"protobuf wire type {wire} in a message", start)
        if end > len(data):
            raise DecodeError("protobuf field runs past the end of the message", start)
        if number in spec:
            sub = spec[number]
            if wire == _BYTES and sub is not None:
                inner = reportable_content(data[at:end], sub)
                if inner:  # nothing reportable inside: the field is left out, not sent empty
                    kept.append((number, _varint(tag) + _varint(len(inner)) + inner))
            else:
                kept.append((number, data[start:end]))
        at = end
    kept.sort(key=lambda item: item[0])  # stable: repeated fields keep their order
    return b"".join(part for _, part in kept)


def token_key(secret: bytes, message_id: str, sender: JID, chat: JID) -> bytes:
    """The HMAC key: HKDF over the message secret for (id, our user JID, the chat's JID, "Report Token")."""
    info = message_id.encode() + str(sender.to_non_ad()).encode() + str(chat.to_non_ad()).encode() + KEY_INFO
    return hkdf_sha256(secret, 32, info=info)


def reporting_token(plaintext: bytes, secret: bytes, message_id: str, sender: JID, chat: JID) -> bytes:
    """The 16-byte token of the serialized (unpadded) message `plaintext`."""
    key = token_key(secret, message_id, sender, chat)
    return hmac.new(key, reportable_content(plaintext), hashlib.sha256).digest()[:TOKEN_LENGTH]


def reporting_node(message: e2e_pb2.Message, plaintext: bytes, message_id: str, sender: JID,
                   chat: JID) -> Node | None:
    """The `<reporting>` child of the stanza sending `message` (serialized as `plaintext`) from `sender` (our
    address in the chat's addressing) to `chat`; None for a kind that carries no token."""
    if not takes_token(message):
        return None
    token = reporting_token(plaintext, message.messageContextInfo.messageSecret, message_id, sender, chat)
    return Node("reporting", {}, [Node("reporting_token", {"v": TOKEN_VERSION}, token)])
