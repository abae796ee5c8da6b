"""1:1 Signal sessions, Python against Python: ratchet behaviour, error classes and failure atomicity.

(The same code is proven against libsignal-node in test_signal_interop.py.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import pytest

from whatsapp import xeddsa
from whatsapp.errors import (
    BadMacError,
    DuplicateMessageError,
    InvalidMessageError,
    InvalidPreKeyError,
    InvalidSignatureError,
    MalformedMessageError,
    NoSessionError,
    UntrustedIdentityError,
)
from whatsapp.keys import KeyPair, prefixed
from whatsapp.proto import signal_pb2
from whatsapp.signal import (
    LocalIdentity,
    PreKeyBundle,
    PreKeyMessage,
    SessionRecord,
    build_session_from_bundle,
    decrypt_message,
    decrypt_prekey_message,
    encrypt_message,
)


@dataclass
class Device:
    """A Python peer with its own key store, standing in for the client's auth state."""

    me: LocalIdentity = field(default_factory=lambda: LocalIdentity(KeyPair.generate(), random.randint(1, 16380)))
    signed_pre_key: KeyPair = field(default_factory=KeyPair.generate)
    pre_keys: dict[int, KeyPair] = field(default_factory=lambda: {i: KeyPair.generate() for i in range(1, 6)})
    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    identities: dict[str, bytes] = field(default_factory=dict)

    def bundle(self, pre_key_id: int | None = 1) -> PreKeyBundle:
        spk_pub = prefixed(self.signed_pre_key.public)
        return PreKeyBundle(
            registration_id=self.me.registration_id,
            device_id=0,
            identity_key=self.me.identity_key.public,  # raw 32 bytes, as in a stanza
            signed_pre_key_id=7,
            signed_pre_key_public=self.signed_pre_key.public,
            signed_pre_key_signature=xeddsa.sign(self.me.identity_key.private, spk_pub),
            pre_key_id=pre_key_id,
            pre_key_public=self.pre_keys[pre_key_id].public if pre_key_id else None,
        )

    def start(self, peer: str, bundle: PreKeyBundle) -> None:
        result = build_session_from_bundle(self.sessions.get(peer), self.me, bundle)
        self.sessions[peer] = result.record
        self.identities[peer] = result.remote_identity

    def send(self, peer: str, text: bytes) -> tuple[str, bytes]:
        record, message = encrypt_message(self.sessions.get(peer), self.me, text)
        self.sessions[peer] = record
        return message.type, message.body

    def receive(self, peer: str, kind: str, body: bytes, *, trust: bool = True) -> bytes:
        if kind == "pkmsg":
            msg = PreKeyMessage.parse(body)
            result = decrypt_prekey_message(
                self.sessions.get(peer),
                self.me,
                msg,
                signed_pre_key=self.signed_pre_key if msg.signed_pre_key_id == 7 else None,
                pre_key=self.pre_keys.get(msg.pre_key_id) if msg.pre_key_id is not None else None,
                known_identity=self.identities.get(peer),
                trust_identity_change=trust,
            )
        else:
            result = decrypt_message(
                self.sessions.get(peer),
                self.me,
                body,
                known_identity=self.identities.get(peer),
                trust_identity_change=trust,
            )
        self.sessions[peer] = result.record
        self.identities[peer] = result.remote_identity
        return result.plaintext


def pair() -> tuple[Device, Device]:
    alice, bob = Device(), Device()
    alice.start("bob", bob.bundle())
    return alice, bob


def test_first_messages_are_pkmsg_until_the_reply() -> None:
    alice, bob = pair()
    kinds = []
    for i in range(3):
        kind, body = alice.send("bob", b"a%d" % i)
        kinds.append(kind)
        assert bob.receive("alice", kind, body) == b"a%d" % i
    kind, body = bob.send("alice", b"reply")
    assert kind == "msg"
    assert alice.receive("bob", kind, body) == b"reply"
    kind, body = alice.send("bob", b"after")
    assert kinds == ["pkmsg"] * 3 and kind == "msg"
    assert bob.receive("alice", kind, body) == b"after"


