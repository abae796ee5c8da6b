"""Session and sender-key records and their storage format.

The records are plain mutable dataclasses, but every public operation in this package works on a
`clone()` and returns the new record, so a failed decrypt can never leave a half-advanced ratchet in
the caller's hands. The byte format is our own: a 3-byte magic, a format version, then fixed-order
fields with explicit lengths. Every count is bounded on read so junk bytes raise `DecodeError`, never
an IndexError or a huge allocation.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from whatsapp.errors import DecodeError, EncodeError
from whatsapp.keys import KeyPair

# Bounds (libsignal's values where it has one).
MAX_ARCHIVED_STATES = 40  # libsignal-node CLOSED_SESSIONS_MAX
MAX_RECEIVING_CHAINS = 5  # libsignal (Rust/Java) MAX_RECEIVER_CHAINS
MAX_SKIPPED_PER_CHAIN = 2000  # "Over 2000 messages into the future"
MAX_SKIPPED_PER_RECORD = 5000  # overall cap over every state of one record, oldest evicted first
MAX_FORWARD_JUMP = 2000
MAX_SENDER_KEY_STATES = 5
MAX_SENDER_MESSAGE_KEYS = 2000

SESSION_MAGIC = b"WSR"
SENDER_KEY_MAGIC = b"WSK"
FORMAT_VERSION = 1


# -- records ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Chain:
    """One symmetric ratchet chain. `index` is the counter of the next message key `chain_key` yields;
    `chain_key` is None once a receiving chain is closed (the peer moved to a new ratchet key)."""

    chain_key: bytes | None = field(repr=False)  # secret: keep it out of debug logs
    index: int = 0
    skipped: OrderedDict[int, bytes] = field(default_factory=OrderedDict, repr=False)  # counter -> message key seed

    def clone(self) -> Chain:
        return Chain(self.chain_key, self.index, OrderedDict(self.skipped))


@dataclass(slots=True)
class ReceivingChain:
    ratchet_key: bytes  # the peer's 33-byte ratchet public key
    chain: Chain

    def clone(self) -> ReceivingChain:
        return ReceivingChain(self.ratchet_key, self.chain.clone())


@dataclass(slots=True)
class PendingPreKey:
    """Set on the initiator until the first reply decrypts: until then every message is a pkmsg."""

    signed_pre_key_id: int
    base_key: bytes  # our 33-byte base public key
    pre_key_id: int | None = None


@dataclass(slots=True)
class SessionState:
    """One Double Ratchet session with one device."""

    local_identity: bytes  # 33 bytes
    remote_identity: bytes  # 33 bytes
    remote_registration_id: int
    base_key: bytes  # 33 bytes; identifies the session (the initiator's base key)
    base_key_is_ours: bool
    root_key: bytes = field(repr=False)
    ratchet_key_pair: KeyPair  # our current sending ratchet key
    last_remote_ratchet_key: bytes  # 33 bytes
    previous_counter: int = 0
    sending_chain: Chain | None = None
    receiving_chains: list[ReceivingChain] = field(default_factory=list)  # oldest first
    pending_pre_key: PendingPreKey | None = None

    def clone(self) -> SessionState:
        return SessionState(
            local_identity=self.local_identity,
            remote_identity=self.remote_identity,
            remote_registration_id=self.remote_registration_id,
            base_key=self.base_key,
            base_key_is_ours=self.base_key_is_ours,
            root_key=self.root_key,
            ratchet_key_pair=self.ratchet_key_pair,
            last_remote_ratchet_key=self.last_remote_ratchet_key,
            previous_counter=self.previous_counter,
            sending_chain=self.sending_chain.clone() if self.sending_chain else None,
            receiving_chains=[c.clone() for c in self.receiving_chains],
            pending_pre_key=self.pending_pre_key,  # frozen in practice: replaced, never mutated
        )

    def receiving_chain(self, ratchet_key: bytes) -> Chain | None:
        for rc in self.receiving_chains:
            if rc.ratchet_key == ratchet_key:
                return rc.chain
        return None

    def add_receiving_chain(self, ratchet_key: bytes, chain: Chain) -> None:
        self.receiving_chains.append(ReceivingChain(ratchet_key, chain))
        del self.receiving_chains[:-MAX_RECEIVING_CHAINS]

    def skipped_count(self) -> int:
        return sum(len(rc.chain.skipped) for rc in self.receiving_chains)


@dataclass(slots=True)
class SessionRecord:
    """All sessions with one device address: the current one and up to 40 archived ones (newest first)."""

    current: SessionState | None = None
    archived: list[SessionState] = field(default_factory=list)

    def clone(self) -> SessionRecord:
        return SessionRecord(self.current.clone() if self.current else None, [s.clone() for s in self.archived])

    @property
    def has_open_session(self) -> bool:
        return self.current is not None and self.current.sending_chain is not None

    def states(self) -> list[SessionState]:
        """Current first, then archived, newest first: the order decryption tries them in."""
        return ([self.current] if self.current else []) + list(self.archived)

    def archive_current(self) -> None:
        if self.current is not None:
            self.archived.insert(0, self.current)
            self.current = None
        del self.archived[MAX_ARCHIVED_STATES:]

    def promote(self, old: SessionState, updated: SessionState) -> None:
        """Replace `old` (the current or an archived state) by `updated` and make that the current state.

        libsignal-go/Rust promote an archived state that decrypted: the peer is evidently still using it.
        """
        if old is self.current:
            self.current = updated
            return
        self.archived = [s for s in self.archived if s is not old]
        self.archive_current()
        self.current = updated

    def enforce_limits(self) -> None:
        """Apply the overall skipped-key cap, evicting the oldest keys of the oldest states first."""
        del self.archived[MAX_ARCHIVED_STATES:]
        total = sum(s.skipped_count() for s in self.states())
        if total <= MAX_SKIPPED_PER_RECORD:
            return
        for state in reversed(self.states()):
            for rc in state.receiving_chains:
                while rc.chain.skipped and total > MAX_SKIPPED_PER_RECORD:
                    rc.chain.skipped.popitem(last=False)
                    total -= 1
            if total <= MAX_SKIPPED_PER_RECORD:
                return

    def to_bytes(self) -> bytes:
        w = _Writer(SESSION_MAGIC)
        w.u8(1 if self.current else 0)
        if self.current:
            _write_state(w, self.current)
        w.u8(len(self.archived))
        for state in self.archived:
            _write_state(w, state)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionRecord:
        r = _Reader(data, SESSION_MAGIC, "session record")
        current = _read_state(r) if r.flag() else None
        archived = [_read_state(r) for _ in range(r.count(MAX_ARCHIVED_STATES))]
        r.end()
        return cls(current, archived)


@dataclass(slots=True)
class SenderKeyState:
    key_id: int
    iteration: int  # the iteration `chain_key` yields next
    chain_key: bytes = field(repr=False)  # secret, like signing_private and message_keys
    signing_public: bytes  # 33 bytes
    signing_private: bytes | None = field(default=None, repr=False)  # only for our own sender key
    message_keys: OrderedDict[int, bytes] = field(default_factory=OrderedDict, repr=False)  # iteration -> seed

    def clone(self) -> SenderKeyState:
        return SenderKeyState(
            self.key_id,
            self.iteration,
            self.chain_key,
            self.signing_public,
            self.signing_private,
            OrderedDict(self.message_keys),
        )


@dataclass(slots=True)
class SenderKeyRecord:
    """Sender-key states of one (group, sender) pair, oldest first; the last one is used to encrypt."""

    states: list[SenderKeyState] = field(default_factory=list)

    def clone(self) -> SenderKeyRecord:
        return SenderKeyRecord([s.clone() for s in self.states])

    def state(self, key_id: int | None = None) -> SenderKeyState | None:
        if key_id is None:
            return self.states[-1] if self.states else None
        for state in reversed(self.states):
            if state.key_id == key_id:
                return state
        return None

    def to_bytes(self) -> bytes:
        w = _Writer(SENDER_KEY_MAGIC)
        w.u8(len(self.states))
        for s in self.states:
            w.u32(s.key_id)
            w.u32(s.iteration)
            w.blob(s.chain_key)
            w.blob(s.signing_public)
            w.opt_blob(s.signing_private)
            w.u16(len(s.message_keys))
            for iteration, seed in s.message_keys.items():
                w.u32(iteration)
                w.blob(seed)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SenderKeyRecord:
        r = _Reader(data, SENDER_KEY_MAGIC, "sender key record")
        states = []
        for _ in range(r.count(MAX_SENDER_KEY_STATES)):
            key_id = r.u32()
            iteration = r.u32()
            chain_key = r.blob(32)
            signing_public = r.blob(33)
            signing_private = r.opt_blob(32)
            keys: OrderedDict[int, bytes] = OrderedDict()
            for _ in range(r.count(MAX_SENDER_MESSAGE_KEYS, wide=True)):
                offset = r.pos
                it = r.u32()
                if it in keys:
                    raise DecodeError(f"sender key record: message key {it} stored twice", offset)
                keys[it] = r.blob(32)
            states.append(SenderKeyState(key_id, iteration, chain_key, signing_public, signing_private, keys))
        r.end()
        return cls(states)


# -- byte format -----------------------------------------------------------------------------------------


def _write_chain(w: _Writer, chain: Chain) -> None:
    w.opt_blob(chain.chain_key)
    w.u32(chain.index)
    w.u16(len(chain.skipped))
    for counter, seed in chain.skipped.items():
        w.u32(counter)
        w.blob(seed)


def _read_chain(r: _Reader) -> Chain:
    chain_key = r.opt_blob(32)
    index = r.u32()
    skipped: OrderedDict[int, bytes] = OrderedDict()
    for _ in range(r.count(MAX_SKIPPED_PER_CHAIN, wide=True)):
        offset = r.pos
        counter = r.u32()
        if counter in skipped:
            raise DecodeError(f"session record: skipped key {counter} stored twice", offset)
        skipped[counter] = r.blob(32)
    return Chain(chain_key, index, skipped)


def _write_state(w: _Writer, s: SessionState) -> None:
    w.blob(s.local_identity)
    w.blob(s.remote_identity)
    w.u32(s.remote_registration_id)
    w.blob(s.base_key)
    w.u8(1 if s.base_key_is_ours else 0)
    w.blob(s.root_key)
    w.blob(s.ratchet_key_pair.to_bytes())
    w.blob(s.last_remote_ratchet_key)
    w.u32(s.previous_counter)
    w.u8(1 if s.sending_chain else 0)
    if s.sending_chain:
        _write_chain(w, s.sending_chain)
    w.u8(len(s.receiving_chains))
    for rc in s.receiving_chains:
        w.blob(rc.ratchet_key)
        _write_chain(w, rc.chain)
    p = s.pending_pre_key
    w.u8(1 if p else 0)
    if p:
        w.u32(p.signed_pre_key_id)
        w.blob(p.base_key)
        w.u8(1 if p.pre_key_id is not None else 0)
        w.u32(p.pre_key_id or 0)


def _read_state(r: _Reader) -> SessionState:
    local_identity = r.blob(33)
    remote_identity = r.blob(33)
    registration_id = r.u32()
    base_key = r.blob(33)
    base_key_is_ours = r.flag()
    root_key = r.blob(32)
    offset = r.pos
    try:
        ratchet_key_pair = KeyPair.from_bytes(r.blob(64))
    except Exception as exc:  # CryptoError for a pair whose halves do not match
        raise DecodeError(f"session record: bad ratchet key pair ({exc})", offset) from None
    last_remote = r.blob(33)
    previous_counter = r.u32()
    sending = _read_chain(r) if r.flag() else None
    receiving = []
    for _ in range(r.count(MAX_RECEIVING_CHAINS)):
        ratchet_key = r.blob(33)
        receiving.append(ReceivingChain(ratchet_key, _read_chain(r)))
    pending = None
    if r.flag():
        signed_id = r.u32()
        pending_base = r.blob(33)
        has_one_time = r.flag()
        one_time_id = r.u32()
        pending = PendingPreKey(signed_id, pending_base, one_time_id if has_one_time else None)
    return SessionState(
        local_identity=local_identity,
        remote_identity=remote_identity,
        remote_registration_id=registration_id,
        base_key=base_key,
        base_key_is_ours=base_key_is_ours,
        root_key=root_key,
        ratchet_key_pair=ratchet_key_pair,
        last_remote_ratchet_key=last_remote,
        previous_counter=previous_counter,
        sending_chain=sending,
        receiving_chains=receiving,
        pending_pre_key=pending,
    )


class _Writer:
    def __init__(self, magic: bytes) -> None:
        self._parts: list[bytes] = [magic, bytes([FORMAT_VERSION])]

    def u8(self, v: int) -> None:
        self._parts.append(struct.pack(">B", v))

    def u16(self, v: int) -> None:
        self._parts.append(struct.pack(">H", v))

    def u32(self, v: int) -> None:
        if not 0 <= v <= 0xFFFFFFFF:  # only a counter run past 2**32 could get here
            raise EncodeError(f"record counter {v} does not fit 32 bits")
        self._parts.append(struct.pack(">I", v))

    def blob(self, data: bytes) -> None:
        self._parts.append(struct.pack(">B", len(data)) + data)

    def opt_blob(self, data: bytes | None) -> None:
        self.u8(0 if data is None else 1)
        if data is not None:
            self.blob(data)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class _Reader:
    def __init__(self, data: bytes, magic: bytes, what: str) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"{what}: expected bytes, got {type(data).__name__}")
        self._data = bytes(data)
        self._what = what
        self.pos = 0
        if self._take(len(magic)) != magic:
            raise DecodeError(f"{what}: bad magic (not a record of this kind)", 0)
        version = self.u8()
        if version != FORMAT_VERSION:
            raise DecodeError(f"{what}: unsupported format version {version}", len(magic))

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self._data):
            raise DecodeError(f"{self._what}: truncated (need {n} bytes)", self.pos)
        chunk = self._data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self._take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self._take(4), "big")

    def flag(self) -> bool:
        offset = self.pos
        v = self.u8()
        if v > 1:
            raise DecodeError(f"{self._what}: flag byte {v} is neither 0 nor 1", offset)
        return v == 1

    def count(self, limit: int, *, wide: bool = False) -> int:
        offset = self.pos
        n = struct.unpack(">H", self._take(2))[0] if wide else self.u8()
        if n > limit:
            raise DecodeError(f"{self._what}: count {n} exceeds the limit {limit}", offset)
        return n

    def blob(self, expected: int) -> bytes:
        offset = self.pos
        n = self.u8()
        if n != expected:
            raise DecodeError(f"{self._what}: field of {n} bytes where {expected} were expected", offset)
        return self._take(n)

    def opt_blob(self, expected: int) -> bytes | None:
        return self.blob(expected) if self.flag() else None

    def end(self) -> None:
        if self.pos != len(self._data):
            raise DecodeError(f"{self._what}: {len(self._data) - self.pos} trailing bytes", self.pos)
