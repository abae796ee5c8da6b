"""whatsapp.signal against the real libsignal-node (libsignal@6.0.0) and Baileys' sender-key classes.

One long-running Node peer (tests/node/signal_peer.mjs) per test holds the other side of the conversation.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from whatsapp import xeddsa
from whatsapp.errors import (
    BadMacError,
    DuplicateMessageError,
    InvalidPreKeyError,
    InvalidSignatureError,
    NoSessionError,
    UntrustedIdentityError,
)
from whatsapp.keys import KeyPair, prefixed
from whatsapp.proto import signal_pb2
from whatsapp.signal import (
    LocalIdentity,
    PreKeyBundle,
    PreKeyMessage,
    SenderKeyRecord,
    SessionRecord,
    build_session_from_bundle,
    create_sender_key,
    decrypt_message,
    decrypt_prekey_message,
    distribution_message,
    encrypt_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from whatsapp.testing.harness.nodejs import NODE_DIR

pytestmark = pytest.mark.node

PY_ADDRESS = "15550001111.0"  # how Node addresses the Python peer
NODE_ADDRESS = "15550002222.0"
GROUP = "120363000000000001@g.us"


class NodePeer:
    def __init__(self) -> None:
        node = shutil.which("node")
        assert node, "node is not installed"
        self.proc = subprocess.Popen(
            [node, str(NODE_DIR / "signal_peer.mjs")],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the Node peer exited"
        return json.loads(line)

    def ok(self, op: str, **fields: Any) -> dict[str, Any]:
        answer = self.call(op, **fields)
        assert "error" not in answer, f"node {op}: {answer['error']}"
        return answer

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        r = self.ok("encrypt", address=PY_ADDRESS, plaintext=plaintext.hex())
        return r["type"], bytes.fromhex(r["body"])

    def decrypt(self, kind: str, body: bytes) -> bytes:
        return bytes.fromhex(self.ok("decrypt", address=PY_ADDRESS, type=kind, body=body.hex())["plaintext"])

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def node() -> Iterator[NodePeer]:
    peer = NodePeer()
    yield peer
    peer.close()


class PyPeer:
    """The Python side: identity, prekeys and one session record, as a client would keep them in its auth state."""

    def __init__(self) -> None:
        self.me = LocalIdentity(KeyPair.generate(), 4321)
        self.signed_pre_key = KeyPair.generate()
        self.pre_keys = {i: KeyPair.generate() for i in (31, 32, 33)}
        self.consumed: set[int] = set()
        self.record: SessionRecord | None = None
        self.identity: bytes | None = None

    def bundle_json(self, pre_key_id: int | None = 31) -> dict[str, Any]:
        spk = prefixed(self.signed_pre_key.public)
        return {
            "registrationId": self.me.registration_id,
            "identityKey": self.me.public_key.hex(),
            "signedPreKey": {
                "keyId": 2,
                "publicKey": spk.hex(),
                "signature": xeddsa.sign(self.me.identity_key.private, spk).hex(),
            },
            "preKey": {"keyId": pre_key_id, "publicKey": prefixed(self.pre_keys[pre_key_id].public).hex()}
            if pre_key_id
            else None,
        }

    def start(self, bundle: dict[str, Any]) -> None:
        pre = bundle["preKey"]
        result = build_session_from_bundle(
            self.record,
            self.me,
            PreKeyBundle(
                registration_id=bundle["registrationId"],
                device_id=0,
                identity_key=bytes.fromhex(bundle["identityKey"]),
                signed_pre_key_id=bundle["signedPreKey"]["keyId"],
                signed_pre_key_public=bytes.fromhex(bundle["signedPreKey"]["publicKey"]),
                signed_pre_key_signature=bytes.fromhex(bundle["signedPreKey"]["signature"]),
                pre_key_id=pre["keyId"] if pre else None,
                pre_key_public=bytes.fromhex(pre["publicKey"]) if pre else None,
            ),
            known_identity=self.identity,
        )
        self.record, self.identity = result.record, result.remote_identity

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        self.record, message = encrypt_message(self.record, self.me, plaintext)
        return message.type, message.body

    def decrypt(self, kind: str, body: bytes) -> bytes:
        if kind == "pkmsg":
            msg = PreKeyMessage.parse(body)
            result = decrypt_prekey_message(
                self.record,
                self.me,
                msg,
                signed_pre_key=self.signed_pre_key if msg.signed_pre_key_id == 2 else None,
                pre_key=self.pre_keys.get(msg.pre_key_id) if msg.pre_key_id is not None else None,
                known_identity=self.identity,
            )
            if result.used_pre_key_id is not None:
                self.consumed.add(result.used_pre_key_id)  # marked, not deleted (grace policy)
        else:
            result = decrypt_message(self.record, self.me, body, known_identity=self.identity)
        self.record, self.identity = result.record, result.remote_identity
        return result.plaintext


def test_node_initiates_python_decrypts(node: NodePeer) -> None:
    py = PyPeer()
    node.ok("identity")
    node.ok("build", address=PY_ADDRESS, bundle=py.bundle_json())
    # Two pkmsgs before any reply, delivered in reverse order.
    first, second = node.encrypt(b"hello 1"), node.encrypt(b"hello 2")
    assert first[0] == second[0] == "pkmsg"
    assert py.decrypt(*second) == b"hello 2"
    assert py.decrypt(*first) == b"hello 1"
    assert py.consumed == {31}
    with pytest.raises(DuplicateMessageError):  # the redelivered pkmsg
        py.decrypt(*first)
    kind, reply = py.encrypt(b"reply")
    assert kind == "msg" and node.decrypt(kind, reply) == b"reply"
    # Several DH ratchet turns, with out-of-order and skipped messages on each.
    rng = random.Random(3)
    for turn in range(5):
        batch = [(i, *node.encrypt(b"n%d-%d" % (turn, i))) for i in range(5)]
        assert all(kind == "msg" for _, kind, _ in batch)
        rng.shuffle(batch)
        for i, kind, body in batch[:-1]:  # the last one is never delivered
            assert py.decrypt(kind, body) == b"n%d-%d" % (turn, i)
        kind, body = py.encrypt(b"p%d" % turn)
        assert node.decrypt(kind, body) == b"p%d" % turn


def test_python_initiates_node_decrypts(node: NodePeer) -> None:
    py = PyPeer()
    bundle = node.ok("identity", prekeys=3)["bundle"]
    py.start(bundle)
    kinds = []
    for i in range(3):
        kind, body = py.encrypt(b"py %d" % i)
        kinds.append(kind)
        assert node.decrypt(kind, body) == b"py %d" % i
    assert kinds == ["pkmsg"] * 3
    assert node.ok("prekeys")["ids"] == [2, 3]  # Node consumed the prekey our bundle named
    kind, body = node.encrypt(b"node reply")
    assert kind == "msg" and py.decrypt(kind, body) == b"node reply"
    # Python sends several, Node receives them out of order, across turns.
    for turn in range(4):
        batch = [(i, *py.encrypt(b"t%d-%d" % (turn, i))) for i in range(4)]
        assert all(kind == "msg" for _, kind, _ in batch)
        for i, kind, body in reversed(batch):
            assert node.decrypt(kind, body) == b"t%d-%d" % (turn, i)
        kind, body = node.encrypt(b"ack %d" % turn)
        assert py.decrypt(kind, body) == b"ack %d" % turn


def test_conversation_alternating_sides_random_order(node: NodePeer) -> None:
    rng = random.Random(20261124)
    py = PyPeer()
    node.ok("identity")
    node.ok("build", address=PY_ADDRESS, bundle=py.bundle_json())
    held: list[tuple[str, str, bytes, bytes]] = []  # delayed deliveries: (to, kind, body, expected)
    delivered = late_deliveries = 0
    kind, body = node.encrypt(b"start")
    assert py.decrypt(kind, body) == b"start"
    for turn in range(14):
        py_sends = turn % 2 == 0
        batch = []
        for i in range(rng.randint(1, 4)):
            text = b"%s turn %d msg %d" % (b"py" if py_sends else b"node", turn, i)
            kind, body = py.encrypt(text) if py_sends else node.encrypt(text)
            batch.append(("node" if py_sends else "py", kind, body, text))
        rng.shuffle(batch)
        if len(batch) > 1 and rng.random() < 0.5:
            held.append(batch.pop())  # delivered a few turns later, after ratchet steps
        if held and rng.random() < 0.4:
            batch.append(held.pop(0))
            late_deliveries += 1
        for to, kind, body, text in batch:
            got = node.decrypt(kind, body) if to == "node" else py.decrypt(kind, body)
            assert got == text
            delivered += 1
    late_deliveries += len(held)
    for to, kind, body, text in held:
        assert (node.decrypt(kind, body) if to == "node" else py.decrypt(kind, body)) == text
        delivered += 1
    assert delivered >= 20 and late_deliveries >= 2
    # The stored record survives a round trip mid-conversation and keeps working.
    py.record = SessionRecord.from_bytes(py.record.to_bytes())
    kind, body = py.encrypt(b"still fine")
    assert node.decrypt(kind, body) == b"still fine"
    kind, body = node.encrypt(b"and back")
    assert py.decrypt(kind, body) == b"and back"


def test_tampered_node_messages_fail_cleanly(node: NodePeer) -> None:
    py = PyPeer()
    node.ok("identity")
    node.ok("build", address=PY_ADDRESS, bundle=py.bundle_json())
    py.decrypt(*node.encrypt(b"hi"))
    node.decrypt(*py.encrypt(b"hi back"))
    kind, body = node.encrypt(b"secret")
    stored = py.record.to_bytes()
    proto = signal_pb2.WhisperMessage.FromString(body[1:-8])
    proto.ciphertext = bytes([proto.ciphertext[0] ^ 0x80]) + proto.ciphertext[1:]
    for forged in (body[:-8] + bytes(8), body[:1] + proto.SerializeToString() + body[-8:]):
        with pytest.raises(BadMacError):
            py.decrypt(kind, forged)
        assert py.record.to_bytes() == stored
    # Identity check: a stored identity that differs, with the change refused.
    with pytest.raises(UntrustedIdentityError):
        decrypt_message(py.record, py.me, body, known_identity=KeyPair.generate().public, trust_identity_change=False)
    assert py.record.to_bytes() == stored
    assert py.decrypt(kind, body) == b"secret"
    with pytest.raises(DuplicateMessageError):
        py.decrypt(kind, body)


def test_node_pkmsg_naming_an_unknown_prekey(node: NodePeer) -> None:
    py = PyPeer()
    node.ok("identity")
    bundle = py.bundle_json(pre_key_id=33)
    del py.pre_keys[33]  # e.g. already deleted after use
    node.ok("build", address=PY_ADDRESS, bundle=bundle)
    kind, body = node.encrypt(b"x")
    with pytest.raises(InvalidPreKeyError) as err:
        py.decrypt(kind, body)
    assert err.value.pre_key_id == 33 and py.record is None


def test_python_refuses_a_forged_node_bundle(node: NodePeer) -> None:
    bundle = node.ok("identity")["bundle"]
    bundle["signedPreKey"]["signature"] = bytes(64).hex()
    with pytest.raises(InvalidSignatureError):
        PyPeer().start(bundle)


def test_baileys_sender_key_to_python(node: NodePeer) -> None:
    skdm = bytes.fromhex(node.ok("g_create", group=GROUP, sender=NODE_ADDRESS)["skdm"])
    record = process_distribution_message(None, skdm)
    # Re-processing the same SKDM keeps the state (no reset of cached keys).
    assert process_distribution_message(record, skdm) == record
    messages = [
        (
            i,
            bytes.fromhex(
                node.ok("g_encrypt", group=GROUP, sender=NODE_ADDRESS, plaintext=(b"group %d" % i).hex())["body"]
            ),
        )
        for i in range(12)
    ]
    iterations = [signal_pb2.SenderKeyMessage.FromString(m[1:-64]).iteration for _, m in messages]
    assert iterations[:4] == [0, 2, 4, 6]  # Baileys skips a key per message (docs/protocol.md §Client quirks)
    rng = random.Random(5)
    rng.shuffle(messages)
    for i, body in messages:
        record, plaintext = group_decrypt(record, body)
        assert plaintext == b"group %d" % i
    with pytest.raises(DuplicateMessageError):
        group_decrypt(record, messages[0][1])
    # A bad signature fails and changes nothing.
    _, body = messages[0]
    fresh = bytes.fromhex(node.ok("g_encrypt", group=GROUP, sender=NODE_ADDRESS, plaintext=b"z".hex())["body"])
    stored = record.to_bytes()
    with pytest.raises(InvalidSignatureError):
        group_decrypt(record, fresh[:-1] + bytes([fresh[-1] ^ 1]))
    assert record.to_bytes() == stored
    assert group_decrypt(record, fresh)[1] == b"z"
    with pytest.raises(NoSessionError):
        group_decrypt(SenderKeyRecord(), fresh)
    assert SenderKeyRecord.from_bytes(record.to_bytes()) == record


def test_python_sender_key_to_baileys(node: NodePeer) -> None:
    own = create_sender_key()
    assert create_sender_key(own) == own  # reused, not replaced
    node.ok("g_process", group=GROUP, sender=PY_ADDRESS, skdm=distribution_message(own).hex())
    bodies = []
    for i in range(6):
        own, body = group_encrypt(own, b"from python %d" % i)
        bodies.append((i, body))
    for i, body in [bodies[0], bodies[3], bodies[1], bodies[2], bodies[5], bodies[4]]:
        got = node.ok("g_decrypt", group=GROUP, sender=PY_ADDRESS, body=body.hex())["plaintext"]
        assert bytes.fromhex(got) == b"from python %d" % i
    # A late joiner gets the SKDM at the current iteration and reads from there.
    late = NodePeer()
    try:
        late.ok("g_process", group=GROUP, sender=PY_ADDRESS, skdm=distribution_message(own).hex())
        own, body = group_encrypt(own, b"after join")
        assert (
            bytes.fromhex(late.ok("g_decrypt", group=GROUP, sender=PY_ADDRESS, body=body.hex())["plaintext"])
            == b"after join"
        )
    finally:
        late.close()
    # Signed by another key: Baileys rejects it.
    impostor = create_sender_key()
    impostor.states[0].key_id = own.states[0].key_id
    impostor.states[0].iteration = own.states[0].iteration
    impostor.states[0].chain_key = own.states[0].chain_key
    _, forged = group_encrypt(impostor, b"forged")
    answer = node.call("g_decrypt", group=GROUP, sender=PY_ADDRESS, body=forged.hex())
    assert "signature" in answer.get("error", "").lower()
