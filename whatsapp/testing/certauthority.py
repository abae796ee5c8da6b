"""The emulated server's certificate authority: a root → intermediate → leaf chain for its Noise key.

What the real WhatsApp server sends as the ServerHello payload (docs/protocol.md §Certificate chain;
whatsmeow `handshake.go` verifyServerCert is the checking side): a `CertChain{leaf, intermediate}`,
each certificate `{details, signature}`, the details a `{serial, issuerSerial, key, notBefore,
notAfter}` protobuf. The root signs the intermediate's details (issuer serial 0, the root's), the
intermediate signs the leaf's (issuer serial = the intermediate's serial); the leaf's key is the
server's static Noise key. Signatures are XEdDSA over the serialized details.

This is the issuing side only, built from that description and independent of the client's verifier
(`whatsapp/certs.py`), so the interop tests check one against the other. Tests use the knobs to issue
chains a client must refuse.
"""

from __future__ import annotations

import time

from whatsapp import xeddsa
from whatsapp.keys import KeyPair
from whatsapp.proto import cert_pb2

ROOT_SERIAL = 0  # the issuer serial of anything the root signs

NoiseCertificate = cert_pb2.CertChain.NoiseCertificate


def _certificate(signer: KeyPair, *, serial: int, issuer: int, key: bytes, not_before: int,
                 not_after: int) -> NoiseCertificate:
    details = NoiseCertificate.Details(serial=serial, issuerSerial=issuer, key=key, notBefore=not_before,
                                       notAfter=not_after).SerializeToString()
    return NoiseCertificate(details=details, signature=xeddsa.sign(signer.private, details))


class CertificateAuthority:
    """A fresh root and intermediate; `issue_chain(static_public)` certifies a server's Noise key.

    Clients under test are told to trust `root_public_key` instead of WhatsApp's "WhatsAppLongTerm1".
    """

    INTERMEDIATE_LIFETIME = 365 * 24 * 3600
    LEAF_LIFETIME = 30 * 24 * 3600
    BACKDATE = 24 * 3600  # certificates start a day early, so a skewed client clock still accepts them

    def __init__(
        self,
        root: KeyPair | None = None,
        intermediate: KeyPair | None = None,
        *,
        intermediate_serial: int = 1,
        intermediate_issuer_serial: int = ROOT_SERIAL,
        intermediate_not_before: int | None = None,
        intermediate_not_after: int | None = None,
    ) -> None:
        self.root = root or KeyPair.generate()
        self.intermediate_key = intermediate or KeyPair.generate()
        self.intermediate_serial = intermediate_serial
        now = int(time.time())
        self._intermediate = _certificate(
            self.root, serial=intermediate_serial, issuer=intermediate_issuer_serial,
            key=self.intermediate_key.public,
            not_before=now - self.BACKDATE if intermediate_not_before is None else intermediate_not_before,
            not_after=now + self.INTERMEDIATE_LIFETIME if intermediate_not_after is None else intermediate_not_after,
        )

    def __repr__(self) -> str:
        return f"CertificateAuthority(root={self.root_public_key.hex()[:16]}…)"

    @property
    def root_public_key(self) -> bytes:
        return self.root.public

    def issue_chain(
        self,
        static_public: bytes,
        *,
        leaf_serial: int | None = None,
        leaf_issuer_serial: int | None = None,
        not_before: int | None = None,
        not_after: int | None = None,
    ) -> bytes:
        """A serialized CertChain whose leaf certifies `static_public` (the raw 32-byte key)."""
        if len(static_public) != 32:
            raise ValueError(f"a Noise static key is 32 raw bytes, not {len(static_public)}")
        now = int(time.time())
        leaf = _certificate(
            self.intermediate_key,
            serial=self.intermediate_serial + 1 if leaf_serial is None else leaf_serial,
            issuer=self.intermediate_serial if leaf_issuer_serial is None else leaf_issuer_serial,
            key=static_public,
            not_before=now - self.BACKDATE if not_before is None else not_before,
            not_after=now + self.LEAF_LIFETIME if not_after is None else not_after,
        )
        return cert_pb2.CertChain(leaf=leaf, intermediate=self._intermediate).SerializeToString()