def test_pkmsg_reports_the_consumed_prekey_and_bundles_without_one_work() -> None:
    alice, bob = pair()
    _, body = alice.send("bob", b"x")
    result = decrypt_prekey_message(None, bob.me, body, signed_pre_key=bob.signed_pre_key, pre_key=bob.pre_keys[1])
    assert result.used_pre_key_id == 1 and result.new_session and result.plaintext == b"x"
    # The same pkmsg again on the new record: the session is found by base key, the message is a duplicate.
    with pytest.raises(DuplicateMessageError):
        decrypt_prekey_message(result.record, bob.me, body, signed_pre_key=bob.signed_pre_key, pre_key=None)
    # The same pkmsg on the OLD record (session write lost) with the prekey kept (grace policy) decrypts again.
    again = decrypt_prekey_message(None, bob.me, body, signed_pre_key=bob.signed_pre_key, pre_key=bob.pre_keys[1])
    assert again.plaintext == b"x"

    carol = Device()
    carol.start("bob", bob.bundle(pre_key_id=None))
    _, body = carol.send("bob", b"no one-time prekey")
    assert PreKeyMessage.parse(body).pre_key_id is None
    result = decrypt_prekey_message(None, bob.me, body, signed_pre_key=bob.signed_pre_key, pre_key=None)
    assert result.plaintext == b"no one-time prekey" and result.used_pre_key_id is None


def test_unknown_prekeys_fail_cleanly() -> None:
    alice, bob = pair()
    _, body = alice.send("bob", b"x")
    with pytest.raises(InvalidPreKeyError) as err:
        decrypt_prekey_message(None, bob.me, body, signed_pre_key=bob.signed_pre_key, pre_key=None)
    assert err.value.pre_key_id == 1
    with pytest.raises(InvalidPreKeyError):
        decrypt_prekey_message(None, bob.me, body, signed_pre_key=None, pre_key=bob.pre_keys[1])
    # The wrong one-time prekey derives other keys: the MAC fails.
    with pytest.raises(BadMacError):
        decrypt_prekey_message(None, bob.me, body, signed_pre_key=bob.signed_pre_key, pre_key=bob.pre_keys[2])


def test_bundle_with_a_bad_signature_is_refused() -> None:
    alice, bob = Device(), Device()
    bundle = bob.bundle()
    forged = replace(bundle, signed_pre_key_signature=bytes(64))
    with pytest.raises(InvalidSignatureError):
        build_session_from_bundle(None, alice.me, forged)
    other = replace(bundle, signed_pre_key_public=KeyPair.generate().public)
    with pytest.raises(InvalidSignatureError):
        build_session_from_bundle(None, alice.me, other)


def test_many_ratchet_turns_out_of_order_and_skipped() -> None:
    rng = random.Random(7)
    alice, bob = pair()
    a, b = alice, bob
    names = {id(alice): "alice", id(bob): "bob"}
    kind, body = alice.send("bob", b"hello")
    bob.receive("alice", kind, body)
    for turn in range(12):
        sender, receiver = (a, b) if turn % 2 == 0 else (b, a)
        batch = [(i, *sender.send(names[id(receiver)], b"t%d-%d" % (turn, i))) for i in range(rng.randint(1, 6))]
        rng.shuffle(batch)
        dropped = batch.pop() if len(batch) > 2 else None
        for i, kind, body in batch:
            assert receiver.receive(names[id(sender)], kind, body) == b"t%d-%d" % (turn, i)
        if dropped and turn < 10:
            # A late message from a previous chain still decrypts (its key was kept when the chain closed).
            late = dropped
            reply_kind, reply = receiver.send(names[id(sender)], b"ack")
            sender.receive(names[id(receiver)], reply_kind, reply)
            next_kind, next_body = sender.send(names[id(receiver)], b"newer")
            assert receiver.receive(names[id(sender)], next_kind, next_body) == b"newer"
            assert receiver.receive(names[id(sender)], late[1], late[2]) == b"t%d-%d" % (turn, late[0])
    for device in (alice, bob):
        chains = next(iter(device.sessions.values())).current.receiving_chains
        assert len(chains) == 5  # bounded: the oldest chains (and their skipped keys) are dropped


