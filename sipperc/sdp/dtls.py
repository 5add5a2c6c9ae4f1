"""DTLS-SRTP in SDP: ``a=fingerprint``, ``a=setup`` and ``a=tls-id``.

These are RFC 8122, RFC 4145 and RFC 8842 attributes as ``UDP/TLS/RTP/SAVP`` media uses them
(RFC 5763, RFC 5764 §8).

The fingerprint binds the self-signed certificate seen in the DTLS handshake to the signalling
(RFC 8122 §5); the setup attribute decides which side is the DTLS client (``active``) and which
the server (``passive``); the tls-id names the DTLS association so that a re-offer can say
whether it wants a new one (RFC 8842 §5).
"""

from __future__ import annotations

import base64
import enum
import os
from dataclasses import dataclass
from typing import ClassVar, Self

from sipperc.dtls.identity import Fingerprint as CertificateFingerprint
from sipperc.dtls.identity import FingerprintError
from sipperc.sdp import grammar
from sipperc.sdp.attributes import register_validator

HASH_STRENGTH = ("sha-1", "sha-224", "sha-256", "sha-384", "sha-512")
"""Hash function textual names (RFC 8122 §5, IANA) sipperc verifies, weakest first.

``md5`` and ``md2`` (and any other token) parse, but are never trusted: RFC 8122 §5 forbids
them for new fingerprints.
"""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """``a=fingerprint``: a hash of the certificate the peer will present (RFC 8122 §5).

    Any hash function token parses, so that a description listing one sipperc does not know
    still parses; hashing and comparison are :class:`sipperc.dtls.identity.Fingerprint`'s, see
    :attr:`certificate_fingerprint`.
    """

    hash_function: str
    digest: bytes

    name: ClassVar[str] = "fingerprint"

    def __post_init__(self) -> None:
        if self.hash_function != self.hash_function.lower():
            raise ValueError("hash function names are stored in lower case")
        if self.hash_function in HASH_STRENGTH:
            try:
                CertificateFingerprint.parse(str(self))
            except FingerprintError as error:
                raise ValueError(f"{error} (RFC 8122 §5)") from None

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=fingerprint`` line (hash names are case-insensitive)."""
        match = grammar.FINGERPRINT_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<hash-func> <XX:XX:...>' (RFC 8122 §5)")
        return cls(match["hash"].lower(), bytes.fromhex(match["digest"].replace(":", "")))

    @classmethod
    def of_certificate(cls, der: bytes, hash_function: str = "sha-256") -> Self:
        """The fingerprint of a DER-encoded certificate (RFC 8122 §5)."""
        if hash_function not in HASH_STRENGTH:
            raise ValueError(f"unsupported fingerprint hash function {hash_function!r}")
        certificate = CertificateFingerprint.of(der, hash_function)
        return cls(certificate.hash_name, certificate.digest)

    @property
    def certificate_fingerprint(self) -> CertificateFingerprint | None:
        """The DTLS layer's fingerprint, for ``DtlsConnection``; None if not verifiable."""
        if self.hash_function not in HASH_STRENGTH:
            return None
        return CertificateFingerprint(self.hash_function, self.digest)

    @property
    def supported(self) -> bool:
        """True if sipperc can check a certificate against this fingerprint."""
        return self.hash_function in HASH_STRENGTH

    @property
    def strength(self) -> int:
        """Rank for picking the strongest fingerprint (RFC 8122 §5); -1 if unsupported."""
        return HASH_STRENGTH.index(self.hash_function) if self.supported else -1

    def matches(self, der: bytes) -> bool:
        """True if the DER certificate has this fingerprint (constant-time comparison)."""
        certificate = self.certificate_fingerprint
        return certificate is not None and certificate.matches(der)

    def __str__(self) -> str:
        return f"{self.hash_function} {self.digest.hex(':').upper()}"


class Setup(enum.Enum):
    """``a=setup``: which side opens the connection (RFC 4145 §4, RFC 5763 §5)."""

    ACTIVE = "active"
    PASSIVE = "passive"
    ACTPASS = "actpass"
    HOLDCONN = "holdconn"

    @classmethod
    def parse(cls, value: str) -> Setup:
        """Parse the value of an ``a=setup`` line (case-insensitive, RFC 5234 §2.3)."""
        if not grammar.SETUP_VALUE.fullmatch(value):
            raise ValueError("expected active, passive, actpass or holdconn (RFC 4145 §4)")
        return cls(value.lower())


class DtlsRole(enum.Enum):
    """Our side of the DTLS handshake: ``a=setup:active`` is the client (RFC 5763 §5)."""

    CLIENT = "client"
    SERVER = "server"

    @property
    def setup(self) -> Setup:
        """The setup value an answer states for this role."""
        return Setup.ACTIVE if self is DtlsRole.CLIENT else Setup.PASSIVE

    @classmethod
    def opposite_of(cls, remote: Setup) -> DtlsRole:
        """Our role when the other side's answer says ``remote`` (active or passive)."""
        if remote is Setup.ACTIVE:
            return cls.SERVER
        if remote is Setup.PASSIVE:
            return cls.CLIENT
        raise ValueError(f"setup:{remote.value} does not fix a DTLS role")


@dataclass(frozen=True, slots=True)
class TlsId:
    """``a=tls-id``: the identifier of a DTLS association (RFC 8842 §4)."""

    value: str

    name: ClassVar[str] = "tls-id"

    def __post_init__(self) -> None:
        if not grammar.TLS_ID_VALUE.fullmatch(self.value):
            raise ValueError("tls-id must be 20-255 characters of A-Z a-z 0-9 + / - _ "
                             "(RFC 8842 §4)")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value of an ``a=tls-id`` line."""
        return cls(value)

    @classmethod
    def generate(cls) -> Self:
        """A fresh random identifier: 144 random bits in 24 characters.

        RFC 8842 §5.1 asks for enough randomness that a value is never reused.
        """
        return cls(base64.urlsafe_b64encode(os.urandom(18)).decode("ascii"))

    def __str__(self) -> str:
        return self.value


register_validator(Fingerprint.name, Fingerprint.parse)
register_validator("setup", Setup.parse)
register_validator(TlsId.name, TlsId.parse)
