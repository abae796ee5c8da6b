"""App-state sync ("syncd"), the pure part: key expansion, the LTHash, the MACs, applying snapshots and patches
(docs/protocol.md §App state; whatsmeow `appstate/hash.go`, `keys.go`, `decode.go`, `lthash/lthash.go`; Baileys
`src/Utils/chat-utils.ts`, `lt-hash.ts`).

A collection's state is its version, a 128-byte LTHash (64 little-endian 16-bit words, summed modulo 2^16) of
the value MACs of its live records, and the value MAC of each live record by its index MAC (a later SET or a
REMOVE of the same index subtracts the old one). Every check runs before anything is kept: a patch whose
LTHash, snapshot MAC, patch MAC, value MACs or index MACs disagree raises AppStateMismatch and the caller's
state is unchanged (the functions return a new state, they never modify the one given).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.message import DecodeError as ProtobufDecodeError

from whatsapp.errors import AppStateKeyMissing, AppStateMismatch, DecodeError
from whatsapp.proto import app_state_pb2

MUTATION_KEYS_INFO = b"WhatsApp Mutation Keys"
PATCH_INTEGRITY_INFO = b"WhatsApp Patch Integrity"
LTHASH_SIZE = 128
MAC_SIZE = 32
# The order whatsmeow fetches them in; critical_block first as it holds the settings others depend on.
COLLECTIONS = ("critical_block", "critical_unblock_low", "regular_high", "regular_low", "regular")

SET = app_state_pb2.SyncdMutation.SET
REMOVE = app_state_pb2.SyncdMutation.REMOVE


def _hkdf(ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(ikm)


@dataclass(frozen=True, slots=True)
class MutationKeys:
    """The five keys one shared app-state key expands to (HKDF-SHA256, 160 bytes, in this order)."""

    index: bytes
    value_encryption: bytes
    value_mac: bytes
    snapshot_mac: bytes
    patch_mac: bytes


def expand_keys(key_data: bytes) -> MutationKeys:
    out = _hkdf(key_data, MUTATION_KEYS_INFO, 160)
    return MutationKeys(out[0:32], out[32:64], out[64:96], out[96:128], out[128:160])


def lthash_apply(base: bytes, subtract: list[bytes], add: list[bytes]) -> bytes:
    """The LTHash after removing `subtract` and adding `add` (value MACs): each item counts as its 128-byte
    HKDF expansion, word by word modulo 2^16, so the order of the items never matters."""
    words = [int.from_bytes(base[i:i + 2], "little") for i in range(0, LTHASH_SIZE, 2)]
    for items, sign in ((subtract, -1), (add, 1)):
        for item in items:
            expanded = _hkdf(item, PATCH_INTEGRITY_INFO, LTHASH_SIZE)
            for n in range(LTHASH_SIZE // 2):
                words[n] = (words[n] + sign * int.from_bytes(expanded[2 * n:2 * n + 2], "little")) & 0xFFFF
    return b"".join(w.to_bytes(2, "little") for w in words)


def value_mac(operation: int, data: bytes, key_id: bytes, key: bytes) -> bytes:
    """HMAC-SHA512 over the operation byte (SET 1, REMOVE 2), the key id, IV+ciphertext and the key id's length
    plus one as a big-endian uint64; the first 32 bytes."""
    message = bytes([operation + 1]) + key_id + data + (len(key_id) + 1).to_bytes(8, "big")
    return hmac.new(key, message, hashlib.sha512).digest()[:MAC_SIZE]


def index_mac(index: bytes, key: bytes) -> bytes:
    return hmac.new(key, index, hashlib.sha256).digest()


def snapshot_mac(lthash: bytes, version: int, name: str, key: bytes) -> bytes:
    return hmac.new(key, lthash + version.to_bytes(8, "big") + name.encode(), hashlib.sha256).digest()


def patch_mac(snapshot_mac_: bytes, value_macs: list[bytes], version: int, name: str, key: bytes) -> bytes:
    message = snapshot_mac_ + b"".join(value_macs) + version.to_bytes(8, "big") + name.encode()
    return hmac.new(key, message, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class CollectionState:
    """What is kept of one collection between syncs (docs/storage.md: `app-state-sync-version`)."""

    version: int = 0
    lthash: bytes = bytes(LTHASH_SIZE)
    value_macs: dict[bytes, bytes] = field(default_factory=dict)  # index MAC -> value MAC of the live record

    def to_json(self) -> bytes:
        return json.dumps({"version": self.version, "hash": self.lthash.hex(),
                           "macs": {k.hex(): v.hex() for k, v in self.value_macs.items()}}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CollectionState:
        try:
            data = json.loads(raw)
            return cls(int(data["version"]), bytes.fromhex(data["hash"]),
                       {bytes.fromhex(k): bytes.fromhex(v) for k, v in data["macs"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DecodeError(f"app-state version record does not parse: {exc}") from None


@dataclass(frozen=True, slots=True)
class Mutation:
    """One decrypted record: SET or REMOVE of `index` (e.g. ["pin_v1", "<jid>"]) with its action value."""

    operation: int
    index: list[str]
    value: app_state_pb2.SyncActionValue
    version: int


KeyLookup = dict[bytes, MutationKeys]


def _keys(keys: KeyLookup, key_id: bytes) -> MutationKeys:
    found = keys.get(key_id)
    if found is None:
        raise AppStateKeyMissing(key_id)
    return found


def _blob_parts(name: str, record: app_state_pb2.SyncdRecord) -> tuple[bytes, bytes]:
    blob = record.value.blob
    if len(blob) < 16 + 16 + MAC_SIZE:
        raise AppStateMismatch(name, f"{name}: a record value of {len(blob)} bytes is too short")
    return blob[:-MAC_SIZE], blob[-MAC_SIZE:]


def decrypt_mutation(name: str, operation: int, record: app_state_pb2.SyncdRecord, keys: KeyLookup) -> Mutation:
    """Check the value MAC, decrypt (AES-256-CBC), check the index MAC; AppStateMismatch when one fails."""
    key_id = record.keyID.ID
    expanded = _keys(keys, key_id)
    content, mac = _blob_parts(name, record)
    if not hmac.compare_digest(value_mac(operation, content, key_id, expanded.value_mac), mac):
        raise AppStateMismatch(name, f"{name}: a record's value MAC does not match")
    decryptor = Cipher(algorithms.AES(expanded.value_encryption), modes.CBC(content[:16])).decryptor()
    padded = decryptor.update(content[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        data = app_state_pb2.SyncActionData.FromString(plain)
        index = json.loads(data.index)
    except (ValueError, ProtobufDecodeError) as exc:
        raise AppStateMismatch(name, f"{name}: a record does not decrypt to a SyncActionData ({exc})") from None
    if not hmac.compare_digest(index_mac(data.index, expanded.index), record.index.blob):
        raise AppStateMismatch(name, f"{name}: a record's index MAC does not match")
    if not isinstance(index, list) or not all(isinstance(part, str) for part in index):
        raise AppStateMismatch(name, f"{name}: a record's index is not a list of strings")
    return Mutation(operation, index, data.value, data.version)


def apply_snapshot(name: str, snapshot: app_state_pb2.SyncdSnapshot, keys: KeyLookup
                   ) -> tuple[CollectionState, list[Mutation]]:
    """A collection from scratch: every record a SET; the snapshot MAC checks the LTHash of them all."""
    version = snapshot.version.version
    macs = {record.index.blob: _blob_parts(name, record)[1] for record in snapshot.records}
    lthash = lthash_apply(bytes(LTHASH_SIZE), [], list(macs.values()))
    expected = snapshot_mac(lthash, version, name, _keys(keys, snapshot.keyID.ID).snapshot_mac)
    if not hmac.compare_digest(expected, snapshot.mac):
        raise AppStateMismatch(name, f"{name}: the snapshot of v{version} fails its MAC (LTHash mismatch)")
    mutations = [decrypt_mutation(name, SET, record, keys) for record in snapshot.records]
    return CollectionState(version, lthash, macs), mutations


def apply_patch(name: str, state: CollectionState, patch: app_state_pb2.SyncdPatch, keys: KeyLookup
                ) -> tuple[CollectionState, list[Mutation]]:
    """The state after one patch: the LTHash moved by its mutations must give the patch's snapshot MAC, and the
    patch MAC must cover it; then every mutation is checked and decrypted."""
    version = patch.version.version
    if version <= state.version:
        raise AppStateMismatch(name, f"{name}: patch v{version} does not follow v{state.version}")
    macs = dict(state.value_macs)
    removed: list[bytes] = []
    added: list[bytes] = []
    value_macs: list[bytes] = []
    for mutation in patch.mutations:
        record = mutation.record
        mac = _blob_parts(name, record)[1]
        value_macs.append(mac)
        previous = macs.pop(record.index.blob, None)
        if previous is not None:
            removed.append(previous)
        if mutation.operation == SET:
            macs[record.index.blob] = mac
            added.append(mac)
    lthash = lthash_apply(state.lthash, removed, added)
    expanded = _keys(keys, patch.keyID.ID)
    if not hmac.compare_digest(snapshot_mac(lthash, version, name, expanded.snapshot_mac), patch.snapshotMAC):
        raise AppStateMismatch(name, f"{name}: patch v{version} fails its snapshot MAC (LTHash mismatch)")
    if not hmac.compare_digest(patch_mac(patch.snapshotMAC, value_macs, version, name, expanded.patch_mac),
                               patch.patchMAC):
        raise AppStateMismatch(name, f"{name}: patch v{version} fails its patch MAC")
    mutations = [decrypt_mutation(name, m.operation, m.record, keys) for m in patch.mutations]
    return CollectionState(version, lthash, macs), mutations
