"""The client's initiator against the emulator's responder (written independently from the Noise
specification, whatsapp/testing/noise_responder.py), plus the handshake's failure modes."""

from __future__ import annotations

import time

import pytest

from whatsapp.errors import CertificateError, CryptoError, DecodeError, EncodeError, HandshakeError
from whatsapp.keys import KeyPair
from whatsapp.noise import (
    MAX_FRAME_SIZE,
    WA_HEADER,
    ClientHandshake,
    FrameReader,
    NoiseTransport,
    encode_frame,
)
from whatsapp.proto import wa6_pb2
from whatsapp.testing.certauthority import CertificateAuthority
from whatsapp.testing.noise_responder import ClientStream, NoiseResponder


def _run_handshake(
    ca: CertificateAuthority,
    *,
    chain: bytes | None = None,
    server_static: KeyPair | None = None,
    root: bytes | None = None,
    routing_info: bytes | None = None,
    payload: bytes = b"\x08\x01client-payload",
):
    server_static = server_static or KeyPair.generate()
    chain = chain if chain is not None else ca.issue_chain(server_static.public)
    noise_key = KeyPair.generate()
    client = ClientHandshake(noise_key, root_public_key=root or ca.root_public_key, routing_info=routing_info)
    server_reader = ClientStream()
    client_reader = FrameReader()

    first = client.start()
    (hello,) = server_reader.feed(first)
    assert server_reader.header is not None
    server = NoiseResponder(server_static.private, chain, prologue=server_reader.header)
    (server_hello,) = client_reader.feed(server.read_client_hello(hello))
    client.process_server_hello(server_hello)
    finish_bytes, client_transport = client.finish(payload)
    (finish,) = server_reader.feed(finish_bytes)
    result = server.read_client_finish(finish)
    assert result.client_static == noise_key.public
    assert result.client_payload == payload
    assert client.server_static == server_static.public
    return client, result, client_transport, server_reader, client_reader, first


def test_python_initiator_and_responder_exchange_frames_both_ways() -> None:
    ca = CertificateAuthority()
    _client, result, client_transport, server_reader, client_reader, first = _run_handshake(ca)
    assert first.startswith(WA_HEADER + b"\x00\x00\x24\x12\x22\x0a\x20")
    assert len(first) == 43
    server_transport = result.transport
    for i in range(5):
        up = f"client frame {i}".encode() * (i + 1)
        (frame,) = server_reader.feed(encode_frame(client_transport.encrypt(up)))
        assert server_transport.decrypt(frame) == up
        down = f"server frame {i}".encode()
        (frame,) = client_reader.feed(encode_frame(server_transport.encrypt(down)))
        assert client_transport.decrypt(frame) == down
    assert client_transport.write_counter == server_transport.read_counter == 5


def test_routing_info_prefix_is_stripped_and_not_in_prologue() -> None:
    ca = CertificateAuthority()
    routing = bytes(range(200))
    _c, _r, _t, server_reader, _cr, first = _run_handshake(ca, routing_info=routing)
    assert first.startswith(b"ED\x00\x01\x00\x00\xc8" + routing + WA_HEADER)
    assert server_reader.routing_info == routing
    assert server_reader.header == WA_HEADER


def test_transport_rejects_tampered_and_replayed_frames() -> None:
    ca = CertificateAuthority()
    _c, result, client_transport, *_ = _run_handshake(ca)
    ciphertext = bytearray(client_transport.encrypt(b"hello"))
    ciphertext[2] ^= 1
    with pytest.raises(CryptoError):
        result.transport.decrypt(bytes(ciphertext))
    # The counter moved on, so the next genuine frame still decrypts.
    good = client_transport.encrypt(b"next")
    assert result.transport.decrypt(good) == b"next"
    with pytest.raises(CryptoError):  # replay: the counter no longer matches
        result.transport.decrypt(good)
    with pytest.raises(CryptoError):
        result.transport.decrypt(b"short")


def test_transport_directions_use_independent_keys() -> None:
    transport = NoiseTransport(b"\x01" * 32, b"\x02" * 32)
    with pytest.raises(CryptoError):
        transport.decrypt(transport.encrypt(b"loopback"))
    with pytest.raises(CryptoError):
        NoiseTransport(b"\x01" * 31, b"\x02" * 32)


def _expect_certificate_error(match: str, **kwargs) -> None:
    with pytest.raises(CertificateError, match=match):
        _run_handshake(CertificateAuthority(), **kwargs)


def test_chain_signed_by_another_root_is_rejected() -> None:
    static = KeyPair.generate()
    other = CertificateAuthority()
    _expect_certificate_error("not signed by the root", server_static=static, chain=other.issue_chain(static.public))


def test_real_wa_root_rejects_our_test_chain() -> None:
    # The default root is WhatsApp's; a chain from our test CA must not pass it.
    with pytest.raises(CertificateError, match="root"):
        ca = CertificateAuthority()
        static = KeyPair.generate()
        client = ClientHandshake(KeyPair.generate())
        (hello,) = ClientStream().feed(client.start())
        reply = NoiseResponder(static.private, ca.issue_chain(static.public), prologue=WA_HEADER).read_client_hello(
            hello)
        (server_hello,) = FrameReader().feed(reply)
        client.process_server_hello(server_hello)


