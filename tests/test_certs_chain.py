"""verify_cert_chain: every whatsmeow check, one failing chain each, against chains issued by the emulator's
certificate authority (whatsapp/testing/certauthority.py, written independently of the verifier)."""

from __future__ import annotations

import time

import pytest

from whatsapp import xeddsa
from whatsapp.certs import WA_ROOT_PUBLIC_KEY, CertificateDetails, verify_cert_chain
from whatsapp.errors import CertificateError, HandshakeError
from whatsapp.keys import KeyPair, prefixed
from whatsapp.proto import cert_pb2
from whatsapp.testing.certauthority import CertificateAuthority


def test_root_key_constant() -> None:
    assert WA_ROOT_PUBLIC_KEY.hex() == "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"


def test_issued_chain_verifies_for_real() -> None:
    ca = CertificateAuthority(intermediate_serial=42)
    static = KeyPair.generate()
    chain_bytes = ca.issue_chain(static.public)
    verified = verify_cert_chain(chain_bytes, static.public, ca.root_public_key)
    assert verified.intermediate.serial == 42 and verified.intermediate.issuer_serial == 0
    assert verified.leaf.issuer_serial == 42 and verified.leaf.key == static.public
    assert verify_cert_chain(chain_bytes, prefixed(static.public), ca.root_public_key).leaf.key == static.public
    # The signatures are real XEdDSA signatures (checked independently of verify_cert_chain).
    chain = cert_pb2.CertChain.FromString(chain_bytes)
    assert xeddsa.verify(ca.root_public_key, chain.intermediate.details, chain.intermediate.signature)
    assert xeddsa.verify(ca.intermediate_key.public, chain.leaf.details, chain.leaf.signature)
    assert CertificateError.__mro__[1] is HandshakeError


def _chain(ca: CertificateAuthority, static: KeyPair) -> cert_pb2.CertChain:
    return cert_pb2.CertChain.FromString(ca.issue_chain(static.public))


def _reject(chain: cert_pb2.CertChain | bytes, static: KeyPair, root: bytes, match: str, now: float | None = None):
    data = chain if isinstance(chain, bytes) else chain.SerializeToString()
    with pytest.raises(CertificateError, match=match):
        verify_cert_chain(data, static.public, root, now=now)


def test_missing_parts_and_bad_signature_lengths() -> None:
    ca, static = CertificateAuthority(), KeyPair.generate()
    for which in ("leaf", "intermediate"):
        for field in ("details", "signature"):
            chain = _chain(ca, static)
            getattr(chain, which).ClearField(field)
            _reject(chain, static, ca.root_public_key, f"{which} certificate is missing")
        chain = _chain(ca, static)
        getattr(chain, which).signature = getattr(chain, which).signature[:63]
        _reject(chain, static, ca.root_public_key, f"{which} certificate signature is 63 bytes")
    _reject(b"", static, ca.root_public_key, "missing")
    _reject(b"\x0a\x05\x01", static, ca.root_public_key, "does not parse")


def test_tampered_signatures_and_details() -> None:
    ca, static = CertificateAuthority(), KeyPair.generate()
    chain = _chain(ca, static)
    chain.intermediate.signature = bytes(64)
    _reject(chain, static, ca.root_public_key, "not signed by the root")
    chain = _chain(ca, static)
    chain.leaf.signature = chain.leaf.signature[:10] + bytes([chain.leaf.signature[10] ^ 1]) + chain.leaf.signature[11:]
    _reject(chain, static, ca.root_public_key, "not signed by the intermediate")
    chain = _chain(ca, static)
    chain.leaf.details = chain.leaf.details + b"\x28\x01"  # append notAfter=1 after signing
    _reject(chain, static, ca.root_public_key, "not signed by the intermediate")


def test_intermediate_issuer_serial_must_be_zero() -> None:
    ca, static = CertificateAuthority(intermediate_issuer_serial=3), KeyPair.generate()
    _reject(_chain(ca, static), static, ca.root_public_key, "issuer serial is 3, expected 0")


def test_intermediate_key_must_be_32_bytes() -> None:
    root, static = KeyPair.generate(), KeyPair.generate()
    now = int(time.time())
    details = CertificateDetails(1, 0, b"\x05" + KeyPair.generate().public, now - 10, now + 10).to_bytes()
    chain = cert_pb2.CertChain(
        intermediate=cert_pb2.CertChain.NoiseCertificate(details=details, signature=xeddsa.sign(root.private, details)),
        leaf=cert_pb2.CertChain.NoiseCertificate(details=b"\x08\x02", signature=bytes(64)),
    )
    _reject(chain, static, root.public, "intermediate certificate key is 33 bytes")


def test_validity_windows() -> None:
    now = int(time.time())
    static = KeyPair.generate()
    ca = CertificateAuthority()
    chain = ca.issue_chain(static.public, not_before=now + 100, not_after=now + 200)
    _reject(chain, static, ca.root_public_key, "leaf certificate is not valid yet")
    assert verify_cert_chain(chain, static.public, ca.root_public_key, now=now + 150)
    _reject(chain, static, ca.root_public_key, "leaf certificate expired", now=now + 201)
    old = CertificateAuthority(intermediate_not_before=now - 100, intermediate_not_after=now - 1)
    _reject(old.issue_chain(static.public), static, old.root_public_key, "intermediate certificate expired")
    future = CertificateAuthority(intermediate_not_before=now + 50, intermediate_not_after=now + 500)
    _reject(future.issue_chain(static.public), static, future.root_public_key, "intermediate certificate is not valid")


def test_serial_link_and_leaf_key() -> None:
    ca, static = CertificateAuthority(intermediate_serial=9), KeyPair.generate()
    _reject(ca.issue_chain(static.public, leaf_issuer_serial=1), static, ca.root_public_key, "issuer serial 1")
    _reject(ca.issue_chain(KeyPair.generate().public), static, ca.root_public_key, "static Noise key")
    _reject(ca.issue_chain(static.public), static, CertificateAuthority().root_public_key, "root")
