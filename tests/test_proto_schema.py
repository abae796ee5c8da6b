"""The project's .proto files against Baileys 7's WAProto.proto and libsignal: same field numbers, wire types and
enum values for everything we declare, and real messages encoded by Baileys/libsignal parse into our classes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from whatsapp.proto import (
    adv_pb2,
    cert_pb2,
    common_pb2,
    companion_reg_pb2,
    e2e_pb2,
    history_sync_pb2,
    mms_retry_pb2,
    signal_pb2,
    wa6_pb2,
)
from whatsapp.testing.harness.nodejs import NODE_DIR, run_node_json

WAPROTO = NODE_DIR / "node_modules" / "baileys" / "WAProto" / "WAProto.proto"
MODULES = [wa6_pb2, cert_pb2, adv_pb2, companion_reg_pb2, common_pb2, e2e_pb2, history_sync_pb2, signal_pb2,
           mms_retry_pb2]

# Our messages that are stored elsewhere, or under other names, in Baileys' single file.
NOT_IN_WAPROTO = {"wa.signal.WhisperMessage", "wa.signal.PreKeyWhisperMessage", "wa.signal.KeyExchangeMessage"}
# Our message -> Baileys' path, where the default lookup (same local name, or under Message) would miss.
RENAMED: dict[str, str] = {}


@dataclass
class Block:
    fields: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # number -> (label, type, name)
    enum_values: dict[str, int] = field(default_factory=dict)
    is_enum: bool = False


def parse_waproto(text: str) -> dict[str, Block]:
    """A small reader for Baileys' WAProto.proto: nested messages/enums by dotted path, their fields/values."""
    blocks: dict[str, Block] = {}
    stack: list[str | None] = []  # None marks a oneof (its fields belong to the enclosing message)
    opener = re.compile(r"^\s*(message|enum|oneof)\s+(\w+)\s*\{")
    field_re = re.compile(r"^\s*(optional|repeated|required)?\s*([\w.]+|map<[^>]+>)\s+(\w+)\s*=\s*(\d+)")
    value_re = re.compile(r"^\s*(\w+)\s*=\s*(-?\d+)\s*;")
    for line in text.splitlines():
        m = opener.match(line)
        if m:
            kind, name = m.groups()
            if kind == "oneof":
                stack.append(None)
                continue
            parents = [s for s in stack if s is not None]
            path = ".".join([*parents, name])
            blocks[path] = Block(is_enum=kind == "enum")
            stack.append(name)
            continue
        if line.strip() == "}":
            stack.pop()
            continue
        parents = [s for s in stack if s is not None]
        if not parents:
            continue
        block = blocks[".".join(parents)]
        if block.is_enum:
            v = value_re.match(line)
            if v:
                block.enum_values[v.group(1)] = int(v.group(2))
            continue
        f = field_re.match(line)
        if f:
            label, type_, name, number = f.groups()
            block.fields[int(number)] = (label or "optional", type_, name)
    return blocks


WIRE = {
    FieldDescriptor.TYPE_INT32: "varint",
    FieldDescriptor.TYPE_INT64: "varint",
    FieldDescriptor.TYPE_UINT32: "varint",
    FieldDescriptor.TYPE_UINT64: "varint",
    FieldDescriptor.TYPE_BOOL: "varint",
    FieldDescriptor.TYPE_ENUM: "varint",
    FieldDescriptor.TYPE_SINT32: "zigzag",
    FieldDescriptor.TYPE_SINT64: "zigzag",
    FieldDescriptor.TYPE_FIXED32: "i32",
    FieldDescriptor.TYPE_SFIXED32: "i32",
    FieldDescriptor.TYPE_FLOAT: "i32",
    FieldDescriptor.TYPE_FIXED64: "i64",
    FieldDescriptor.TYPE_SFIXED64: "i64",
    FieldDescriptor.TYPE_DOUBLE: "i64",
    FieldDescriptor.TYPE_STRING: "len",
    FieldDescriptor.TYPE_BYTES: "len",
    FieldDescriptor.TYPE_MESSAGE: "len",
}
SCALAR_WIRE = {
    "int32": "varint",
    "int64": "varint",
    "uint32": "varint",
    "uint64": "varint",
    "bool": "varint",
    "sint32": "zigzag",
    "sint64": "zigzag",
    "fixed32": "i32",
    "sfixed32": "i32",
    "float": "i32",
    "fixed64": "i64",
    "sfixed64": "i64",
    "double": "i64",
    "string": "len",
    "bytes": "len",
}