def test_expired_chain_is_rejected() -> None:
    static = KeyPair.generate()
    ca = CertificateAuthority()
    now = int(time.time())
    expired = ca.issue_chain(static.public, not_before=now - 1000, not_after=now - 10)
    _expect_certificate_error("leaf certificate expired", server_static=static, chain=expired, root=ca.root_public_key)


def test_broken_serial_link_is_rejected() -> None:
    static = KeyPair.generate()
    ca = CertificateAuthority(intermediate_serial=7)
    chain = ca.issue_chain(static.public, leaf_issuer_serial=8)
    _expect_certificate_error(
        "does not match intermediate serial", server_static=static, chain=chain, root=ca.root_public_key
    )


def test_leaf_for_another_key_is_rejected() -> None:
    static = KeyPair.generate()
    ca = CertificateAuthority()
    chain = ca.issue_chain(KeyPair.generate().public)
    _expect_certificate_error("static Noise key", server_static=static, chain=chain, root=ca.root_public_key)


def test_garbage_chain_is_rejected() -> None:
    ca = CertificateAuthority()
    _expect_certificate_error("certificate", chain=b"\xff\xff\xff", root=ca.root_public_key)


def test_client_rejects_bad_server_hello_parts() -> None:
    client = ClientHandshake(KeyPair.generate())
    client.start()
    bad = wa6_pb2.HandshakeMessage(serverHello=wa6_pb2.HandshakeMessage.ServerHello(ephemeral=b"\x01" * 31))
    with pytest.raises(HandshakeError, match="ephemeral"):
        client.process_server_hello(bad.SerializeToString())
    with pytest.raises(HandshakeError, match="step"):  # a failed handshake cannot be resumed
        client.process_server_hello(bad.SerializeToString())


def test_server_rejects_client_finish_tampering() -> None:
    ca = CertificateAuthority()
    static = KeyPair.generate()
    client = ClientHandshake(KeyPair.generate(), root_public_key=ca.root_public_key)
    reader = ClientStream()
    (hello,) = reader.feed(client.start())
    server = NoiseResponder(static.private, ca.issue_chain(static.public), prologue=WA_HEADER)
    (server_hello,) = FrameReader().feed(server.read_client_hello(hello))
    client.process_server_hello(server_hello)
    finish_bytes, _ = client.finish(b"payload")
    (finish,) = reader.feed(finish_bytes)
    message = wa6_pb2.HandshakeMessage.FromString(finish)
    message.clientFinish.payload = message.clientFinish.payload[:-1] + bytes([message.clientFinish.payload[-1] ^ 1])
    with pytest.raises(HandshakeError, match="client payload"):
        server.read_client_finish(message.SerializeToString())


def test_server_refuses_other_dictionary_versions() -> None:
    with pytest.raises(HandshakeError, match="intro header"):
        NoiseResponder(KeyPair.generate().private, b"", prologue=b"WA\x06\x02")


def test_encode_frame_limits() -> None:
    assert encode_frame(b"") == b"\x00\x00\x00"
    assert encode_frame(b"x" * 300)[:3] == b"\x00\x01\x2c"
    with pytest.raises(EncodeError):
        encode_frame(b"\x00" * (MAX_FRAME_SIZE + 1))


def test_frame_reader_split_and_packed() -> None:
    frames = [b"", b"a", b"b" * 70000, b"c" * 5]
    stream = b"".join(encode_frame(f) for f in frames)
    for chunk in (1, 2, 3, 7, 1000, len(stream)):
        reader = FrameReader()
        got = []
        for i in range(0, len(stream), chunk):
            got += reader.feed(stream[i : i + chunk])
        assert got == frames
        assert reader.buffered == 0


def test_frame_reader_server_intro_split_anywhere() -> None:
    routing = b"\x08\x02\x08\x05"
    stream = b"ED\x00\x01\x00\x00\x04" + routing + WA_HEADER + encode_frame(b"hello") + encode_frame(b"world")
    for cut in range(len(stream) + 1):
        reader = ClientStream()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert got == [b"hello", b"world"]
        assert reader.routing_info == routing and reader.header == WA_HEADER


def test_frame_reader_errors_are_sticky() -> None:
    reader = ClientStream()
    with pytest.raises(DecodeError):
        reader.feed(b"XX\x06\x03")
    with pytest.raises(DecodeError):
        reader.feed(WA_HEADER)
    small = FrameReader(max_frame_size=10)
    with pytest.raises(DecodeError, match="exceeds"):
        small.feed(b"\x00\x00\x0b")


def test_oversized_stanza_is_refused_before_the_counter_moves() -> None:
    _client, result, client_transport, server_reader, _client_reader, _first = _run_handshake(CertificateAuthority())
    with pytest.raises(EncodeError):
        client_transport.encrypt(b"\x00" * MAX_FRAME_SIZE)
    assert client_transport.write_counter == 0
    # the stream is still in step: the next frame decrypts on the other side
    (frame,) = server_reader.feed(encode_frame(client_transport.encrypt(b"after")))
    assert result.transport.decrypt(frame) == b"after"
