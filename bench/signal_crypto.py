"""Signal protocol timings (whatsapp.signal, pure Python). Run: .venv/bin/python bench/signal_crypto.py

Per-message figures include what a client does per stanza: parse the stored record, encrypt or decrypt,
serialize the record again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from whatsapp import xeddsa
from whatsapp.keys import KeyPair, prefixed
from whatsapp.signal import (
    LocalIdentity,
    PreKeyBundle,
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

PLAINTEXT = b"x" * 200  # a typical padded text Message protobuf


def _time(label: str, fn: Callable[[], object], rounds: int) -> None:
    fn()
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    per = (time.perf_counter() - start) / rounds
    print(f"{label:<52} {per * 1e3:8.3f} ms  ({rounds} rounds)")


def main() -> None:
    alice = LocalIdentity(KeyPair.generate(), 1)
    bob = LocalIdentity(KeyPair.generate(), 2)
    spk, opk = KeyPair.generate(), KeyPair.generate()
    bundle = PreKeyBundle(
        2,
        0,
        bob.identity_key.public,
        1,
        spk.public,
        xeddsa.sign(bob.identity_key.private, prefixed(spk.public)),
        5,
        opk.public,
    )
    _time("session build from bundle (outgoing)", lambda: build_session_from_bundle(None, alice, bundle), 300)

    a = build_session_from_bundle(None, alice, bundle).record
    a, first = encrypt_message(a, alice, PLAINTEXT)
    _time(
        "pkmsg decrypt incl. session build (incoming)",
        lambda: decrypt_prekey_message(None, bob, first.body, signed_pre_key=spk, pre_key=opk),
        300,
    )
    b = decrypt_prekey_message(None, bob, first.body, signed_pre_key=spk, pre_key=opk).record
    b, reply = encrypt_message(b, bob, PLAINTEXT)
    a = decrypt_message(a, alice, reply.body).record

    stored = {"a": a.to_bytes(), "b": b.to_bytes()}
    messages: list[bytes] = []

    def encrypt_one() -> None:
        record, message = encrypt_message(SessionRecord.from_bytes(stored["a"]), alice, PLAINTEXT)
        stored["a"] = record.to_bytes()
        messages.append(message.body)

    _time("1:1 encrypt (msg, same chain, record load+save)", encrypt_one, 2000)
    pending = iter(messages)

    def decrypt_one() -> None:
        result = decrypt_message(SessionRecord.from_bytes(stored["b"]), bob, next(pending))
        stored["b"] = result.record.to_bytes()

    _time("1:1 decrypt (msg, same chain, record load+save)", decrypt_one, 2000)

    def ping_pong() -> None:  # every message a DH ratchet step on both sides
        ra, m = encrypt_message(SessionRecord.from_bytes(stored["a"]), alice, PLAINTEXT)
        stored["a"] = ra.to_bytes()
        stored["b"] = decrypt_message(SessionRecord.from_bytes(stored["b"]), bob, m.body).record.to_bytes()
        rb, m = encrypt_message(SessionRecord.from_bytes(stored["b"]), bob, PLAINTEXT)
        stored["b"] = rb.to_bytes()
        stored["a"] = decrypt_message(SessionRecord.from_bytes(stored["a"]), alice, m.body).record.to_bytes()

    _time("1:1 round trip w/ DH ratchet turn (2 enc + 2 dec)", ping_pong, 300)

    own = create_sender_key()
    theirs = {"r": process_distribution_message(None, distribution_message(own)).to_bytes(), "o": own.to_bytes()}
    group_messages: list[bytes] = []

    def group_encrypt_one() -> None:
        record, body = group_encrypt(SenderKeyRecord.from_bytes(theirs["o"]), PLAINTEXT)
        theirs["o"] = record.to_bytes()
        group_messages.append(body)

    _time("group encrypt (skmsg, record load+save)", group_encrypt_one, 1000)
    pending_group = iter(group_messages)

    def group_decrypt_one() -> None:
        record, _ = group_decrypt(SenderKeyRecord.from_bytes(theirs["r"]), next(pending_group))
        theirs["r"] = record.to_bytes()

    _time("group decrypt (skmsg, record load+save)", group_decrypt_one, 1000)
    print(f"{'session record size after the run':<52} {len(stored['a']):8d} bytes")


if __name__ == "__main__":
    main()
