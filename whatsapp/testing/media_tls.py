"""TLS for the emulated media hosts: a throwaway certificate authority and a loopback server certificate.

Both reference clients build `https://<host>/...` URLs themselves (Baileys `src/Utils/messages-media.ts`,
whatsmeow `download.go`), so the media host must speak TLS. Each emulator makes its own CA at start;
clients under test trust it: ours with `MediaTLS.client_context()`, Node (Baileys) with the
`NODE_EXTRA_CA_CERTS=<ca_path>` environment variable, read when the process starts; a `python bot.py` process
with `SSL_CERT_FILE=<ca_path>` (Python's ssl reads it for the default trust store aiohttp uses).

The server certificate names 127.0.0.1, localhost and mmg.whatsapp.net: Baileys 6 downloads from
mmg.whatsapp.net whatever the message's URL says, so its harness points that name at the emulator.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAMES = ("localhost", "mmg.whatsapp.net")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True, slots=True)
class MediaTLS:
    ca_path: Path  # PEM of the CA: what clients trust
    cert_path: Path  # PEM of the server certificate
    key_path: Path

    @classmethod
    def create(cls, directory: Path) -> MediaTLS:
        now = datetime.datetime.now(datetime.UTC)
        validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("whatsapp-py emulator media CA")
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(validity[0]).not_valid_after(validity[1])
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, encipher_only=False,
                                           decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        names += [x509.DNSName(name) for name in SERVER_NAMES]
        cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(validity[0]).not_valid_after(validity[1])
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(ca_key, hashes.SHA256()))
        tls = cls(directory / "media-ca.pem", directory / "media-cert.pem", directory / "media-key.pem")
        tls.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        tls.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tls.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        return tls

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A context that trusts this emulator's media hosts (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_path))