def _their_wire(type_: str, their_path: str, blocks: dict[str, Block]) -> str:
    if type_ in SCALAR_WIRE:
        return SCALAR_WIRE[type_]
    if type_.startswith("map<"):
        return "len"
    # A named type: an enum (varint) or a message (length-delimited), resolved from the innermost scope out.
    scope = their_path.split(".")
    for i in range(len(scope), -1, -1):
        candidate = ".".join([*scope[:i], type_])
        if candidate in blocks:
            return "varint" if blocks[candidate].is_enum else "len"
    raise AssertionError(f"cannot resolve type {type_} used in {their_path}")


def _our_messages() -> list[Descriptor]:
    out: list[Descriptor] = []

    def walk(desc: Descriptor) -> None:
        out.append(desc)
        for nested in desc.nested_types:
            walk(nested)

    for module in MODULES:
        for desc in module.DESCRIPTOR.message_types_by_name.values():
            walk(desc)
    return out


def _our_enums() -> list[EnumDescriptor]:
    enums: list[EnumDescriptor] = []
    for module in MODULES:
        enums.extend(module.DESCRIPTOR.enum_types_by_name.values())
    for desc in _our_messages():
        enums.extend(desc.enum_types)
    return enums


def _their_path(full_name: str, blocks: dict[str, Block]) -> str | None:
    if full_name in RENAMED:
        return RENAMED[full_name]
    local = full_name.split(".", 2)[2]  # strip "wa.<file>."
    # Baileys nests most E2E content messages inside Message (and has a different top-level
    # SenderKeyDistributionMessage: the Signal one), so E2E names look there first.
    candidates = (f"Message.{local}", local) if full_name.startswith("wa.e2e.") else (local, f"Message.{local}")
    for candidate in candidates:
        if candidate in blocks:
            return candidate
    return None


@pytest.fixture(scope="module")
def waproto() -> dict[str, Block]:
    assert WAPROTO.is_file(), "Baileys is not installed under tests/node (run scripts/test.sh)"
    return parse_waproto(WAPROTO.read_text())


def test_every_declared_field_matches_baileys_waproto(waproto: dict[str, Block]) -> None:
    checked = 0
    missing_messages = []
    for desc in _our_messages():
        if desc.full_name in NOT_IN_WAPROTO:
            continue
        path = _their_path(desc.full_name, waproto)
        if path is None:
            missing_messages.append(desc.full_name)
            continue
        theirs = waproto[path]
        for f in desc.fields:
            if f.number not in theirs.fields:
                # WhatsApp adds fields faster than Baileys' snapshot (ours follow whatsmeow's newer protos).
                continue
            label, type_, name = theirs.fields[f.number]
            assert name.lower() == f.name.lower(), f"{desc.full_name}.{f.name} = {f.number} is {path}.{name} there"
            assert (label == "repeated") == f.is_repeated, f"{desc.full_name}.{f.name}"
            assert WIRE[f.type] == _their_wire(type_, path, waproto), f"{desc.full_name}.{f.name}: {type_}"
            checked += 1
    assert not missing_messages, f"messages with no counterpart in WAProto.proto: {missing_messages}"
    assert checked > 300


def test_enum_values_match_baileys_waproto(waproto: dict[str, Block]) -> None:
    checked = 0
    for enum in _our_enums():
        path = _their_path(enum.full_name, waproto)
        if path is None or not waproto[path].is_enum:
            continue
        theirs = waproto[path].enum_values
        for value in enum.values:
            if value.name in theirs:
                assert theirs[value.name] == value.number, f"{enum.full_name}.{value.name}"
                checked += 1
    assert checked > 150


def test_every_field_is_optional_or_repeated_so_partial_messages_serialize() -> None:
    for desc in _our_messages():
        for f in desc.fields:
            assert not f.is_required, f"{desc.full_name}.{f.name} is required"
    # A HistorySync with no syncType still serializes (proto2 `required` would raise EncodeError).
    assert history_sync_pb2.HistorySync(conversations=[history_sync_pb2.Conversation()]).SerializeToString()