def test_duplicates_are_told_apart_from_failures() -> None:
    alice, bob = pair()
    kind, body = alice.send("bob", b"one")
    bob.receive("alice", kind, body)
    kind, reply = bob.send("alice", b"r")
    alice.receive("bob", kind, reply)
    kind, body = alice.send("bob", b"two")
    bob.receive("alice", kind, body)
    before = bob.sessions["alice"].to_bytes()
    with pytest.raises(DuplicateMessageError):
        bob.receive("alice", kind, body)
    with pytest.raises(DuplicateMessageError):
        alice.receive("bob", "msg", reply)
    assert bob.sessions["alice"].to_bytes() == before


def _tamper(body: bytes, how: str) -> bytes:
    if how == "mac":
        return body[:-1] + bytes([body[-1] ^ 1])
    if how == "version":
        return bytes([0x23]) + body[1:]
    proto = signal_pb2.WhisperMessage.FromString(body[1:-8])
    if how == "ciphertext":
        proto.ciphertext = bytes([proto.ciphertext[0] ^ 1]) + proto.ciphertext[1:]
    elif how == "counter":
        proto.counter += 1
    return body[:1] + proto.SerializeToString() + body[-8:]


@pytest.mark.parametrize(
    ("how", "error"),
    [("mac", BadMacError), ("ciphertext", BadMacError), ("counter", BadMacError), ("version", MalformedMessageError)],
)
def test_tampered_messages_fail_and_leave_the_record_unchanged(how: str, error: type[Exception]) -> None:
    alice, bob = pair()
    kind, body = alice.send("bob", b"one")
    bob.receive("alice", kind, body)
    kind, reply = bob.send("alice", b"r")
    alice.receive("bob", kind, reply)
    kind, body = alice.send("bob", b"two")
    assert kind == "msg"
    record = bob.sessions["alice"]
    before = record.to_bytes()
    with pytest.raises(error):
        decrypt_message(record, bob.me, _tamper(body, how))
    assert record.to_bytes() == before
    assert bob.receive("alice", kind, body) == b"two"  # the genuine message still decrypts afterwards


def test_tampered_pkmsg_identity_and_garbage() -> None:
    alice, bob = pair()
    _, body = alice.send("bob", b"x")
    proto = signal_pb2.PreKeyWhisperMessage.FromString(body[1:])
    proto.identityKey = prefixed(KeyPair.generate().public)
    forged = body[:1] + proto.SerializeToString()
    with pytest.raises(BadMacError):
        decrypt_prekey_message(None, bob.me, forged, signed_pre_key=bob.signed_pre_key, pre_key=bob.pre_keys[1])
    for junk in (b"", b"\x33", b"\x33\xff\xff", body[:20], b"\x33" + b"\x0a\x02\x05\x01"):
        with pytest.raises(MalformedMessageError):
            decrypt_prekey_message(None, bob.me, junk, signed_pre_key=bob.signed_pre_key, pre_key=None)
        with pytest.raises(MalformedMessageError):
            decrypt_message(SessionRecord(), bob.me, junk)


def test_no_session_errors() -> None:
    alice = Device()
    with pytest.raises(NoSessionError):
        encrypt_message(None, alice.me, b"x")
    bob = Device()
    alice.start("bob", bob.bundle())
    _, body = alice.send("bob", b"x")
    inner = PreKeyMessage.parse(body).message.serialized + PreKeyMessage.parse(body).message.mac
    with pytest.raises(NoSessionError):
        decrypt_message(None, bob.me, inner)
    with pytest.raises(NoSessionError):
        encrypt_message(SessionRecord(), bob.me, b"x")


