"""Certificate fingerprints as SDP carries them (RFC 8122 §5), and matching a certificate to one.

PERC authenticates every party by certificate fingerprint: the Key Distributor checks an
endpoint's DTLS certificate against the fingerprint its SDP announced (RFC 9185 §5.4), and the
tunnel and call-processing connections to the Key Distributor can pin certificates the same way.
The text form is the one of ``a=fingerprint`` and of ``openssl x509 -fingerprint``:
``sha-256 AB:CD:...:EF``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

# RFC 8122 §5 hash function textual names -> hashlib names. MD2 and MD5 are in the IANA table
# but are broken; a fingerprint is an authentication decision, so they are refused outright.
_HASHES: dict[str, str] = {
    "sha-1": "sha1",
    "sha-224": "sha224",
    "sha-256": "sha256",
    "sha-384": "sha384",
    "sha-512": "sha512",
}
_REFUSED = frozenset({"md2", "md5"})


@dataclass(frozen=True, slots=True)
class CertificateFingerprint:
    """A hash function name (lower case, RFC 8122 spelling) and the digest of a DER certificate."""

    algorithm: str
    digest: bytes

    def __post_init__(self) -> None:
        if self.algorithm in _REFUSED:
            raise ValueError(f"{self.algorithm} fingerprints are too weak to authenticate with")
        name = _HASHES.get(self.algorithm)
        if name is None:
            raise ValueError(f"unknown fingerprint hash function {self.algorithm!r} "
                             f"(expected one of {', '.join(_HASHES)})")
        size = hashlib.new(name).digest_size
        if len(self.digest) != size:
            raise ValueError(f"a {self.algorithm} fingerprint has {size} bytes, "
                             f"got {len(self.digest)}")

    @classmethod
    def parse(cls, text: str) -> CertificateFingerprint:
        """Parse ``"sha-256 AB:CD:..."`` (case-insensitive); ValueError naming the problem."""
        parts = text.split()
        if len(parts) != 2:
            raise ValueError(f"expected 'HASH-FUNCTION HEX:HEX:...', got {text!r}")
        algorithm, hex_pairs = parts[0].lower(), parts[1].split(":")
        if any(len(pair) != 2 for pair in hex_pairs):
            raise ValueError(f"fingerprint digits must be two-digit hex pairs separated by "
                             f"colons, got {parts[1]!r}")
        try:
            digest = bytes.fromhex("".join(hex_pairs))
        except ValueError:
            raise ValueError(f"fingerprint is not hexadecimal: {parts[1]!r}") from None
        return cls(algorithm, digest)

    @classmethod
    def of(cls, certificate_der: bytes, algorithm: str = "sha-256") -> CertificateFingerprint:
        """The fingerprint of a DER-encoded certificate."""
        name = _HASHES.get(algorithm)
        if name is None:
            raise ValueError(f"unknown fingerprint hash function {algorithm!r}")
        return cls(algorithm, hashlib.new(name, certificate_der).digest())

    def matches(self, certificate_der: bytes) -> bool:
        """True if this is the fingerprint of ``certificate_der`` (constant-time comparison)."""
        computed = hashlib.new(_HASHES[self.algorithm], certificate_der).digest()
        return hmac.compare_digest(computed, self.digest)

    def __str__(self) -> str:
        return f"{self.algorithm} {self.digest.hex(':').upper()}"