def test_generated_modules_are_fresh() -> None:
    """The committed *_pb2.py must come from the committed .proto (run scripts/gen_protos.sh after edits)."""
    proto_dir = Path(wa6_pb2.__file__).parent
    for module in MODULES:
        source = (proto_dir / Path(module.DESCRIPTOR.name).name).read_text()
        for desc in module.DESCRIPTOR.message_types_by_name.values():
            assert re.search(rf"^message {desc.name} \{{", source, re.M), (module.__name__, desc.name)
        declared = len(re.findall(r"=\s*\d+\s*(?:\[[^\]]*\])?\s*;", source))
        generated = sum(len(d.fields) for d in _all(module)) + sum(len(e.values) for e in _all_enums(module))
        assert declared == generated, f"{module.__name__} is stale: regenerate with scripts/gen_protos.sh"


def _all(module) -> list[Descriptor]:
    out: list[Descriptor] = []

    def walk(desc: Descriptor) -> None:
        out.append(desc)
        for nested in desc.nested_types:
            walk(nested)

    for desc in module.DESCRIPTOR.message_types_by_name.values():
        walk(desc)
    return out


def _all_enums(module) -> list[EnumDescriptor]:
    enums = list(module.DESCRIPTOR.enum_types_by_name.values())
    for desc in _all(module):
        enums.extend(desc.enum_types)
    return enums


# --- real bytes from Baileys ------------------------------------------------------------------------------


