"""Mutated and random Signal messages: decrypt and parse raise only the project's errors, never change records."""

from __future__ import annotations

import contextlib
import random

import pytest

from whatsapp import xeddsa
from whatsapp.errors import WhatsAppError
from whatsapp.keys import KeyPair, prefixed
from whatsapp.signal import (
    LocalIdentity,
    PreKeyBundle,
    SenderKeyDistribution,
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


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    mode = rng.randrange(5)
    if mode == 0:
        return bytes(buf[: rng.randrange(len(buf))])
    if mode == 1:
        for _ in range(rng.randint(1, 3)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return bytes(buf)
    if mode == 2:
        i = rng.randrange(len(buf))
        return bytes(buf[:i] + rng.randbytes(rng.randrange(1, 8)) + buf[i:])
    if mode == 3:
        return b"\x33" + rng.randbytes(rng.randrange(120))
    return rng.randbytes(rng.randrange(80))


@pytest.mark.parametrize("seed", range(3))
def test_fuzzed_messages_raise_only_project_errors(seed: int) -> None:
    rng = random.Random(seed)
    alice, bob = LocalIdentity(KeyPair.generate(), 1), LocalIdentity(KeyPair.generate(), 2)
    spk, opk = KeyPair.generate(), KeyPair.generate()
    bundle = PreKeyBundle(
        2,
        0,
        bob.identity_key.public,
        1,
        spk.public,
        xeddsa.sign(bob.identity_key.private, prefixed(spk.public)),
        4,
        opk.public,
    )
    a = build_session_from_bundle(None, alice, bundle).record
    a, pkmsg = encrypt_message(a, alice, b"first")
    b = decrypt_prekey_message(None, bob, pkmsg.body, signed_pre_key=spk, pre_key=opk).record
    b, reply = encrypt_message(b, bob, b"reply")
    a = decrypt_message(a, alice, reply.body).record
    a, msg = encrypt_message(a, alice, b"second")
    own = create_sender_key()
    skdm = distribution_message(own)
    theirs = process_distribution_message(None, skdm)
    own, skmsg = group_encrypt(own, b"group")
    stored_b, stored_theirs = b.to_bytes(), theirs.to_bytes()
    accepted = 0
    for _ in range(400):
        mutated = _mutate(rng, msg.body)
        try:
            decrypt_message(b, bob, mutated)
            accepted += mutated != msg.body  # two flips of the same bit give the original back
        except WhatsAppError:
            pass
        with contextlib.suppress(WhatsAppError):
            decrypt_prekey_message(b, bob, _mutate(rng, pkmsg.body), signed_pre_key=spk, pre_key=opk)
        with contextlib.suppress(WhatsAppError):
            group_decrypt(theirs, _mutate(rng, skmsg))
        with contextlib.suppress(WhatsAppError):
            SenderKeyDistribution.parse(_mutate(rng, skdm))
    assert b.to_bytes() == stored_b and theirs.to_bytes() == stored_theirs
    assert accepted == 0  # no mutation of an authenticated msg may decrypt
