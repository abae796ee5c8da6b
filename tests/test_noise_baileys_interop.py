"""A real Baileys client completes the Noise handshake against the emulator's responder and certificate
authority (whatsapp/testing/noise_responder.py, certauthority.py: written from the Noise specification,
independently of our client), so both are checked against a third implementation.

Minimal harness, not the emulator: an asyncio `websockets` server that answers the handshake, decodes the
registration ClientPayload, sends `<iq><pair-device>` as a transport frame and reads Baileys' `<iq type=result>`
reply. The Node side prints the QR Baileys emits, which must carry the same ref and the Noise key that came
through the handshake.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve

from whatsapp import xeddsa
from whatsapp.binary import Node, decode_node, encode_node
from whatsapp.certs import verify_cert_chain
from whatsapp.jid import SERVER_JID
from whatsapp.keys import KeyPair
from whatsapp.noise import WA_HEADER
from whatsapp.proto import wa6_pb2
from whatsapp.testing.certauthority import CertificateAuthority
from whatsapp.testing.harness.nodejs import run_node
from whatsapp.testing.noise_responder import ClientStream, NoiseResponder, frame

PAIR_IQ_ID = "crypto-test-pair-1"
REFS = [b"2@crypto-test-ref-one", b"2@crypto-test-ref-two"]


@dataclass
class Seen:
    path: str = ""
    origin: str | None = None
    header: bytes | None = None
    routing_info: bytes | None = None
    client_static: bytes = b""
    payload: wa6_pb2.ClientPayload | None = None
    reply: Node | None = None
    other_nodes: list[Node] = field(default_factory=list)
    error: BaseException | None = None


async def _serve_one(ws: ServerConnection, ca: CertificateAuthority, static: KeyPair, seen: Seen) -> None:
    seen.path = ws.request.path
    seen.origin = ws.request.headers.get("Origin")
    reader = ClientStream()
    pending: list[bytes] = []

    async def next_frame() -> bytes:
        while not pending:
            pending.extend(reader.feed(await ws.recv()))
        return pending.pop(0)

    try:
        hello = await next_frame()
        seen.header, seen.routing_info = reader.header, reader.routing_info
        server = NoiseResponder(static.private, ca.issue_chain(static.public), prologue=reader.header or b"")
        await ws.send(server.read_client_hello(hello))
        finished = server.read_client_finish(await next_frame())
        seen.client_static = finished.client_static
        seen.payload = wa6_pb2.ClientPayload.FromString(finished.client_payload)
        transport = finished.transport

        iq = Node(
            "iq",
            {"type": "set", "xmlns": "md", "id": PAIR_IQ_ID, "from": "s.whatsapp.net"},
            [Node("pair-device", {}, [Node("ref", {}, ref) for ref in REFS])],
        )
        await ws.send(frame(transport.encrypt(encode_node(iq))))
        while seen.reply is None:
            node = decode_node(transport.decrypt(await next_frame()))
            if node.tag == "iq" and node.attr("id") == PAIR_IQ_ID:
                seen.reply = node
            else:
                seen.other_nodes.append(node)
        await ws.wait_closed()
    except Exception as exc:  # reported by the test, which also sees Node's output
        seen.error = exc


async def _run_baileys(
    package: str, routing_info: bytes | None
) -> tuple[Seen, list[dict], CertificateAuthority, KeyPair]:
    ca, static, seen = CertificateAuthority(), KeyPair.generate(), Seen()
    async with serve(lambda ws: _serve_one(ws, ca, static, seen), "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        args = [package, f"ws://127.0.0.1:{port}/ws/chat", ca.root_public_key.hex()]
        if routing_info:
            args.append(routing_info.hex())
        out = await asyncio.to_thread(run_node, "crypto_baileys_handshake.mjs", *args, timeout=60)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return seen, events, ca, static


@pytest.mark.node
@pytest.mark.parametrize(
    ("package", "routing_info"),
    [
        ("baileys", None),
        ("baileys", b"\x08\x01\x08\x02\x10\x63"),
        ("@whiskeysockets/baileys", None),
    ],
    ids=["b7", "b7-routing-prefix", "b6"],
)
async def test_real_baileys_client_handshake_and_transport(package: str, routing_info: bytes | None) -> None:
    seen, events, ca, static = await _run_baileys(package, routing_info)
    assert seen.error is None, repr(seen.error)
    creds = next(e for e in events if e["event"] == "creds")
    qr = next(e for e in events if e["event"] == "qr")["qr"]

    assert seen.path == "/ws/chat"
    assert seen.origin == "https://web.whatsapp.com"
    assert seen.header == WA_HEADER
    assert seen.routing_info == routing_info
    # The handshake delivered Baileys' long-term noise key and a registration ClientPayload.
    assert seen.client_static.hex() == creds["noise"]
    assert seen.payload is not None and seen.payload.HasField("devicePairingData")
    pairing = seen.payload.devicePairingData
    assert pairing.eIdent.hex() == creds["identity"]
    assert int.from_bytes(pairing.eRegid, "big") == creds["registrationId"]
    # Baileys' signed-prekey signature (libsignal XEdDSA) verifies in Python, and only over the right key.
    assert xeddsa.verify(pairing.eIdent, b"\x05" + pairing.eSkeyVal, pairing.eSkeySig)
    assert not xeddsa.verify(pairing.eIdent, b"\x05" + pairing.eSkeyVal[::-1], pairing.eSkeySig)
    # Transport both ways: Baileys decrypted our iq and answered it through its own cipher.
    assert seen.reply is not None and seen.reply.attr("type") == "result"
    assert seen.reply.attr("to") == SERVER_JID
    # ... and turned the first ref into its QR, alongside the same noise key.
    # b7: https://wa.me/settings/linked_devices#ref,noise,ident,adv,platform; b6: ref,noise,ident,adv
    # (docs/protocol.md §Client quirks)
    ref, noise_b64, identity_b64, *_ = qr.split("#", 1)[-1].split(",")
    assert ref.encode() == REFS[0]
    assert base64.b64decode(noise_b64) == seen.client_static
    assert base64.b64decode(identity_b64).hex() == creds["identity"]
    # The chain Baileys accepted verifies for real in Python (Baileys' own check is a no-op:
    # docs/protocol.md §Client quirks).
    assert verify_cert_chain(ca.issue_chain(static.public), static.public, ca.root_public_key).leaf.key == static.public