@pytest.mark.node
def test_messages_encoded_by_baileys_parse_into_our_classes() -> None:
    media_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="  # base64 of 01..20
    cases = [
        {
            "type": "Message",
            "object": {
                "extendedTextMessage": {
                    "text": "a reply @15550001111",
                    "contextInfo": {
                        "stanzaId": "3EB0ABCDEF",
                        "participant": "15550002222@s.whatsapp.net",
                        "remoteJid": "120363000000000000@g.us",
                        "mentionedJid": ["15550001111@s.whatsapp.net"],
                        "quotedMessage": {"conversation": "the original"},
                    },
                },
                "messageContextInfo": {"messageSecret": media_key},
            },
        },
        {
            "type": "Message",
            "object": {
                "imageMessage": {
                    "url": "https://mmg.whatsapp.net/o1/v/t62/abc",
                    "mimetype": "image/jpeg",
                    "caption": "look",
                    "fileSha256": media_key,
                    "fileLength": "123456",
                    "height": 640,
                    "width": 480,
                    "mediaKey": media_key,
                    "fileEncSha256": media_key,
                    "directPath": "/o1/v/t62/abc",
                    "mediaKeyTimestamp": "1760000000",
                }
            },
        },
        {
            "type": "Message",
            "object": {
                "ephemeralMessage": {
                    "message": {"documentWithCaptionMessage": {"message": {"documentMessage": {"fileName": "a.pdf"}}}}
                },
                "senderKeyDistributionMessage": {
                    "groupId": "120363000000000000@g.us",
                    "axolotlSenderKeyDistributionMessage": media_key,
                },
            },
        },
        {
            "type": "Message",
            "object": {
                "protocolMessage": {
                    "key": {"remoteJid": "15550001111@s.whatsapp.net", "fromMe": True, "id": "ABC"},
                    "type": "MESSAGE_EDIT",
                    "editedMessage": {"conversation": "edited"},
                    "historySyncNotification": {"syncType": "RECENT", "chunkOrder": 2, "directPath": "/x"},
                    "appStateSyncKeyShare": {
                        "keys": [{"keyId": {"keyId": media_key}, "keyData": {"keyData": media_key, "timestamp": "5"}}]
                    },
                }
            },
        },
        {
            "type": "Message",
            "object": {
                "reactionMessage": {"key": {"id": "XYZ"}, "text": "👍", "senderTimestampMs": "1760000000000"},
                "deviceSentMessage": {"destinationJid": "15550001111@s.whatsapp.net", "message": {"conversation": "x"}},
            },
        },
        {
            "type": "HistorySync",
            "object": {
                "syncType": "PUSH_NAME",
                "conversations": [{"id": "15550001111@s.whatsapp.net", "tcToken": media_key, "lidJid": "1@lid"}],
                "pushnames": [{"id": "15550001111@s.whatsapp.net", "pushname": "Ann"}],
                "phoneNumberToLidMappings": [{"pnJid": "15550001111@s.whatsapp.net", "lidJid": "1@lid"}],
            },
        },
        {
            "type": "HandshakeMessage",
            "object": {"serverHello": {"ephemeral": media_key, "static": media_key, "payload": media_key}},
        },
        {
            "type": "ADVSignedDeviceIdentityHMAC",
            "object": {"details": media_key, "hmac": media_key, "accountType": "HOSTED"},
        },
        {"type": "SenderKeyMessage", "object": {"id": 7, "iteration": 3, "ciphertext": media_key}},
        {"type": "SenderKeyDistributionMessage", "object": {"id": 7, "iteration": 0, "chainKey": media_key}},
    ]
    results = run_node_json("proto_oracle.mjs", input_obj={"cases": cases})["results"]
    key = bytes(range(1, 33))
    parsed = [
        {
            "Message": e2e_pb2.Message,
            "HistorySync": history_sync_pb2.HistorySync,
            "HandshakeMessage": wa6_pb2.HandshakeMessage,
            "ADVSignedDeviceIdentityHMAC": adv_pb2.ADVSignedDeviceIdentityHMAC,
            "SenderKeyMessage": signal_pb2.SenderKeyMessage,
            "SenderKeyDistributionMessage": signal_pb2.SenderKeyDistributionMessage,
        }[case["type"]].FromString(bytes.fromhex(result["hex"]))
        for case, result in zip(cases, results, strict=True)
    ]
    reply, image, wrapped, protocol, reaction, history, handshake, hmac_wrapper, skmsg, skdm = parsed
    ctx = reply.extendedTextMessage.contextInfo
    assert reply.extendedTextMessage.text == "a reply @15550001111"
    assert (ctx.stanzaID, ctx.participant, ctx.remoteJID) == (
        "3EB0ABCDEF",
        "15550002222@s.whatsapp.net",
        "120363000000000000@g.us",
    )
    assert list(ctx.mentionedJID) == ["15550001111@s.whatsapp.net"]
    assert ctx.quotedMessage.conversation == "the original"
    assert reply.messageContextInfo.messageSecret == key
    img = image.imageMessage
    assert (img.URL, img.mimetype, img.caption, img.directPath) == (
        "https://mmg.whatsapp.net/o1/v/t62/abc",
        "image/jpeg",
        "look",
        "/o1/v/t62/abc",
    )
    assert (img.fileLength, img.height, img.width, img.mediaKeyTimestamp) == (123456, 640, 480, 1760000000)
    assert img.fileSHA256 == img.mediaKey == img.fileEncSHA256 == key
    assert wrapped.ephemeralMessage.message.documentWithCaptionMessage.message.documentMessage.fileName == "a.pdf"
    assert wrapped.senderKeyDistributionMessage.groupID == "120363000000000000@g.us"
    pm = protocol.protocolMessage
    assert pm.type == e2e_pb2.ProtocolMessage.MESSAGE_EDIT
    assert (pm.key.remoteJID, pm.key.fromMe, pm.key.ID) == ("15550001111@s.whatsapp.net", True, "ABC")
    assert pm.editedMessage.conversation == "edited"
    assert pm.historySyncNotification.syncType == e2e_pb2.RECENT and pm.historySyncNotification.chunkOrder == 2
    assert pm.appStateSyncKeyShare.keys[0].keyID.keyID == key and pm.appStateSyncKeyShare.keys[0].keyData.timestamp == 5
    assert reaction.reactionMessage.text == "👍" and reaction.reactionMessage.senderTimestampMS == 1760000000000
    assert reaction.deviceSentMessage.message.conversation == "x"
    assert history.syncType == history_sync_pb2.HistorySync.PUSH_NAME
    assert history.conversations[0].ID == "15550001111@s.whatsapp.net" and history.conversations[0].tcToken == key
    assert history.conversations[0].lidJID == "1@lid"
    assert history.pushnames[0].pushname == "Ann" and history.phoneNumberToLidMappings[0].lidJID == "1@lid"
    assert handshake.serverHello.ephemeral == handshake.serverHello.static == handshake.serverHello.payload == key
    assert key == hmac_wrapper.HMAC and hmac_wrapper.accountType == adv_pb2.HOSTED
    assert (skmsg.id, skmsg.iteration, skmsg.ciphertext) == (7, 3, key)
    assert (skdm.id, skdm.iteration, skdm.chainKey) == (7, 0, key)
    # And back: Baileys decodes our re-serialization to the same object it started from.
    back = run_node_json(
        "proto_oracle.mjs",
        input_obj={
            "decode": [
                {"type": c["type"], "hex": p.SerializeToString().hex()} for c, p in zip(cases, parsed, strict=True)
            ]
        },
    )["decoded"]
    for case, result, decoded in zip(cases, results, back, strict=True):
        assert decoded == result["object"], case["type"]
