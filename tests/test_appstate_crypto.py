"""App-state crypto (whatsapp/syncd.py) against values computed here from the definitions (whatsmeow
appstate/hash.go, lthash/lthash.go; Baileys src/Utils/chat-utils.ts), and patches built here the way a
companion builds them (Baileys encodeSyncdPatch): applied with the LTHash checked, refused when tampered."""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from whatsapp.errors import AppStateKeyMissing, AppStateMismatch
from whatsapp.proto import app_state_pb2 as pb
from whatsapp.syncd import (
    REMOVE,
    SET,
    CollectionState,
    apply_patch,
    apply_snapshot,
    expand_keys,
    index_mac,
    lthash_apply,
    snapshot_mac,
    value_mac,
)

KEY_ID = b"\x00\x00\x00\x01\xab"
KEY_DATA = bytes(range(32))


def hkdf(ikm: bytes, info: bytes, n: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(ikm)


def test_key_expansion_is_hkdf_of_the_mutation_keys_info() -> None:
    out = hkdf(KEY_DATA, b"WhatsApp Mutation Keys", 160)
    keys = expand_keys(KEY_DATA)
    assert (keys.index, keys.value_encryption, keys.value_mac, keys.snapshot_mac, keys.patch_mac) == tuple(
        out[i:i + 32] for i in range(0, 160, 32))


def test_lthash_adds_and_subtracts_16_bit_words() -> None:
    a, b = os.urandom(32), os.urandom(32)
    ea = hkdf(a, b"WhatsApp Patch Integrity", 128)
    once = lthash_apply(bytes(128), [], [a])
    assert once == ea  # from zero, one item is its expansion
    both = lthash_apply(once, [], [b])
    assert lthash_apply(both, [a], []) == lthash_apply(bytes(128), [], [b])
    assert lthash_apply(both, [a, b], []) == bytes(128)
    # word-wise modulo 2^16, little-endian
    eb = hkdf(b, b"WhatsApp Patch Integrity", 128)
    words = [(int.from_bytes(ea[i:i + 2], "little") + int.from_bytes(eb[i:i + 2], "little")) & 0xFFFF
             for i in range(0, 128, 2)]
    assert both == b"".join(w.to_bytes(2, "little") for w in words)


def test_macs_match_their_definitions() -> None:
    key, data = os.urandom(32), os.urandom(48)
    expected = hmac.new(key, b"\x01" + KEY_ID + data + (len(KEY_ID) + 1).to_bytes(8, "big"),
                        hashlib.sha512).digest()[:32]
    assert value_mac(SET, data, KEY_ID, key) == expected
    assert value_mac(REMOVE, data, KEY_ID, key) != expected
    assert index_mac(b'["pin_v1","x"]', key) == hmac.new(key, b'["pin_v1","x"]', hashlib.sha256).digest()
    h = os.urandom(128)
    assert snapshot_mac(h, 7, "regular_low", key) == hmac.new(
        key, h + (7).to_bytes(8, "big") + b"regular_low", hashlib.sha256).digest()


# ---- patches built as a companion builds them ----------------------------------------------------------


def record(index: list[str], value: pb.SyncActionValue, op: int = SET) -> pb.SyncdMutation:
    keys = expand_keys(KEY_DATA)
    index_bytes = json.dumps(index, separators=(",", ":")).encode()
    plain = pb.SyncActionData(index=index_bytes, value=value, padding=b"", version=2).SerializeToString()
    padder = padding.PKCS7(128).padder()
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(keys.value_encryption), modes.CBC(iv)).encryptor()
    content = iv + enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
    mac = hmac.new(keys.value_mac, bytes([op + 1]) + KEY_ID + content + (len(KEY_ID) + 1).to_bytes(8, "big"),
                   hashlib.sha512).digest()[:32]
    return pb.SyncdMutation(operation=op, record=pb.SyncdRecord(
        index=pb.SyncdIndex(blob=hmac.new(keys.index, index_bytes, hashlib.sha256).digest()),
        value=pb.SyncdValue(blob=content + mac), keyID=pb.KeyId(ID=KEY_ID)))


