"""What the simulated phone does with the messages routed to it: decrypt them and check they are right.

Device 0 is a Signal device like any other (its bundle is published, bundles.py), and every sender puts a
copy for it in its fan-out. A real phone decrypts each one; so does this one, with its own keys
(`PhoneKeys`: identity, signed prekey, one-time prekeys, and the sessions and sender keys it built), and
checks what a phone relies on:

- a 1:1 message a companion of *this* account sent to someone else (the copy carries `recipient`) is a
  `deviceSentMessage` whose `destinationJID` is that chat (whatsmeow `send.go` marshalMessage, Baileys
  `src/Socket/messages-send.ts` createParticipantNodes: own devices get the DSM);
- a message from another account is the message itself, never a `deviceSentMessage`;
- a group message's sender key distribution (pairwise) installs the key its `skmsg` then decrypts with.

What fails is reported as a "phone_rejected" event (strict.py): the test suite fails a test in which a
client sent its own phone something the phone could not read. A redelivered copy (already decrypted) is
dropped silently, as a phone does. The Signal primitives are the library's (`whatsapp.signal`), checked
against libsignal in the interop tests; what is under test here is what the sender put in the envelope.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError as ProtobufDecodeError

from whatsapp.binary import Node
from whatsapp.errors import DecodeError, DuplicateMessageError, SignalError
from whatsapp.jid import JID
from whatsapp.padding import unpad_message
from whatsapp.proto import e2e_pb2
from whatsapp.signal import (
    LocalIdentity,
    PreKeyMessage,
    SenderKeyRecord,
    SessionRecord,
    decrypt_message,
    decrypt_prekey_message,
    group_decrypt,
    process_distribution_message,
)
from whatsapp.testing import strict
from whatsapp.testing.state import Account, Device, ServerState


class PhoneInbox:
    """Decrypts and checks the `<message>` copies delivered to an account's device 0."""

    def __init__(self, account: Account, state: ServerState) -> None:
        self.account = account
        self.state = state
        self.decrypted = 0  # messages read, for tests

    def _reject(self, what: str, detail: str, node: Node) -> None:
        strict.report(self.state, strict.PHONE_REJECTED, what,
                      f"phone {self.account.phone_number}, message {node.attrs.get('id')}: {detail}", node=node)

    def receive(self, node: Node) -> None:
        if node.tag != "message":
            return  # receipts, notifications, chat states: nothing a phone must decrypt
        group = node.try_attr_jid("from") if node.attr_str("participant") is not None else None
        sender_jid = node.try_attr_jid("participant") if group is not None else node.try_attr_jid("from")
        sender = self.state.device_for(sender_jid) if sender_jid is not None else None
        if sender is None:
            self._reject("phone-decrypt", f"sender {sender_jid} is unknown", node)
            return
        try:
            messages = self._decrypt_all(node, sender, group)
        except DuplicateMessageError:
            return
        except (SignalError, DecodeError) as exc:
            self._reject("phone-decrypt", f"{type(exc).__name__}: {exc}", node)
            return
        self.decrypted += 1
        for message in messages:
            problem = self._check(node, sender, group, message)
            if problem is not None:
                self._reject("phone-content", problem, node)

    # -- decrypting ------------------------------------------------------------------------------

    def _decrypt_all(self, node: Node, sender: Device, group: JID | None) -> list[e2e_pb2.Message]:
        encs = node.children_by_tag("enc")
        # Pairwise first: the sender key distribution they carry must be installed before the skmsg.
        encs.sort(key=lambda enc: enc.attr_str("type") == "skmsg")
        messages: list[e2e_pb2.Message] = []
        for enc in encs:
            kind = enc.attr_str("type")
            body = enc.content_bytes or b""
            if kind == "skmsg":
                if group is None:
                    raise DecodeError("skmsg outside a group message")
                padded = self._group_decrypt(group, sender, body)
            elif kind in ("pkmsg", "msg"):
                padded = self._pairwise_decrypt(sender, kind, body)
            else:
                raise DecodeError(f"<enc type={kind!r}> is not a Signal message type")
            message = _parse(padded)
            if message.HasField("senderKeyDistributionMessage") and group is not None:
                self._install_sender_key(group, sender, message.senderKeyDistributionMessage)
            messages.append(message)
        return messages

    def _pairwise_decrypt(self, sender: Device, kind: str, body: bytes) -> bytes:
        keys = self.account.phone_keys
        me = LocalIdentity(self.account.identity, keys.registration_id)
        address = _address(sender)
        stored = keys.sessions.get(address)
        record = SessionRecord.from_bytes(stored) if stored is not None else None
        known = keys.identities.get(address)
        if kind == "pkmsg":
            message = PreKeyMessage.parse(body)
            spk = keys.signed_prekey
            result = decrypt_prekey_message(
                record, me, message,
                signed_pre_key=spk.key_pair if spk.key_id == message.signed_pre_key_id else None,
                pre_key=keys.prekeys.get(message.pre_key_id) if message.pre_key_id is not None else None,
                known_identity=known,
            )
            if result.used_pre_key_id is not None:
                keys.prekeys.pop(result.used_pre_key_id, None)
        else:
            result = decrypt_message(record, me, body, known_identity=known)
        keys.sessions[address] = result.record.to_bytes()
        keys.identities[address] = result.remote_identity
        return result.plaintext

    def _group_decrypt(self, group: JID, sender: Device, body: bytes) -> bytes:
        keys = self.account.phone_keys
        name = f"{group}::{_address(sender)}"
        stored = keys.sender_keys.get(name)
        record, plaintext = group_decrypt(SenderKeyRecord.from_bytes(stored) if stored is not None else None, body)
        keys.sender_keys[name] = record.to_bytes()
        return plaintext

    def _install_sender_key(self, group: JID, sender: Device, skdm: e2e_pb2.SenderKeyDistributionMessage) -> None:
        if skdm.groupID and JID.try_parse(skdm.groupID) != group:
            raise DecodeError(f"sender key distribution for {skdm.groupID} inside a message of {group}")
        keys = self.account.phone_keys
        name = f"{group}::{_address(sender)}"
        stored = keys.sender_keys.get(name)
        record = process_distribution_message(SenderKeyRecord.from_bytes(stored) if stored is not None else None,
                                              skdm.axolotlSenderKeyDistributionMessage)
        keys.sender_keys[name] = record.to_bytes()

    # -- checking --------------------------------------------------------------------------------

    def _check(self, node: Node, sender: Device, group: JID | None, message: e2e_pb2.Message) -> str | None:
        own = sender.account is self.account
        dsm = message.HasField("deviceSentMessage")
        if group is not None or node.attr_str("category") == "peer":
            return "a group or peer message wrapped in deviceSentMessage" if dsm else None
        if not own:
            return "a message from another account wrapped in deviceSentMessage" if dsm else None
        recipient = node.try_attr_jid("recipient")
        if recipient is None:
            return None  # to our own chat: either form is read
        if not dsm:
            if message.HasField("senderKeyDistributionMessage") or message.HasField("protocolMessage"):
                return None
            return f"our own copy of a message to {recipient} is not a deviceSentMessage"
        destination = JID.try_parse(message.deviceSentMessage.destinationJID)
        chat = self.state.account_for(recipient)
        if destination is None or chat is None or self.state.account_for(destination) is not chat:
            return (f"deviceSentMessage.destinationJID {message.deviceSentMessage.destinationJID!r} is not the "
                    f"chat {recipient}")
        if not message.deviceSentMessage.HasField("message"):
            return "deviceSentMessage without the message"
        return None


def _address(device: Device) -> str:
    # One session per sending device, however it was addressed (PN or LID).
    return f"{device.account.lid}.{device.device_id}"


def _parse(padded: bytes) -> e2e_pb2.Message:
    message = e2e_pb2.Message()
    try:
        message.ParseFromString(unpad_message(padded))
    except ProtobufDecodeError as exc:
        raise DecodeError(f"not a Message protobuf: {exc}") from None
    return message
