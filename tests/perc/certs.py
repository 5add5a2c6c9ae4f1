"""Certificates made on the fly for the tests (ECDSA P-256, valid for a day)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sipperc.dtls import Fingerprint
from sipperc.perc.tunnel_tls import MutualTLS, PeerTrust, TLSCredentials


@dataclass
class Identity:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint.of(self.der)

    def credentials(self, *chain: Identity) -> TLSCredentials:
        return TLSCredentials((self.certificate, *(c.certificate for c in chain)), self.key)

    def write(self, directory: Path, stem: str, key_mode: int = 0o600) -> tuple[Path, Path]:
        cert_path = directory / f"{stem}.pem"
        key_path = directory / f"{stem}.key"
        cert_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        key_path.chmod(key_mode)
        return cert_path, key_path


def make_identity(common_name: str, *, issuer: Identity | None = None, ca: bool = False,
                  dns_names: tuple[str, ...] = (), ip_addresses: tuple[str, ...] = (),
                  expired: bool = False, key=None) -> Identity:
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        now -= datetime.timedelta(days=10)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.certificate.subject if issuer else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns_names or ip_addresses:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    signer = issuer.key if issuer else key
    return Identity(builder.sign(signer, hashes.SHA256()), key)


def pinned_pair() -> tuple[MutualTLS, MutualTLS, Identity, Identity]:
    """MD and KD TLS settings, each pinning the other's self-signed certificate."""
    md = make_identity("media-distributor")
    kd = make_identity("key-distributor")
    md_tls = MutualTLS(md.credentials(), PeerTrust(fingerprints=(kd.fingerprint,)))
    kd_tls = MutualTLS(kd.credentials(), PeerTrust(fingerprints=(md.fingerprint,)))
    return md_tls, kd_tls, md, kd
