"""XEdDSA sign/verify and Noise handshake timings (pure Python side). Run: .venv/bin/python bench/crypto.py"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loguru import logger

from whatsapp import xeddsa
from whatsapp.certs import verify_cert_chain
from whatsapp.keys import KeyPair
from whatsapp.noise import WA_HEADER, ClientHandshake, FrameReader, encode_frame
from whatsapp.testing.certauthority import CertificateAuthority
from whatsapp.testing.noise_responder import ClientStream, NoiseResponder


def _time(label: str, fn: Callable[[], object], rounds: int) -> None:
    fn()
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    per = (time.perf_counter() - start) / rounds
    print(f"{label:<44} {per * 1e3:8.3f} ms  ({rounds} rounds)")


def main() -> None:
    logger.remove()
    kp = KeyPair.generate()
    message = b"\x05" + KeyPair.generate().public
    signature = xeddsa.sign(kp.private, message)
    _time("xeddsa.sign (33-byte message)", lambda: xeddsa.sign(kp.private, message), 1000)
    _time("xeddsa.verify (33-byte message)", lambda: xeddsa.verify(kp.public, message, signature), 1000)

    ca = CertificateAuthority()
    static = KeyPair.generate()
    chain = ca.issue_chain(static.public)
    _time("certs.verify_cert_chain", lambda: verify_cert_chain(chain, static.public, ca.root_public_key), 500)
    _time("CertificateAuthority.issue_chain", lambda: ca.issue_chain(static.public), 500)
    noise_key = KeyPair.generate()

    def handshake() -> None:
        client = ClientHandshake(noise_key, root_public_key=ca.root_public_key)
        reader = ClientStream()
        (hello,) = reader.feed(client.start())
        server = NoiseResponder(static.private, chain, prologue=WA_HEADER)
        (server_hello,) = FrameReader().feed(server.read_client_hello(hello))
        client.process_server_hello(server_hello)
        finish, _ = client.finish(b"payload" * 40)
        (frame,) = reader.feed(finish)
        server.read_client_finish(frame)

    _time("full Noise handshake, both sides + cert check", handshake, 300)

    client_side = ClientHandshake(noise_key, root_public_key=ca.root_public_key)
    server_side = NoiseResponder(static.private, chain, prologue=WA_HEADER)
    (hello,) = ClientStream().feed(client_side.start())
    (server_hello,) = FrameReader().feed(server_side.read_client_hello(hello))
    client_side.process_server_hello(server_hello)
    _finish, transport = client_side.finish(b"x")
    payload = b"\x00" + b"n" * 1000
    _time("NoiseTransport.encrypt + frame (1 KB)", lambda: encode_frame(transport.encrypt(payload)), 20000)
    reader = FrameReader()
    stream = b"".join(encode_frame(b"f" * 200) for _ in range(1000))
    _time("FrameReader.feed, 1000 x 200-byte frames", lambda: reader.feed(stream), 200)


if __name__ == "__main__":
    main()
