"""Certificates and their SDP fingerprints (RFC 8122 §5, RFC 5763 §5).

DTLS-SRTP authenticates each side by the hash of its (usually self-signed) certificate, sent in
the SDP ``a=fingerprint`` attribute. :class:`Identity` is one side's ECDSA P-256 key and
certificate; :class:`Fingerprint` parses, prints and checks ``sha-256 AB:CD:...`` values.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: RFC 8122 §5 hash function names (IANA "Hash Function Textual Names") -> hashlib names.
_HASHES = {"sha-1": "sha1", "sha-224": "sha224", "sha-256": "sha256", "sha-384": "sha384",
           "sha-512": "sha512"}


class FingerprintError(ValueError):
    """A fingerprint attribute value that does not parse."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A certificate fingerprint: the hash function name and the digest."""

    hash_name: str
    digest: bytes

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        """Parse ``hash-func SP fingerprint`` (RFC 8122 §5); hex is case-insensitive."""
        parts = text.strip().split()
        if len(parts) != 2:
            raise FingerprintError(f"fingerprint {text!r} is not 'hash-func XX:XX:...'")
        name = parts[0].lower()
        if name not in _HASHES:
            raise FingerprintError(f"unsupported fingerprint hash function {parts[0]!r}")
        octets = parts[1].split(":")
        if any(len(o) != 2 for o in octets):
            raise FingerprintError(f"fingerprint {parts[1]!r} is not colon-separated hex pairs")
        try:
            digest = bytes.fromhex("".join(octets))
        except ValueError:
            raise FingerprintError(f"fingerprint {parts[1]!r} is not hex") from None
        if len(digest) != hashlib.new(_HASHES[name]).digest_size:
            raise FingerprintError(f"{name} fingerprint of {len(digest)} bytes")
        return cls(name, digest)

    @classmethod
    def of(cls, certificate_der: bytes, hash_name: str = "sha-256") -> Fingerprint:
        """The fingerprint of a DER certificate."""
        return cls(hash_name, hashlib.new(_HASHES[hash_name], certificate_der).digest())

    def matches(self, certificate_der: bytes) -> bool:
        """True if this is the fingerprint of ``certificate_der`` (constant-time compare)."""
        return hmac.compare_digest(Fingerprint.of(certificate_der, self.hash_name).digest,
                                   self.digest)

    def __str__(self) -> str:
        return f"{self.hash_name} {self.digest.hex(':').upper()}"


def fingerprints(value: str | Fingerprint | Iterable[str | Fingerprint]) -> tuple[Fingerprint, ...]:
    """Normalise one or several fingerprints (SDP may carry several, RFC 8122 §5)."""
    items: Iterable[str | Fingerprint] = [value] if isinstance(value, str | Fingerprint) else value
    result = tuple(Fingerprint.parse(v) if isinstance(v, str) else v for v in items)
    if not result:
        raise FingerprintError("no fingerprint given")
    return result


class Identity:
    """A private key and the certificate that goes with it.

    ``generate()`` makes a fresh ECDSA P-256 key and a self-signed certificate, as DTLS-SRTP
    endpoints do (RFC 5763 §5); ``fingerprint`` is what goes in SDP.
    """

    __slots__ = ("_fingerprint", "certificate", "certificate_der", "private_key")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey,
                 certificate: x509.Certificate) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
                private_key.curve, ec.SECP256R1):
            raise ValueError("the DTLS identity key must be ECDSA P-256")
        if certificate.public_key() != private_key.public_key():
            raise ValueError("certificate does not belong to the private key")
        self.private_key = private_key
        self.certificate = certificate
        self.certificate_der = certificate.public_bytes(serialization.Encoding.DER)
        self._fingerprint = Fingerprint.of(self.certificate_der)

    def __repr__(self) -> str:
        return f"Identity({self.fingerprint})"

    @classmethod
    def generate(cls, common_name: str = "sipperc", valid_days: int = 30,
                 now: datetime.datetime | None = None) -> Identity:
        """A new key and a self-signed certificate valid from a day ago for ``valid_days``."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(days=1)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(secrets.randbits(63) | 1)
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=valid_days + 1))
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @classmethod
    def from_pem(cls, certificate_pem: bytes, key_pem: bytes) -> Identity:
        """Load a persisted identity (e.g. a Key Distributor's stable certificate)."""
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the DTLS identity key must be ECDSA P-256")
        return cls(key, x509.load_pem_x509_certificate(certificate_pem))

    def to_pem(self) -> tuple[bytes, bytes]:
        """(certificate PEM, unencrypted PKCS#8 key PEM) for storing the identity."""
        return (self.certificate.public_bytes(serialization.Encoding.PEM),
                self.private_key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))

    @property
    def fingerprint(self) -> str:
        """The SDP ``a=fingerprint`` value, e.g. ``sha-256 AB:CD:...`` (RFC 8122 §5)."""
        return str(self._fingerprint)

    def fingerprint_with(self, hash_name: str) -> str:
        """The fingerprint with another hash function (``sha-1``, ``sha-384``...)."""
        return str(Fingerprint.of(self.certificate_der, hash_name))