def patch(name: str, state: CollectionState, mutations: list[pb.SyncdMutation]) -> pb.SyncdPatch:
    keys = expand_keys(KEY_DATA)
    removed = [state.value_macs[m.record.index.blob] for m in mutations if m.record.index.blob in state.value_macs]
    added = [m.record.value.blob[-32:] for m in mutations if m.operation == SET]
    version = state.version + 1
    lthash = lthash_apply(state.lthash, removed, added)
    smac = hmac.new(keys.snapshot_mac, lthash + version.to_bytes(8, "big") + name.encode(), hashlib.sha256).digest()
    pmac = hmac.new(keys.patch_mac, smac + b"".join(m.record.value.blob[-32:] for m in mutations)
                    + version.to_bytes(8, "big") + name.encode(), hashlib.sha256).digest()
    return pb.SyncdPatch(version=pb.SyncdVersion(version=version), mutations=mutations, snapshotMAC=smac,
                         patchMAC=pmac, keyID=pb.KeyId(ID=KEY_ID))


KEYS = {KEY_ID: expand_keys(KEY_DATA)}


def test_patches_apply_in_sequence_with_the_lthash_checked() -> None:
    pin = record(["pin_v1", "1@s.whatsapp.net"], pb.SyncActionValue(timestamp=1, pinAction=pb.PinAction(pinned=True)))
    first = patch("regular_low", CollectionState(), [pin])
    state, mutations = apply_patch("regular_low", CollectionState(), first, KEYS)
    assert state.version == 1 and mutations[0].index == ["pin_v1", "1@s.whatsapp.net"]
    assert mutations[0].value.pinAction.pinned
    unpin = record(["pin_v1", "1@s.whatsapp.net"], pb.SyncActionValue(timestamp=2, pinAction=pb.PinAction()))
    state2, mutations2 = apply_patch("regular_low", state, patch("regular_low", state, [unpin]), KEYS)
    assert state2.version == 2 and not mutations2[0].value.pinAction.pinned
    assert len(state2.value_macs) == 1  # the SET replaced the record of the same index
    assert state2.lthash == lthash_apply(bytes(128), [], [unpin.record.value.blob[-32:]])


@pytest.mark.parametrize("where", ["value", "snapshot_mac", "patch_mac", "index"])
def test_a_tampered_patch_is_refused_and_the_state_kept(where: str) -> None:
    mute = record(["mute", "2@s.whatsapp.net"], pb.SyncActionValue(muteAction=pb.MuteAction(muted=True)))
    bad = patch("regular_high", CollectionState(), [mute])
    if where == "value":
        blob = bytearray(bad.mutations[0].record.value.blob)
        blob[20] ^= 1
        bad.mutations[0].record.value.blob = bytes(blob)
    elif where == "snapshot_mac":
        bad.snapshotMAC = bytes(32)
    elif where == "patch_mac":
        bad.patchMAC = bytes(32)
    else:
        bad.mutations[0].record.index.blob = bytes(32)
    state = CollectionState()
    with pytest.raises(AppStateMismatch):
        apply_patch("regular_high", state, bad, KEYS)
    assert state == CollectionState()


def test_a_snapshot_is_checked_by_its_mac_and_an_unknown_key_reported() -> None:
    rec = record(["contact", "3@s.whatsapp.net"], pb.SyncActionValue(contactAction=pb.ContactAction(fullName="Ann")))
    lthash = lthash_apply(bytes(128), [], [rec.record.value.blob[-32:]])
    mac = snapshot_mac(lthash, 5, "critical_unblock_low", KEYS[KEY_ID].snapshot_mac)
    snap = pb.SyncdSnapshot(version=pb.SyncdVersion(version=5), records=[rec.record], mac=mac,
                            keyID=pb.KeyId(ID=KEY_ID))
    state, mutations = apply_snapshot("critical_unblock_low", snap, KEYS)
    assert state.version == 5 and mutations[0].value.contactAction.fullName == "Ann"
    assert CollectionState.from_json(state.to_json()) == state
    snap.mac = bytes(32)
    with pytest.raises(AppStateMismatch):
        apply_snapshot("critical_unblock_low", snap, KEYS)
    with pytest.raises(AppStateKeyMissing):
        apply_snapshot("critical_unblock_low", snap, {})
