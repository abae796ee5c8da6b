"""Signal record storage format: exact round trips, bounds, and junk that must raise only our errors."""

from __future__ import annotations

import random

import pytest

from whatsapp import xeddsa
from whatsapp.errors import DecodeError, WhatsAppError
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
from whatsapp.signal.records import MAX_SKIPPED_PER_RECORD


def _busy_records() -> tuple[SessionRecord, SessionRecord, SenderKeyRecord, SenderKeyRecord]:
    """Records with every optional part filled: pending prekey, archived states, skipped keys, cached keys."""
    alice = LocalIdentity(KeyPair.generate(), 11)
    bob = LocalIdentity(KeyPair.generate(), 22)
    spk, opk = KeyPair.generate(), KeyPair.generate()
    bundle = PreKeyBundle(
        22,
        0,
        bob.identity_key.public,
        3,
        spk.public,
        xeddsa.sign(bob.identity_key.private, prefixed(spk.public)),
        9,
        opk.public,
    )
    a = build_session_from_bundle(None, alice, bundle).record
    a = build_session_from_bundle(a, alice, bundle).record  # archives the first
    b = None
    for i in range(6):
        a, m = encrypt_message(a, alice, b"m%d" % i)
        if i % 2 == 0:
            b = decrypt_prekey_message(b, bob, m.body, signed_pre_key=spk, pre_key=opk).record
    b, reply = encrypt_message(b, bob, b"reply")
    a = decrypt_message(a, alice, reply.body).record
    own = create_sender_key()
    theirs = process_distribution_message(None, distribution_message(own))
    for i in range(5):
        own, skmsg = group_encrypt(own, b"g%d" % i)
        if i in (0, 4):
            theirs = group_decrypt(theirs, skmsg)[0]
    return a, b, own, theirs


def test_round_trips_are_exact() -> None:
    a, b, own, theirs = _busy_records()
    assert a.archived and a.current.pending_pre_key is None
    assert b.current.receiving_chains[0].chain.skipped
    assert own.states[0].signing_private and theirs.states[0].signing_private is None
    assert len(theirs.states[0].message_keys) == 3
    for record in (a, b, SessionRecord()):
        data = record.to_bytes()
        again = SessionRecord.from_bytes(data)
        assert again == record and again.to_bytes() == data
    for record in (own, theirs, SenderKeyRecord()):
        data = record.to_bytes()
        again = SenderKeyRecord.from_bytes(data)
        assert again == record and again.to_bytes() == data


def test_wrong_kind_and_version_are_decode_errors() -> None:
    a, _, own, _ = _busy_records()
    with pytest.raises(DecodeError):
        SessionRecord.from_bytes(own.to_bytes())
    with pytest.raises(DecodeError):
        SenderKeyRecord.from_bytes(a.to_bytes())
    data = a.to_bytes()
    with pytest.raises(DecodeError, match="version"):
        SessionRecord.from_bytes(data[:3] + b"\x09" + data[4:])
    with pytest.raises(DecodeError, match="trailing"):
        SessionRecord.from_bytes(data + b"\x00")


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_raises_only_decode_errors(seed: int) -> None:
    rng = random.Random(seed)
    a, b, own, theirs = _busy_records()
    samples = [
        (SessionRecord, a.to_bytes()),
        (SessionRecord, b.to_bytes()),
        (SenderKeyRecord, own.to_bytes()),
        (SenderKeyRecord, theirs.to_bytes()),
    ]
    for _ in range(1500):
        cls, data = rng.choice(samples)
        buf = bytearray(data)
        mode = rng.randrange(4)
        if mode == 0:
            buf = buf[: rng.randrange(len(buf))]
        elif mode == 1:
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif mode == 2:
            buf = bytearray(data[:4]) + bytearray(rng.randbytes(rng.randrange(300)))
        else:
            buf = bytearray(rng.randbytes(rng.randrange(64)))
        try:
            record = cls.from_bytes(bytes(buf))
        except DecodeError:
            continue
        # A mutation that still parses must give a record that round-trips.
        assert cls.from_bytes(record.to_bytes()) == record


def test_mutated_records_never_escape_as_foreign_exceptions() -> None:
    """A record that parses but holds garbage must still fail only with our errors when used."""
    rng = random.Random(99)
    a, _, own, theirs = _busy_records()
    me = LocalIdentity(KeyPair.generate(), 5)
    for _ in range(300):
        buf = bytearray(a.to_bytes())
        buf[rng.randrange(4, len(buf))] = rng.randrange(256)
        try:
            record = SessionRecord.from_bytes(bytes(buf))
            encrypt_message(record, me, b"x")
        except WhatsAppError:
            pass
    for _ in range(300):
        buf = bytearray(theirs.to_bytes())
        buf[rng.randrange(4, len(buf))] = rng.randrange(256)
        try:
            record = SenderKeyRecord.from_bytes(bytes(buf))
            _, skmsg = group_encrypt(own, b"y")
            group_decrypt(record, skmsg)
        except WhatsAppError:
            pass


def test_overall_skipped_key_cap() -> None:
    alice = LocalIdentity(KeyPair.generate(), 1)
    bob = LocalIdentity(KeyPair.generate(), 2)
    spk = KeyPair.generate()
    bundle = PreKeyBundle(
        2, 0, bob.identity_key.public, 1, spk.public, xeddsa.sign(bob.identity_key.private, prefixed(spk.public))
    )
    a = build_session_from_bundle(None, alice, bundle).record
    b = None
    # Three ratchet turns, each leaving ~1990 skipped keys behind: more than the per-record cap.
    for _turn in range(3):
        for _ in range(1990):
            a, _m = encrypt_message(a, alice, b"")
        a, m = encrypt_message(a, alice, b"last")
        if b is None:
            b = decrypt_prekey_message(b, bob, m.body, signed_pre_key=spk, pre_key=None).record
        else:
            b = decrypt_message(b, bob, m.body).record
        b, reply = encrypt_message(b, bob, b"r")
        a = decrypt_message(a, alice, reply.body).record
    total = sum(rc.chain.skipped.__len__() for s in b.states() for rc in s.receiving_chains)
    assert total == MAX_SKIPPED_PER_RECORD
    assert SessionRecord.from_bytes(b.to_bytes()) == b