def test_identity_change_policy() -> None:
    alice, bob = pair()
    kind, body = alice.send("bob", b"one")
    bob.receive("alice", kind, body)
    # Alice reinstalls WhatsApp: a new identity, a new session.
    alice2 = Device()
    alice2.start("bob", bob.bundle(pre_key_id=2))
    kind, body = alice2.send("bob", b"new phone")
    before = bob.sessions["alice"].to_bytes()
    with pytest.raises(UntrustedIdentityError):
        bob.receive("alice", kind, body, trust=False)
    assert bob.sessions["alice"].to_bytes() == before
    msg = PreKeyMessage.parse(body)
    result = decrypt_prekey_message(
        bob.sessions["alice"],
        bob.me,
        msg,
        signed_pre_key=bob.signed_pre_key,
        pre_key=bob.pre_keys[2],
        known_identity=bob.identities["alice"],
    )
    assert result.identity_changed and result.plaintext == b"new phone"
    assert result.remote_identity == alice2.me.public_key
    # The old identity's sessions are gone (they could never verify again).
    assert all(s.remote_identity == alice2.me.public_key for s in result.record.states())
    # First contact (no stored identity) is trust on first use, not a change.
    fresh = decrypt_prekey_message(None, bob.me, msg, signed_pre_key=bob.signed_pre_key, pre_key=bob.pre_keys[2])
    assert not fresh.identity_changed


def test_new_base_key_archives_and_old_session_still_decrypts() -> None:
    alice, bob = pair()
    kind, body = alice.send("bob", b"one")
    bob.receive("alice", kind, body)
    kind, late = alice.send("bob", b"late from session 1")
    # Alice rebuilds (e.g. after a retry receipt) from a fresh bundle: new base key, bob archives session 1.
    alice.start("bob", bob.bundle(pre_key_id=3))
    kind2, body2 = alice.send("bob", b"session 2")
    assert bob.receive("alice", kind2, body2) == b"session 2"
    assert len(bob.sessions["alice"].archived) == 1
    assert bob.receive("alice", kind, late) == b"late from session 1"
    # Archived states are bounded at 40.
    for i in range(45):
        alice.start("bob", bob.bundle(pre_key_id=4))
        k, b = alice.send("bob", b"s%d" % i)
        bob.receive("alice", k, b)
    assert len(bob.sessions["alice"].archived) == 40


def test_future_cap_and_skipped_key_bounds() -> None:
    alice, bob = pair()
    kind, body = alice.send("bob", b"one")
    bob.receive("alice", kind, body)
    for _ in range(2000):
        alice.send("bob", b"lost")
    kind, far = alice.send("bob", b"far")  # counter 2001: 2000 keys to skip
    before = bob.sessions["alice"].to_bytes()
    with pytest.raises(InvalidMessageError):
        bob.receive("alice", kind, far)
    assert bob.sessions["alice"].to_bytes() == before
    alice2, bob2 = pair()
    kind, body = alice2.send("bob", b"one")
    bob2.receive("alice", kind, body)
    for _ in range(1998):
        alice2.send("bob", b"lost")
    kind, near = alice2.send("bob", b"near")
    assert bob2.receive("alice", kind, near) == b"near"
    chain = bob2.sessions["alice"].current.receiving_chains[-1].chain
    assert len(chain.skipped) == 1998
    assert SessionRecord.from_bytes(bob2.sessions["alice"].to_bytes()).to_bytes() == bob2.sessions["alice"].to_bytes()


