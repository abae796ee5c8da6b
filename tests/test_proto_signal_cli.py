"""The Node libsignal peer (tests/node/signal_cli.mjs): a session between two Node identities, messages both ways,
and the wire bytes it produces parsed with the project's signal.proto. Later work uses the same CLI to put one
side of the session in Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whatsapp import xeddsa
from whatsapp.proto import signal_pb2
from whatsapp.testing.harness.nodejs import run_node

pytestmark = pytest.mark.node

ALICE_ADDR = "15550001111.0"
BOB_ADDR = "15550002222.0"
VERSION_BYTE = 0x33


def cli(*args: str) -> dict:
    return json.loads(run_node("signal_cli.mjs", *args).strip().splitlines()[-1])


def cli_fails(*args: str) -> str:
    with pytest.raises(AssertionError) as info:
        run_node("signal_cli.mjs", *args)
    return str(info.value)


@pytest.fixture
def peers(tmp_path: Path) -> tuple[str, str]:
    alice, bob = str(tmp_path / "alice.json"), str(tmp_path / "bob.json")
    cli("bundle", alice, "alice-seed")
    return alice, bob


def test_bundle_is_deterministic_per_seed_and_well_formed(tmp_path: Path) -> None:
    first = cli("bundle", str(tmp_path / "a.json"), "same-seed")
    second = cli("bundle", str(tmp_path / "b.json"), "same-seed")
    other = cli("bundle", str(tmp_path / "c.json"), "other-seed", "2")
    assert first == second and first["identityKey"] != other["identityKey"]
    assert len(bytes.fromhex(first["identityKey"])) == 33 and first["identityKey"].startswith("05")
    assert len(bytes.fromhex(first["signedPreKey"]["signature"])) == 64
    assert first["preKey"]["keyId"] == 1 and 1 <= first["registrationId"] <= 0x3FFF
    # The signed prekey signature is a real XEdDSA signature by the identity key over the 33-byte key.
    assert xeddsa.verify(
        bytes.fromhex(first["identityKey"]),
        bytes.fromhex(first["signedPreKey"]["publicKey"]),
        bytes.fromhex(first["signedPreKey"]["signature"]),
    )
    keys = cli("keys", str(tmp_path / "a.json"))
    assert keys["identityPub"] == first["identityKey"] and len(keys["preKeys"]) == 5


def test_session_both_ways_pkmsg_then_msg(peers: tuple[str, str]) -> None:
    alice, bob = peers
    bob_bundle = cli("bundle", bob, "bob-seed")
    alice_keys = cli("keys", alice)
    assert cli("init", alice, BOB_ADDR, json.dumps(bob_bundle)) == {"ok": True}
    assert cli("session", alice, BOB_ADDR) == {"open": True}
    assert cli("session", bob, ALICE_ADDR) == {"open": False}

    # Until Alice hears back, every message carries the prekey envelope.
    first = cli("encrypt", alice, BOB_ADDR, b"hello bob".hex())
    second = cli("encrypt", alice, BOB_ADDR, b"are you there".hex())
    assert first["type"] == second["type"] == "pkmsg"

    body = bytes.fromhex(first["body"])
    assert body[0] == VERSION_BYTE
    envelope = signal_pb2.PreKeyWhisperMessage.FromString(body[1:])
    assert envelope.registrationId == alice_keys["registrationId"]
    assert envelope.identityKey.hex() == alice_keys["identityPub"]
    assert envelope.preKeyId == bob_bundle["preKey"]["keyId"]
    assert envelope.signedPreKeyId == bob_bundle["signedPreKey"]["keyId"]
    assert len(envelope.baseKey) == 33
    inner = envelope.message
    assert inner[0] == VERSION_BYTE
    whisper = signal_pb2.WhisperMessage.FromString(inner[1:-8])  # 8-byte MAC trails the protobuf
    assert whisper.counter == 0 and len(whisper.ephemeralKey) == 33 and len(whisper.ciphertext) == 16
    # Re-serializing with our classes gives libsignal's exact bytes (same field numbers, same order).
    assert b"\x33" + envelope.SerializeToString() == body
    assert whisper.SerializeToString() == inner[1:-8]

    assert bytes.fromhex(cli("decrypt", bob, ALICE_ADDR, "pkmsg", first["body"])["plaintext"]) == b"hello bob"
    assert bytes.fromhex(cli("decrypt", bob, ALICE_ADDR, "pkmsg", second["body"])["plaintext"]) == b"are you there"
    # The one-time prekey is consumed.
    assert cli("bundle", bob)["preKey"]["keyId"] == bob_bundle["preKey"]["keyId"] + 1

    reply = cli("encrypt", bob, ALICE_ADDR, b"hi alice".hex())
    assert reply["type"] == "msg"
    reply_body = bytes.fromhex(reply["body"])
    assert signal_pb2.WhisperMessage.FromString(reply_body[1:-8]).counter == 0
    assert bytes.fromhex(cli("decrypt", alice, BOB_ADDR, "msg", reply["body"])["plaintext"]) == b"hi alice"

    # Now Alice's messages are plain WhisperMessages, and out-of-order delivery works.
    m1 = cli("encrypt", alice, BOB_ADDR, b"one".hex())
    m2 = cli("encrypt", alice, BOB_ADDR, b"two".hex())
    assert m1["type"] == m2["type"] == "msg"
    assert bytes.fromhex(cli("decrypt", bob, ALICE_ADDR, "msg", m2["body"])["plaintext"]) == b"two"
    assert bytes.fromhex(cli("decrypt", bob, ALICE_ADDR, "msg", m1["body"])["plaintext"]) == b"one"
    # A replay is refused, and the failure is reported as JSON with a non-zero exit.
    assert "error" in cli_fails("decrypt", bob, ALICE_ADDR, "msg", m1["body"])


def test_bad_inputs_fail_cleanly(peers: tuple[str, str]) -> None:
    alice, _ = peers
    assert "bad address" in cli_fails("encrypt", alice, "no-device", "00")
    assert "unknown command" in cli_fails("frobnicate", alice)
    assert "error" in cli_fails("decrypt", alice, BOB_ADDR, "msg", "3300")
