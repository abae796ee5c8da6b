"""Seeded fuzzing: the frame readers and the handshake processors (the client's, and the emulator's
responder in whatsapp/testing/noise_responder.py) raise only the project's own errors."""

from __future__ import annotations

import random
from collections.abc import Callable

from whatsapp.errors import CryptoError, DecodeError, HandshakeError
from whatsapp.keys import KeyPair
from whatsapp.noise import WA_HEADER, ClientHandshake, FrameReader, encode_frame
from whatsapp.proto import wa6_pb2
from whatsapp.testing.certauthority import CertificateAuthority
from whatsapp.testing.noise_responder import ClientStream, NoiseResponder

FRAME_READER_CASES = 100_000
HANDSHAKE_CASES = 1_500


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip bits
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 2:  # delete a run
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3:  # truncate
            del buf[pos:]
        elif buf:  # overwrite with an interesting byte (length bytes, magic)
            buf[pos % len(buf)] = rng.choice([0x00, 0xFF, 0x7F, 0x80, ord("E"), ord("W")])
    return bytes(buf)


def _valid_stream(rng: random.Random, server_side: bool) -> bytes:
    frames = b"".join(encode_frame(rng.randbytes(rng.choice([0, 1, 5, 40, 300]))) for _ in range(rng.randint(1, 4)))
    if not server_side:
        return frames
    if rng.random() < 0.5:
        routing = rng.randbytes(rng.randint(0, 20))
        return b"ED\x00\x01" + len(routing).to_bytes(3, "big") + routing + WA_HEADER + frames
    return WA_HEADER + frames


def test_frame_reader_survives_random_and_mutated_streams() -> None:
    rng = random.Random(20261124)
    outcomes = {"frames": 0, "errors": 0}
    for case in range(FRAME_READER_CASES):
        server_side = case % 2 == 0
        kind = rng.randrange(3)
        if kind == 0:
            data = rng.randbytes(rng.randint(0, 64))
        else:
            data = _valid_stream(rng, server_side)
            if kind == 2:
                data = _mutate(rng, data)
        limit = rng.choice([2**24 - 1, 1000, 64])
        reader: FrameReader | ClientStream = ClientStream(limit) if server_side else FrameReader(max_frame_size=limit)
        pos = 0
        try:
            while pos < len(data):
                step = rng.randint(1, max(1, len(data) // 2))
                for frame in reader.feed(data[pos : pos + step]):
                    assert isinstance(frame, bytes)
                    outcomes["frames"] += 1
                pos += step
            assert reader.buffered <= len(data)
        except DecodeError:
            outcomes["errors"] += 1
    # Both paths were exercised heavily.
    assert outcomes["frames"] > 10_000 and outcomes["errors"] > 1_000


def _handshake_material() -> dict[str, bytes | CertificateAuthority | KeyPair]:
    ca = CertificateAuthority()
    static = KeyPair.generate()
    chain = ca.issue_chain(static.public)
    client = ClientHandshake(KeyPair.generate(), root_public_key=ca.root_public_key)
    reader = ClientStream()
    (hello,) = reader.feed(client.start())
    server = NoiseResponder(static.private, chain, prologue=WA_HEADER)
    (server_hello,) = FrameReader().feed(server.read_client_hello(hello))
    client.process_server_hello(server_hello)
    finish_bytes, _ = client.finish(b"\x08\x01payload")
    (finish,) = reader.feed(finish_bytes)
    return {"ca": ca, "static": static, "chain": chain, "hello": hello, "server_hello": server_hello, "finish": finish}


def _same_message(a: bytes, b: bytes) -> bool:
    """Whether two HandshakeMessages carry the same known fields (unknown fields are ignored by design)."""
    first, second = wa6_pb2.HandshakeMessage.FromString(a), wa6_pb2.HandshakeMessage.FromString(b)
    first.DiscardUnknownFields()
    second.DiscardUnknownFields()
    return first == second


def _fuzz(rng: random.Random, valid: bytes, attempt: Callable[[bytes], object], *, only_identical: bool) -> int:
    """Feeds random and mutated messages; returns how many were rejected (with the project's own errors only).

    With `only_identical`, an accepted input must be the valid message in disguise (same fields):
    every real change to a serverHello/clientFinish must break an AES-GCM tag or a check.
    """
    rejected = 0
    for i in range(HANDSHAKE_CASES):
        data = rng.randbytes(rng.randint(0, 120)) if i % 3 == 0 else _mutate(rng, valid)
        try:
            attempt(data)
        except (HandshakeError, CryptoError, DecodeError):
            rejected += 1
        else:
            if only_identical:
                assert _same_message(data, valid), data.hex()
    return rejected


def test_handshake_processors_raise_only_project_errors() -> None:
    rng = random.Random(424242)
    m = _handshake_material()
    ca, static, chain = m["ca"], m["static"], m["chain"]

    def client_side(data: bytes) -> object:
        client = ClientHandshake(KeyPair.generate(), root_public_key=ca.root_public_key)
        client.start()
        return client.process_server_hello(data)

    def server_hello_side(data: bytes) -> object:
        return NoiseResponder(static.private, chain, prologue=WA_HEADER).read_client_hello(data)

    def server_finish_side(data: bytes) -> object:
        server = NoiseResponder(static.private, chain, prologue=WA_HEADER)
        server.read_client_hello(m["hello"])
        return server.read_client_finish(data)

    assert _fuzz(rng, m["server_hello"], client_side, only_identical=True) > HANDSHAKE_CASES // 2
    assert _fuzz(rng, m["finish"], server_finish_side, only_identical=True) > HANDSHAKE_CASES // 2
    # A mutated clientHello can still be a valid one (e.g. a different ephemeral), so only the error types matter.
    assert _fuzz(rng, m["hello"], server_hello_side, only_identical=False) > 0
