"""The server's Noise certificate chain, as the client verifies it (the emulated server issues its chains with
its own authority, whatsapp/testing/certauthority.py).

See docs/protocol.md §Certificate chain.

During the handshake the server proves that its static Noise key is vouched for by WhatsApp: the
ServerHello payload decrypts to a `CertChain{leaf, intermediate}`. The intermediate is signed
(XEdDSA) by the long-term root key "WhatsAppLongTerm1" (issuer serial 0), the leaf by the
intermediate, and the leaf's key must be the static key the server just used in the handshake.

Baileys checks only part of this (and its `Curve.verify` accepts any signature), so we follow
whatsmeow's stricter `verifyServerCert`, and add nothing that the real server would fail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from whatsapp import xeddsa
from whatsapp.cipher import constant_time_equal
from whatsapp.errors import CertificateError
from whatsapp.keys import DJB_TYPE
from whatsapp.proto import cert_pb2

WA_ROOT_PUBLIC_KEY = bytes.fromhex("142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b")
WA_ROOT_ISSUER_SERIAL = 0

_Certificate = cert_pb2.CertChain.NoiseCertificate
_Details = cert_pb2.CertChain.NoiseCertificate.Details


@dataclass(frozen=True, slots=True)
class CertificateDetails:
    """One certificate's signed details (times are Unix seconds)."""

    serial: int
    issuer_serial: int
    key: bytes
    not_before: int
    not_after: int

    def to_bytes(self) -> bytes:
        return _Details(
            serial=self.serial,
            issuerSerial=self.issuer_serial,
            key=self.key,
            notBefore=self.not_before,
            notAfter=self.not_after,
        ).SerializeToString()


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    intermediate: CertificateDetails
    leaf: CertificateDetails


def _parse_details(data: bytes, which: str) -> CertificateDetails:
    details = _Details()
    try:
        details.ParseFromString(data)
    except (ProtobufDecodeError, ValueError) as exc:
        raise CertificateError(f"{which} certificate details do not parse: {exc}") from None
    return CertificateDetails(
        serial=details.serial,
        issuer_serial=details.issuerSerial,
        key=details.key,
        not_before=details.notBefore,
        not_after=details.notAfter,
    )


def _check_validity(details: CertificateDetails, now: float, which: str) -> None:
    if now < details.not_before:
        raise CertificateError(f"{which} certificate is not valid yet (notBefore {details.not_before}, now {int(now)})")
    if now > details.not_after:
        raise CertificateError(f"{which} certificate expired (notAfter {details.not_after}, now {int(now)})")


def verify_cert_chain(
    chain_bytes: bytes,
    server_static_pub: bytes,
    root_public_key: bytes = WA_ROOT_PUBLIC_KEY,
    now: float | None = None,
) -> VerifiedChain:
    """Check a serialized CertChain the way whatsmeow does; raises CertificateError naming the failed check.

    `server_static_pub` is the static key decrypted from the ServerHello; `now` is Unix seconds
    (defaults to the current time). Returns the parsed details of both certificates.
    """
    chain = cert_pb2.CertChain()
    try:
        chain.ParseFromString(chain_bytes)
    except (ProtobufDecodeError, ValueError) as exc:
        raise CertificateError(f"certificate chain does not parse: {exc}") from None
    for which, cert in (("intermediate", chain.intermediate), ("leaf", chain.leaf)):
        if not cert.HasField("details") or not cert.HasField("signature"):
            raise CertificateError(f"{which} certificate is missing its details or signature")
        if len(cert.signature) != xeddsa.SIGNATURE_LENGTH:
            raise CertificateError(f"{which} certificate signature is {len(cert.signature)} bytes, expected 64")

    if not xeddsa.verify(root_public_key, chain.intermediate.details, chain.intermediate.signature):
        raise CertificateError("intermediate certificate is not signed by the root key")
    intermediate = _parse_details(chain.intermediate.details, "intermediate")
    if intermediate.issuer_serial != WA_ROOT_ISSUER_SERIAL:
        raise CertificateError(
            f"intermediate certificate issuer serial is {intermediate.issuer_serial}, expected {WA_ROOT_ISSUER_SERIAL}"
        )
    if len(intermediate.key) != 32:
        raise CertificateError(f"intermediate certificate key is {len(intermediate.key)} bytes, expected 32")

    if not xeddsa.verify(intermediate.key, chain.leaf.details, chain.leaf.signature):
        raise CertificateError("leaf certificate is not signed by the intermediate key")
    leaf = _parse_details(chain.leaf.details, "leaf")
    if leaf.issuer_serial != intermediate.serial:
        raise CertificateError(
            f"leaf certificate issuer serial {leaf.issuer_serial} does not match"
            f" intermediate serial {intermediate.serial}"
        )

    now = time.time() if now is None else now
    _check_validity(intermediate, now, "intermediate")
    _check_validity(leaf, now, "leaf")

    static = server_static_pub
    if len(static) == 33 and static[0] == DJB_TYPE:
        static = static[1:]
    if not constant_time_equal(leaf.key, static):
        raise CertificateError("leaf certificate key does not match the server's static Noise key")
    return VerifiedChain(intermediate=intermediate, leaf=leaf)
