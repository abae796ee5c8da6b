"""Signal state migrated from Baileys: libsignal-node sessions and Baileys sender keys, converted at import.

The Node side (tests/node/signal_libsignal_export.mjs) holds a real conversation between a Baileys "bot"
and a contact, then writes the bot's records into a Baileys useMultiFileAuthState folder. Python imports
that folder and must carry on the conversation with the converted records, both ways.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.baileys import BAILEYS_JSON_PREFIX, read_baileys_folder
from whatsapp.auth import KeyType
from whatsapp.errors import DecodeError
from whatsapp.keys import KeyPair
from whatsapp.signal import (
    LocalIdentity,
    SenderKeyRecord,
    SessionRecord,
    decrypt_message,
    decrypt_prekey_message,
    encrypt_message,
    group_decrypt,
    group_encrypt,
)
from whatsapp.signal.libsignal_import import sender_key_from_baileys_json, session_from_libsignal_json
from whatsapp.testing.harness.nodejs import NODE_DIR

BOT_ADDRESS = "15550001111.0"  # the migrated Baileys bot, as its contact addresses it
PEER_ADDRESS = "15550002222.0"
GROUP = "120363000000000001@g.us"


class NodeParties:
    def __init__(self) -> None:
        node = shutil.which("node")
        assert node, "node is not installed"
        self.proc = subprocess.Popen(
            [node, str(NODE_DIR / "signal_libsignal_export.mjs")],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def ok(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the Node process exited"
        answer = json.loads(line)
        assert "error" not in answer, f"node {op}: {answer['error']}"
        return answer

    def encrypt(self, who: str, to: str, plaintext: bytes) -> tuple[str, bytes]:
        r = self.ok("encrypt", who=who, address=to, plaintext=plaintext.hex())
        return r["type"], bytes.fromhex(r["body"])

    def decrypt(self, who: str, sender: str, kind: str, body: bytes) -> bytes:
        r = self.ok("decrypt", who=who, address=sender, type=kind, body=body.hex())
        return bytes.fromhex(r["plaintext"])

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def node() -> Iterator[NodeParties]:
    parties = NodeParties()
    yield parties
    parties.close()


def _bot_identity(identity: dict[str, Any], registration_id: int) -> LocalIdentity:
    pair = KeyPair.from_private(bytes.fromhex(identity["identityPriv"]))
    assert pair.public == bytes.fromhex(identity["identityPub"])[1:]
    return LocalIdentity(pair, registration_id)


def _import(node: NodeParties, folder: Path, **what: Any) -> dict[tuple[str, str], bytes]:
    node.ok("export", who="bot", dir=str(folder), **what)
    _, keys = read_baileys_folder(folder)
    return keys


@pytest.mark.node
def test_migrated_session_keeps_decrypting_and_encrypting(node: NodeParties, tmp_path: Path) -> None:
    bot = node.ok("identity", who="bot", seed="bot")
    node.ok("identity", who="peer", seed="peer")
    node.ok("build", who="peer", address=BOT_ADDRESS, bundle=bot["bundle"])
    for text in (b"hello bot", b"are you there"):
        kind, body = node.encrypt("peer", BOT_ADDRESS, text)
        assert kind == "pkmsg"
        assert node.decrypt("bot", PEER_ADDRESS, kind, body) == text
    for text in (b"yes, hi", b"what's up"):
        kind, body = node.encrypt("bot", PEER_ADDRESS, text)
        assert node.decrypt("peer", BOT_ADDRESS, kind, body) == text
    # After the ratchet turned: the bot reads only the second of two, so a skipped key must migrate too.
    late_kind, late_body = node.encrypt("peer", BOT_ADDRESS, b"sent before the move, read after")
    kind, body = node.encrypt("peer", BOT_ADDRESS, b"read before the move")
    assert kind == "msg" and late_kind == "msg"
    assert node.decrypt("bot", PEER_ADDRESS, kind, body) == b"read before the move"

    keys = _import(node, tmp_path / "baileys_auth", sessions=[PEER_ADDRESS])
    stored = keys[(KeyType.SESSION, PEER_ADDRESS)]
    assert not stored.startswith(BAILEYS_JSON_PREFIX)
    record = SessionRecord.from_bytes(stored)  # our format, round-trips
    assert record.to_bytes() == stored
    me = _bot_identity(bot, bot["bundle"]["registrationId"])
    peer_identity = bytes.fromhex(node.ok("identity", who="peer-check", seed="peer")["identityPub"])
    assert record.current is not None and record.current.remote_identity == peer_identity
    assert not record.current.base_key_is_ours  # the peer started the session

    result = decrypt_message(record, me, late_body)
    assert result.plaintext == b"sent before the move, read after"
    record = result.record
    for text in (b"after the move 1", b"after the move 2"):
        kind, body = node.encrypt("peer", BOT_ADDRESS, text)
        result = decrypt_message(record, me, body)
        assert result.plaintext == text
        record = result.record
    for round_ in range(2):  # both directions, turning the ratchet each time
        record, reply = encrypt_message(record, me, f"python reply {round_}".encode())
        assert reply.type == "msg"
        assert node.decrypt("peer", BOT_ADDRESS, reply.type, reply.body) == f"python reply {round_}".encode()
        kind, body = node.encrypt("peer", BOT_ADDRESS, f"peer answer {round_}".encode())
        result = decrypt_message(record, me, body)
        assert result.plaintext == f"peer answer {round_}".encode()
        record = result.record


@pytest.mark.node
def test_migrated_unanswered_outgoing_session_still_sends_prekey_messages(node: NodeParties, tmp_path: Path) -> None:
    bot = node.ok("identity", who="bot", seed="bot2")
    peer = node.ok("identity", who="peer", seed="peer2")
    node.ok("build", who="bot", address=PEER_ADDRESS, bundle=peer["bundle"])
    kind, body = node.encrypt("bot", PEER_ADDRESS, b"first, from Baileys")
    assert kind == "pkmsg"

    keys = _import(node, tmp_path / "baileys_auth", sessions=[PEER_ADDRESS])
    record = SessionRecord.from_bytes(keys[(KeyType.SESSION, PEER_ADDRESS)])
    state = record.current
    assert state is not None and state.base_key_is_ours and state.pending_pre_key is not None
    assert state.pending_pre_key.pre_key_id == 1 and state.pending_pre_key.signed_pre_key_id == 1
    me = _bot_identity(bot, bot["bundle"]["registrationId"])

    record, second = encrypt_message(record, me, b"second, from Python")
    assert second.type == "pkmsg"
    # The contact reads them out of order: the Python one first, then Baileys' one.
    assert node.decrypt("peer", BOT_ADDRESS, second.type, second.body) == b"second, from Python"
    assert node.decrypt("peer", BOT_ADDRESS, kind, body) == b"first, from Baileys"
    kind, body = node.encrypt("peer", BOT_ADDRESS, b"got both")
    result = decrypt_message(record, me, body)
    assert result.plaintext == b"got both"
    record, third = encrypt_message(result.record, me, b"now plain messages")
    assert third.type == "msg"
    assert node.decrypt("peer", BOT_ADDRESS, third.type, third.body) == b"now plain messages"


@pytest.mark.node
def test_migrated_closed_session_still_decrypts_late_messages(node: NodeParties, tmp_path: Path) -> None:
    bot = node.ok("identity", who="bot", seed="bot4")
    node.ok("identity", who="peer", seed="peer4")
    node.ok("build", who="peer", address=BOT_ADDRESS, bundle=bot["bundle"])
    kind, body = node.encrypt("peer", BOT_ADDRESS, b"old session 1")
    assert node.decrypt("bot", PEER_ADDRESS, kind, body) == b"old session 1"
    late_kind, late_body = node.encrypt("peer", BOT_ADDRESS, b"old session, delivered late")
    # The contact reinstalls: a new session (new base key) makes libsignal-node close the old one.
    node.ok("build", who="peer", address=BOT_ADDRESS, bundle={**bot["bundle"], "preKey": None})
    kind, body = node.encrypt("peer", BOT_ADDRESS, b"new session")
    assert node.decrypt("bot", PEER_ADDRESS, kind, body) == b"new session"

    keys = _import(node, tmp_path / "baileys_auth", sessions=[PEER_ADDRESS])
    record = SessionRecord.from_bytes(keys[(KeyType.SESSION, PEER_ADDRESS)])
    assert record.current is not None and len(record.archived) == 1
    me = _bot_identity(bot, bot["bundle"]["registrationId"])
    # A pkmsg of the old session: found by its base key among the archived states, no prekey needed.
    assert late_kind == "pkmsg"
    result = decrypt_prekey_message(record, me, late_body, signed_pre_key=None, pre_key=None)
    assert result.plaintext == b"old session, delivered late"
    assert result.record.archived and result.record.current is not None


@pytest.mark.node
def test_migrated_sender_keys_own_and_received(node: NodeParties, tmp_path: Path) -> None:
    node.ok("identity", who="bot", seed="bot3")
    node.ok("identity", who="peer", seed="peer3")
    # The bot's own sender key, already distributed and used under Baileys.
    skdm = node.ok("g_create", who="bot", group=GROUP, sender=BOT_ADDRESS)["skdm"]
    node.ok("g_process", who="peer", group=GROUP, sender=BOT_ADDRESS, skdm=skdm)
    for text in (b"group hello", b"group again"):
        body = node.ok("g_encrypt", who="bot", group=GROUP, sender=BOT_ADDRESS, plaintext=text.hex())["body"]
        assert node.ok("g_decrypt", who="peer", group=GROUP, sender=BOT_ADDRESS, body=body)["plaintext"] == text.hex()
    # The peer's sender key as the bot received it; the bot read messages 1 and 3 but not 2.
    skdm = node.ok("g_create", who="peer", group=GROUP, sender=PEER_ADDRESS)["skdm"]
    node.ok("g_process", who="bot", group=GROUP, sender=PEER_ADDRESS, skdm=skdm)
    bodies = [
        node.ok("g_encrypt", who="peer", group=GROUP, sender=PEER_ADDRESS, plaintext=f"peer {i}".encode().hex())["body"]
        for i in range(3)
    ]
    for i in (0, 2):
        node.ok("g_decrypt", who="bot", group=GROUP, sender=PEER_ADDRESS, body=bodies[i])

    keys = _import(node, tmp_path / "baileys_auth", senderKeys=[[GROUP, BOT_ADDRESS], [GROUP, PEER_ADDRESS]])
    own_stored = keys[(KeyType.SENDER_KEY, f"{GROUP}::15550001111::0")]
    received_stored = keys[(KeyType.SENDER_KEY, f"{GROUP}::15550002222::0")]
    own = SenderKeyRecord.from_bytes(own_stored)
    received = SenderKeyRecord.from_bytes(received_stored)
    assert own.states[-1].signing_private is not None and received.states[-1].signing_private is None

    for i in range(2):
        own, skmsg = group_encrypt(own, f"python to group {i}".encode())
        plaintext = node.ok("g_decrypt", who="peer", group=GROUP, sender=BOT_ADDRESS, body=skmsg.hex())["plaintext"]
        assert bytes.fromhex(plaintext) == f"python to group {i}".encode()
    received, plaintext = group_decrypt(received, bytes.fromhex(bodies[1]))  # the skipped one
    assert plaintext == b"peer 1"
    body = node.ok("g_encrypt", who="peer", group=GROUP, sender=PEER_ADDRESS, plaintext=b"peer 3".hex())["body"]
    received, plaintext = group_decrypt(received, bytes.fromhex(body))
    assert plaintext == b"peer 3"


# -- malformed input -------------------------------------------------------------------------------------

_IDENTITY = b"\x05" + bytes(range(32))


def _session_json() -> dict[str, Any]:
    """A syntactically complete libsignal-node record (keys need not be a real conversation to convert)."""
    import base64

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    pair = KeyPair.generate()
    pub = b"\x05" + pair.public
    remote = b"\x05" + KeyPair.generate().public
    return {
        "version": "v1",
        "_sessions": {
            b64(pub): {
                "registrationId": 77,
                "currentRatchet": {
                    "ephemeralKeyPair": {"pubKey": b64(pub), "privKey": b64(pair.private)},
                    "lastRemoteEphemeralKey": b64(remote),
                    "previousCounter": -1,
                    "rootKey": b64(bytes(32)),
                },
                "indexInfo": {
                    "baseKey": b64(pub),
                    "baseKeyType": 1,
                    "closed": -1,
                    "used": 1,
                    "created": 1,
                    "remoteIdentityKey": b64(remote),
                },
                "_chains": {
                    b64(pub): {"chainKey": {"counter": -1, "key": b64(bytes(32))}, "chainType": 1, "messageKeys": {}},
                    b64(remote): {
                        "chainKey": {"counter": 3, "key": b64(bytes(32))},
                        "chainType": 2,
                        "messageKeys": {"1": b64(bytes(32))},
                    },
                },
            }
        },
    }


def test_synthetic_session_converts_with_libsignal_counters() -> None:
    data = _session_json()
    record = session_from_libsignal_json(json.dumps(data).encode(), local_identity=_IDENTITY)
    state = record.current
    assert state is not None and state.sending_chain is not None
    assert state.sending_chain.index == 0 and state.previous_counter == 0
    (receiving,) = state.receiving_chains
    assert receiving.chain.index == 4 and list(receiving.chain.skipped) == [1]
    # JSON text inside JSON (a store that serialized twice) reads the same.
    assert session_from_libsignal_json(json.dumps(json.dumps(data)), local_identity=_IDENTITY) == record


def _break(path: list[str], value: Any) -> dict[str, Any]:
    data = _session_json()
    entry = next(iter(data["_sessions"].values()))
    target = entry
    for name in path[:-1]:
        target = target[name] if name != "*chain" else next(iter(target.values()))
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (["currentRatchet", "rootKey"], "not base64!", "rootKey"),
        (["currentRatchet", "rootKey"], "AAAA", "rootKey"),
        (["currentRatchet", "ephemeralKeyPair", "privKey"], "AAAA", "ephemeralKeyPair"),
        (["currentRatchet"], ..., "currentRatchet"),
        (["indexInfo", "baseKeyType"], 7, "baseKeyType"),
        (["indexInfo", "closed"], "yesterday", "closed"),
        (["registrationId"], None, "registrationId"),
        (["_chains", "*chain", "chainType"], 9, "chainType"),
        (["_chains", "*chain", "chainKey", "counter"], -5, "counter"),
        (["pendingPreKey"], {"baseKey": "AAAA"}, "pendingPreKey"),
    ],
)
def test_malformed_session_raises_decode_error_naming_the_field(path: list[str], value: Any, named: str) -> None:
    with pytest.raises(DecodeError, match=named):
        session_from_libsignal_json(_break(path, value), local_identity=_IDENTITY)


@pytest.mark.parametrize("data", [b"{not json", b"[]", b'{"version": "v1"}', b'"\\"x\\""'])
def test_session_that_is_not_a_record_raises_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError, match="session"):
        session_from_libsignal_json(data, local_identity=_IDENTITY)


def _sender_key_json() -> list[dict[str, Any]]:
    return [
        {
            "senderKeyId": 5,
            "senderChainKey": {"iteration": 2, "seed": {"type": "Buffer", "data": list(range(32))}},
            "senderSigningKey": {"public": {"type": "Buffer", "data": list(range(32))}},
            "senderMessageKeys": [{"iteration": 1, "seed": {"type": "Buffer", "data": [1] * 32}}],
        }
    ]


def test_synthetic_sender_key_converts() -> None:
    record = sender_key_from_baileys_json(json.dumps(_sender_key_json()))
    (state,) = record.states
    assert (state.key_id, state.iteration, state.signing_private) == (5, 2, None)
    assert state.signing_public == b"\x05" + bytes(range(32)) and dict(state.message_keys) == {1: bytes([1] * 32)}


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda s: s.pop("senderKeyId"), "senderKeyId"),
        (lambda s: s["senderChainKey"].update(seed={"type": "Buffer", "data": [1, 2]}), "seed"),
        (lambda s: s["senderChainKey"].update(iteration=-1), "iteration"),
        (lambda s: s["senderSigningKey"].update(public="nope"), "public"),
        (lambda s: s["senderSigningKey"].update(private={"type": "Buffer", "data": [1] * 5}), "private"),
        (lambda s: s.update(senderMessageKeys={}), "senderMessageKeys"),
    ],
)
def test_malformed_sender_key_raises_decode_error_naming_the_field(mutate: Any, named: str) -> None:
    data = _sender_key_json()
    mutate(data[0])
    with pytest.raises(DecodeError, match=named):
        sender_key_from_baileys_json(data)


@pytest.mark.parametrize("data", [b"\xff\xfe", b"{}", b"[]", b"42"])
def test_sender_key_that_is_not_a_record_raises_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError, match="sender key"):
        sender_key_from_baileys_json(data)


def test_import_keeps_an_unconvertible_record_verbatim(tmp_path: Path) -> None:
    from storage.baileys import convert_key

    raw = json.dumps({"_sessions": {"x": {"registrationId": "bad"}}}).encode()
    stored = convert_key(KeyType.SESSION, raw, "session-1.0.json", _IDENTITY)
    assert stored == BAILEYS_JSON_PREFIX + raw
    good = json.dumps(_session_json()).encode()
    converted = convert_key(KeyType.SESSION, good, "session-2.0.json", _IDENTITY)
    assert SessionRecord.from_bytes(converted).current is not None
