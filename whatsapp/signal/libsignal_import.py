"""Convert libsignal-node session records and Baileys sender-key records into this package's records.

A bot migrated from Baileys brings its Signal state as JSON: libsignal-node's `SessionRecord.serialize()`
(`{"_sessions": {<base64 base key>: entry}, "version": "v1"}`, every key base64) and Baileys' own
sender-key record (a list of `senderKeyStateStructure`, Buffers as `{"type": "Buffer", "data": ...}`).
Converting them keeps existing conversations decrypting instead of renegotiating every session through
retry receipts. Pure functions: bytes or parsed JSON in, records out; bad input raises `DecodeError`
naming the field.

Fields with no home in our records, dropped because neither decrypting nor encrypting reads them:
`indexInfo.created`, `indexInfo.used` and the exact `indexInfo.closed` timestamp (only the open/closed
distinction and the order of closing are kept), a chain's `chainType` (implied by which chain it is),
and the record's `version`. libsignal-node keeps every receiving chain of a session forever; ours keep
at most `MAX_RECEIVING_CHAINS`, so closed chains with no skipped keys left (useless) go first, then the oldest.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from typing import Any

from whatsapp.errors import CryptoError, DecodeError
from whatsapp.keys import KeyPair, strip_prefix
from whatsapp.signal.records import (
    MAX_RECEIVING_CHAINS,
    MAX_SENDER_KEY_STATES,
    MAX_SENDER_MESSAGE_KEYS,
    Chain,
    PendingPreKey,
    ReceivingChain,
    SenderKeyRecord,
    SenderKeyState,
    SessionRecord,
    SessionState,
)

_BASE_KEY_OURS = 1  # libsignal-node BaseKeyType.OURS (THEIRS is 2)
_CHAIN_SENDING = 1  # libsignal-node ChainType.SENDING (RECEIVING is 2)
_OPEN = -1  # indexInfo.closed of the open session


# -- session records -------------------------------------------------------------------------------------


def session_from_libsignal_json(data: bytes | str | dict[str, Any], *, local_identity: bytes) -> SessionRecord:
    """libsignal-node `SessionRecord.serialize()` output -> `SessionRecord`.

    `local_identity` is our 33-byte identity public key: libsignal-node keeps it outside the record (its
    store's `getOurIdentity`), while our states carry it because the message MAC covers it.
    """
    record = _load_json(data, "session")
    if isinstance(record, str):  # a store that serialized the record twice (JSON text inside JSON)
        record = _load_json(record, "session")
    if not isinstance(record, dict):
        raise DecodeError("libsignal session: expected an object with _sessions")
    sessions = record.get("_sessions")
    if not isinstance(sessions, dict):
        raise DecodeError("libsignal session: _sessions is missing or not an object")
    identity = _key33(local_identity, "local_identity")
    current: SessionState | None = None
    closed: list[tuple[int, SessionState]] = []
    for base_key_id, entry in sessions.items():
        where = f"libsignal session: _sessions[{base_key_id!r}]"
        state, closed_at = _session_state(entry, identity, where)
        if closed_at == _OPEN and current is None:
            current = state
        else:  # closed (or a second open one, which libsignal-node never writes): archive it
            closed.append((closed_at, state))
    closed.sort(key=lambda item: item[0], reverse=True)  # newest first, as SessionRecord.archived
    result = SessionRecord(current, [state for _, state in closed])
    result.enforce_limits()
    return result


def _session_state(entry: Any, local_identity: bytes, where: str) -> tuple[SessionState, int]:
    if not isinstance(entry, dict):
        raise DecodeError(f"{where}: not an object")
    ratchet = _field(entry, "currentRatchet", dict, where)
    index_info = _field(entry, "indexInfo", dict, where)
    pair = _field(ratchet, "ephemeralKeyPair", dict, f"{where}.currentRatchet")
    ratchet_public = _key33(_b64(pair, "pubKey", f"{where}.currentRatchet.ephemeralKeyPair"), f"{where}.pubKey")
    private = _b64(pair, "privKey", f"{where}.currentRatchet.ephemeralKeyPair")
    try:
        ratchet_pair = KeyPair.from_bytes(private + strip_prefix(ratchet_public))
    except CryptoError as exc:
        raise DecodeError(f"{where}.currentRatchet.ephemeralKeyPair: {exc}") from None
    root_key = _b64(ratchet, "rootKey", f"{where}.currentRatchet", length=32)
    last_remote = _key33(
        _b64(ratchet, "lastRemoteEphemeralKey", f"{where}.currentRatchet"),
        f"{where}.currentRatchet.lastRemoteEphemeralKey",
    )
    previous_counter = _int(ratchet, "previousCounter", f"{where}.currentRatchet", minimum=-1)
    base_key = _key33(_b64(index_info, "baseKey", f"{where}.indexInfo"), f"{where}.indexInfo.baseKey")
    base_key_type = _int(index_info, "baseKeyType", f"{where}.indexInfo", minimum=1)
    if base_key_type not in (1, 2):
        raise DecodeError(f"{where}.indexInfo.baseKeyType: {base_key_type} is neither 1 (ours) nor 2 (theirs)")
    remote_identity = _key33(
        _b64(index_info, "remoteIdentityKey", f"{where}.indexInfo"), f"{where}.indexInfo.remoteIdentityKey"
    )
    closed_at = _int(index_info, "closed", f"{where}.indexInfo", minimum=-1, maximum=2**53)  # -1 or Date.now()
    registration_id = _int(entry, "registrationId", where, minimum=0)

    sending: Chain | None = None
    receiving: list[tuple[bool, ReceivingChain]] = []  # (useless, chain) in libsignal's (insertion) order
    chains = _field(entry, "_chains", dict, where)
    for chain_id, chain_data in chains.items():
        chain_where = f"{where}._chains[{chain_id!r}]"
        ratchet_key = _key33(_decode_b64(chain_id, chain_where), chain_where)
        chain_type, chain = _chain(chain_data, chain_where)
        if chain_type == _CHAIN_SENDING:
            if ratchet_key != ratchet_public:
                raise DecodeError(f"{chain_where}: a sending chain for a key that is not the current ratchet key")
            sending = chain
        else:
            receiving.append((chain.chain_key is None and not chain.skipped, ReceivingChain(ratchet_key, chain)))
    while len(receiving) > MAX_RECEIVING_CHAINS:
        useless = next((i for i, (drop, _) in enumerate(receiving) if drop), 0)
        del receiving[useless]

    pending: PendingPreKey | None = None
    pending_data = entry.get("pendingPreKey")
    if pending_data is not None:
        pending_where = f"{where}.pendingPreKey"
        if not isinstance(pending_data, dict):
            raise DecodeError(f"{pending_where}: not an object")
        pre_key_id = pending_data.get("preKeyId")
        if pre_key_id is not None:
            pre_key_id = _int(pending_data, "preKeyId", pending_where, minimum=0)
        pending = PendingPreKey(
            signed_pre_key_id=_int(pending_data, "signedKeyId", pending_where, minimum=0),
            base_key=_key33(_b64(pending_data, "baseKey", pending_where), f"{pending_where}.baseKey"),
            pre_key_id=pre_key_id,
        )

    state = SessionState(
        local_identity=local_identity,
        remote_identity=remote_identity,
        remote_registration_id=registration_id,
        base_key=base_key,
        base_key_is_ours=base_key_type == _BASE_KEY_OURS,
        root_key=root_key,
        ratchet_key_pair=ratchet_pair,
        last_remote_ratchet_key=last_remote,
        # libsignal-node writes -1 when the previous sending chain never sent; 0 only makes the peer keep
        # one extra skipped key in a chain it already closed.
        previous_counter=max(previous_counter, 0),
        sending_chain=sending,
        receiving_chains=[rc for _, rc in receiving],
        pending_pre_key=pending,
    )
    return state, closed_at


def _chain(data: Any, where: str) -> tuple[int, Chain]:
    if not isinstance(data, dict):
        raise DecodeError(f"{where}: not an object")
    chain_type = _int(data, "chainType", where, minimum=1)
    if chain_type not in (1, 2):
        raise DecodeError(f"{where}.chainType: {chain_type} is neither 1 (sending) nor 2 (receiving)")
    chain_key = _field(data, "chainKey", dict, where)
    # libsignal's counter is the last message key derived; our index is the next one the chain key yields.
    counter = _int(chain_key, "counter", f"{where}.chainKey", minimum=-1)
    key = _b64(chain_key, "key", f"{where}.chainKey", length=32) if chain_key.get("key") is not None else None
    message_keys = data.get("messageKeys", {})
    if not isinstance(message_keys, dict):
        raise DecodeError(f"{where}.messageKeys: not an object")
    skipped: OrderedDict[int, bytes] = OrderedDict()
    for counter_text, _ in sorted(message_keys.items(), key=lambda kv: _counter(kv[0], where)):
        skipped[_counter(counter_text, where)] = _b64(message_keys, counter_text, f"{where}.messageKeys", length=32)
    return chain_type, Chain(key, counter + 1, skipped)


def _counter(text: str, where: str) -> int:
    if not text.isdigit():
        raise DecodeError(f"{where}.messageKeys: key {text!r} is not a counter")
    return int(text)


# -- sender keys -----------------------------------------------------------------------------------------


def sender_key_from_baileys_json(data: bytes | str | list[Any] | dict[str, Any]) -> SenderKeyRecord:
    """Baileys `SenderKeyRecord.serialize()` (a list of sender-key state structures) -> `SenderKeyRecord`.

    Accepts what Baileys' multi-file store holds: the JSON text, that text wrapped as a Buffer
    (`{"type": "Buffer", "data": ...}`, how `storeSenderKey` writes it), or the parsed list.
    """
    value = _load_json(data, "sender key")
    for _ in range(3):  # unwrap Buffer / JSON-text layers (Baileys stores JSON text inside a Buffer)
        if isinstance(value, dict) and value.get("type") == "Buffer":
            value = _load_json(_buffer(value, "sender key"), "sender key")
        elif isinstance(value, (str, bytes)):
            value = _load_json(value, "sender key")
        else:
            break
    if not isinstance(value, list):
        raise DecodeError("Baileys sender key: expected a list of sender key states")
    if not value:
        raise DecodeError("Baileys sender key: the record holds no state")
    states = [_sender_key_state(s, f"Baileys sender key: state[{i}]") for i, s in enumerate(value)]
    return SenderKeyRecord(states[-MAX_SENDER_KEY_STATES:])  # Baileys keeps 5 too; the newest are last


def _sender_key_state(data: Any, where: str) -> SenderKeyState:
    if not isinstance(data, dict):
        raise DecodeError(f"{where}: not an object")
    key_id = _int(data, "senderKeyId", where, minimum=0)
    chain = _field(data, "senderChainKey", dict, where)
    iteration = _int(chain, "iteration", f"{where}.senderChainKey", minimum=0)
    seed = _buffer_field(chain, "seed", f"{where}.senderChainKey", length=32)
    signing = _field(data, "senderSigningKey", dict, where)
    public = _key33(_buffer_field(signing, "public", f"{where}.senderSigningKey"), f"{where}.senderSigningKey.public")
    private: bytes | None = None
    if signing.get("private") is not None:
        private = _buffer_field(signing, "private", f"{where}.senderSigningKey")
        if not private:
            private = None  # Baileys writes an empty Buffer for other members' keys
        elif len(private) != 32:
            raise DecodeError(f"{where}.senderSigningKey.private: {len(private)} bytes where 32 were expected")
    message_keys: OrderedDict[int, bytes] = OrderedDict()
    raw_keys = data.get("senderMessageKeys", [])
    if not isinstance(raw_keys, list):
        raise DecodeError(f"{where}.senderMessageKeys: not a list")
    for i, item in enumerate(raw_keys[-MAX_SENDER_MESSAGE_KEYS:]):
        item_where = f"{where}.senderMessageKeys[{i}]"
        if not isinstance(item, dict):
            raise DecodeError(f"{item_where}: not an object")
        message_keys[_int(item, "iteration", item_where, minimum=0)] = _buffer_field(
            item, "seed", item_where, length=32
        )
    return SenderKeyState(key_id, iteration, seed, public, private, message_keys)


# -- field helpers ---------------------------------------------------------------------------------------


def _load_json(data: Any, what: str) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        try:
            return json.loads(bytes(data) if not isinstance(data, str) else data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"{what}: not valid JSON ({exc})") from None
    return data


def _field(obj: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind):
        raise DecodeError(f"{where}.{name}: missing or not {'an object' if kind is dict else kind.__name__}")
    return value


def _int(obj: dict[str, Any], name: str, where: str, *, minimum: int, maximum: int = 0xFFFFFFFF) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise DecodeError(f"{where}.{name}: missing or not an integer in [{minimum}, {maximum}]")
    return value


def _decode_b64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise DecodeError(f"{where}: missing or not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{where}: not valid base64") from None


def _b64(obj: dict[str, Any], name: str, where: str, *, length: int | None = None) -> bytes:
    value = _decode_b64(obj.get(name), f"{where}.{name}")
    if length is not None and len(value) != length:
        raise DecodeError(f"{where}.{name}: {len(value)} bytes where {length} were expected")
    return value


def _buffer(value: Any, where: str) -> bytes:
    """A Buffer in any of the shapes Baileys' JSON holds: bytes (already revived), BufferJSON with base64
    or a list of ints (plain JSON.stringify), or a Uint8Array's {"0": n, "1": n, ...}."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict) and value.get("type") == "Buffer":
        inner = value.get("data")
        if isinstance(inner, str):
            return _decode_b64(inner, f"{where}.data")
        value = inner
    elif isinstance(value, dict) and value and all(isinstance(k, str) and k.isdigit() for k in value):
        try:
            value = [value[str(i)] for i in range(len(value))]
        except KeyError:
            raise DecodeError(f"{where}: not a Buffer (byte indexes are not 0..n-1)") from None
    if isinstance(value, list) and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value):
        return bytes(value)
    raise DecodeError(f"{where}: not a Buffer")


def _buffer_field(obj: dict[str, Any], name: str, where: str, *, length: int | None = None) -> bytes:
    value = _buffer(obj.get(name), f"{where}.{name}")
    if length is not None and len(value) != length:
        raise DecodeError(f"{where}.{name}: {len(value)} bytes where {length} were expected")
    return value


def _key33(key: bytes, where: str) -> bytes:
    """A public key in the 33-byte 0x05-prefixed form our records keep (Baileys sometimes stores 32 bytes)."""
    if len(key) == 32:
        return b"\x05" + key
    if len(key) != 33 or key[0] != 5:
        raise DecodeError(f"{where}: not a 33-byte 0x05-prefixed public key ({len(key)} bytes)")
    return key