def test_failed_decrypt_never_mutates_the_input_record() -> None:
    alice, bob = pair()
    kind, body = alice.send("bob", b"one")
    bob.receive("alice", kind, body)
    kind, reply = bob.send("alice", b"r")
    # A random ratchet key forces a (speculative) DH step on every state: all on copies.
    forged = signal_pb2.WhisperMessage(
        ephemeralKey=prefixed(KeyPair.generate().public), counter=0, previousCounter=0, ciphertext=bytes(16)
    ).SerializeToString()
    record = alice.sessions["bob"]
    before = record.to_bytes()
    with pytest.raises(BadMacError):
        decrypt_message(record, alice.me, b"\x33" + forged + bytes(8))
    assert record.to_bytes() == before
    assert alice.receive("bob", kind, reply) == b"r"


async def test_decrypt_then_persist_in_one_auth_state_transaction() -> None:
    """The documented client pattern: a failed decrypt commits nothing; a good one commits session + identity."""
    from whatsapp.auth import KeyType, MemoryAuthState
    from whatsapp.creds import Credentials

    state = MemoryAuthState(Credentials.generate())
    me = LocalIdentity.from_creds(state.creds)
    spk = state.creds.signed_prekey
    async with state.transaction() as tx:
        tx.set(KeyType.PRE_KEY, "1", KeyPair.generate().to_bytes())
    pre_key = KeyPair.from_bytes((await state.get(KeyType.PRE_KEY, ["1"]))["1"])
    alice = Device()
    alice.start(
        "bob",
        PreKeyBundle(
            me.registration_id,
            0,
            me.identity_key.public,
            spk.key_id,
            spk.key_pair.public,
            spk.signature,
            1,
            pre_key.public,
        ),
    )
    _, body = alice.send("bob", b"hi")

    async def receive(data: bytes) -> bytes:
        async with state.transaction() as tx:
            address = "15550001111.0"
            found = await tx.get(KeyType.SESSION, [address])
            record = SessionRecord.from_bytes(found[address]) if address in found else None
            msg = PreKeyMessage.parse(data)
            pre = await tx.get(KeyType.PRE_KEY, [str(msg.pre_key_id)])
            result = decrypt_prekey_message(
                record,
                me,
                msg,
                signed_pre_key=spk.key_pair if spk.key_id == msg.signed_pre_key_id else None,
                pre_key=KeyPair.from_bytes(pre[str(msg.pre_key_id)]) if pre else None,
            )
            tx.set(KeyType.SESSION, address, result.record.to_bytes())
            tx.set(KeyType.IDENTITY, address, result.remote_identity)
            return result.plaintext

    envelope = signal_pb2.PreKeyWhisperMessage.FromString(body[1:])
    envelope.message = envelope.message[:-1] + bytes([envelope.message[-1] ^ 1])  # the inner MAC
    forged = body[:1] + envelope.SerializeToString()
    with pytest.raises(BadMacError):
        await receive(forged)
    assert await state.get(KeyType.SESSION, ["15550001111.0"]) == {}
    assert await receive(body) == b"hi"
    assert (await state.get(KeyType.IDENTITY, ["15550001111.0"]))["15550001111.0"] == alice.me.public_key
    with pytest.raises(DuplicateMessageError):
        await receive(body)


def test_bundle_identity_change_policy() -> None:
    alice, _ = pair()
    bob2 = Device()  # bob reinstalled: another identity behind the same address
    with pytest.raises(UntrustedIdentityError):
        build_session_from_bundle(
            alice.sessions["bob"],
            alice.me,
            bob2.bundle(),
            known_identity=alice.identities["bob"],
            trust_identity_change=False,
        )
    result = build_session_from_bundle(
        alice.sessions["bob"], alice.me, bob2.bundle(), known_identity=alice.identities["bob"]
    )
    assert result.identity_changed and result.remote_identity == bob2.me.public_key
    assert result.record.archived == []  # the old identity's session is dropped, not archived
    same = build_session_from_bundle(result.record, alice.me, bob2.bundle(2), known_identity=result.remote_identity)
    assert not same.identity_changed and len(same.record.archived) == 1
