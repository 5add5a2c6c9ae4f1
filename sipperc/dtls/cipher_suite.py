"""The cipher suites, key-exchange groups and signature schemes sipperc negotiates.

Only ECDHE with AEAD record protection: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 and
_AES_256_GCM_SHA384 (RFC 5289, RFC 5288) and _CHACHA20_POLY1305_SHA256 (RFC 7905). Key exchange
over X25519 or secp256r1 (RFC 8422 §5.1.1). A sipperc server always has an ECDSA certificate;
a sipperc client also offers the ECDHE_RSA twins of those suites, because deployed DTLS-SRTP
phones (baresip, for one) answer with RSA certificates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SuiteParameters:
    """What the key schedule and the record layer need to know about a suite."""

    hash_name: str
    key_length: int
    fixed_iv_length: int
    explicit_nonce_length: int
    chacha: bool
    rsa: bool = False  # the server authenticates with an RSA certificate

class CipherSuite(enum.IntEnum):
    """A TLS 1.2 cipher suite code point (IANA TLS Cipher Suites registry)."""

    ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
    ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xC02C
    ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA9
    ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
    ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xC030
    ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA8

    @property
    def parameters(self) -> SuiteParameters:
        """Hash, key and IV lengths."""
        return _SUITES[self]


_SUITES = {
    # RFC 5288 §3: 4-byte salt from the key block, 8-byte explicit nonce in each record.
    CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: SuiteParameters("sha256", 16, 4, 8, False),
    CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: SuiteParameters("sha384", 32, 4, 8, False),
    # RFC 7905 §2: 12-byte IV from the key block, no explicit nonce.
    CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: SuiteParameters("sha256", 32, 12, 0,
                                                                           True),
    CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256: SuiteParameters("sha256", 16, 4, 8, False,
                                                                   True),
    CipherSuite.ECDHE_RSA_WITH_AES_256_GCM_SHA384: SuiteParameters("sha384", 32, 4, 8, False,
                                                                   True),
    CipherSuite.ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: SuiteParameters("sha256", 32, 12, 0,
                                                                         True, True),
}

DEFAULT_CIPHER_SUITES = (
    CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite.ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
)

#: TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3).
EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF


class NamedGroup(enum.IntEnum):
    """Supported groups (RFC 8422 §5.1.1, RFC 7919 registry)."""

    SECP256R1 = 23
    X25519 = 29


DEFAULT_GROUPS = (NamedGroup.X25519, NamedGroup.SECP256R1)


class SignatureScheme(enum.IntEnum):
    """SignatureAndHashAlgorithm values (RFC 5246 §7.4.1.4.1, RFC 8446 §4.2.3 spelling)."""

    RSA_PKCS1_SHA256 = 0x0401
    ECDSA_SECP256R1_SHA256 = 0x0403
    RSA_PKCS1_SHA384 = 0x0501
    ECDSA_SECP384R1_SHA384 = 0x0503
    RSA_PKCS1_SHA512 = 0x0601
    ECDSA_SECP521R1_SHA512 = 0x0603
    RSA_PSS_RSAE_SHA256 = 0x0804
    RSA_PSS_RSAE_SHA384 = 0x0805


#: What we accept from a peer, in preference order; we sign only with ECDSA_SECP256R1_SHA256.
ACCEPTED_SIGNATURE_SCHEMES = (
    SignatureScheme.ECDSA_SECP256R1_SHA256,
    SignatureScheme.ECDSA_SECP384R1_SHA384,
    SignatureScheme.ECDSA_SECP521R1_SHA512,
    SignatureScheme.RSA_PSS_RSAE_SHA256,
    SignatureScheme.RSA_PSS_RSAE_SHA384,
    SignatureScheme.RSA_PKCS1_SHA256,
    SignatureScheme.RSA_PKCS1_SHA384,
    SignatureScheme.RSA_PKCS1_SHA512,
)
