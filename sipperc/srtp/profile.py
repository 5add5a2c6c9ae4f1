"""SRTP protection profiles and their parameters.

One table covers the names used on the wire by DTLS-SRTP (RFC 5764 §4.1.2, RFC 7714 §14.2,
RFC 8723 §10.1) and by SDES (RFC 4568 §6.2, RFC 7714 §14.1). Members are named after the SDES
crypto suites; the DTLS-SRTP profile names (``SRTP_AES128_CM_HMAC_SHA1_80``...) are aliases of
the same members, so either spelling works: ``Profile["SRTP_AEAD_AES_128_GCM"]``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProfileParameters:
    """Lengths in bytes, as the profile's defining RFC tables give them."""

    master_key_length: int
    master_salt_length: int
    srtp_auth_tag_length: int
    srtcp_auth_tag_length: int
    aead: bool
    double: bool
    sdes_name: str | None
    openssl_name: str


class Profile(enum.Enum):
    """An SRTP protection profile; the value is its DTLS-SRTP code point (RFC 5764 §4.1.2)."""

    AES_CM_128_HMAC_SHA1_80 = 0x0001
    AES_CM_128_HMAC_SHA1_32 = 0x0002
    AEAD_AES_128_GCM = 0x0007
    AEAD_AES_256_GCM = 0x0008
    DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM = 0x0009
    DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM = 0x000A

    # DTLS-SRTP profile names where they differ from the member names (enum aliases).
    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001
    SRTP_AES128_CM_HMAC_SHA1_32 = 0x0002
    SRTP_AEAD_AES_128_GCM = 0x0007
    SRTP_AEAD_AES_256_GCM = 0x0008
    SRTP_DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM = 0x0009
    SRTP_DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM = 0x000A

    @property
    def parameters(self) -> ProfileParameters:
        """The profile's key, salt and tag lengths and names."""
        return _PARAMETERS[self.value]

    @property
    def dtls_id(self) -> int:
        """The two-byte DTLS-SRTP ``SRTPProtectionProfile`` value."""
        return self.value

    @property
    def master_key_length(self) -> int:
        """Master key length; for double profiles the inner and outer halves together."""
        return self.parameters.master_key_length

    @property
    def master_salt_length(self) -> int:
        """Master salt length; for double profiles the inner and outer halves together."""
        return self.parameters.master_salt_length

    @property
    def is_aead(self) -> bool:
        """True for the AES-GCM profiles (RFC 7714), single or double."""
        return self.parameters.aead

    @property
    def is_double(self) -> bool:
        """True for the RFC 8723 double (end-to-end plus hop-by-hop) profiles."""
        return self.parameters.double

    @property
    def sdes_name(self) -> str | None:
        """The SDES crypto-suite name, or None: no SDES suite exists for double profiles."""
        return self.parameters.sdes_name

    @property
    def openssl_name(self) -> str:
        """The profile name as OpenSSL's ``SSL_CTX_set_tlsext_use_srtp`` spells it."""
        return self.parameters.openssl_name

    @property
    def inner(self) -> Profile:
        """For a double profile, the single profile of each of its layers (RFC 8723 §10.1)."""
        return _HALF.get(self, self)

    @classmethod
    def from_dtls_id(cls, value: int) -> Profile:
        """The profile with this DTLS-SRTP code point; ValueError if there is none."""
        return cls(value)

    @classmethod
    def from_sdes_name(cls, name: str) -> Profile:
        """The profile with this SDES crypto-suite name; ValueError if there is none."""
        for profile in cls:
            if profile.sdes_name == name:
                return profile
        raise ValueError(f"unknown SDES crypto suite {name!r}")


_PARAMETERS: dict[int, ProfileParameters] = {
    0x0001: ProfileParameters(16, 14, 10, 10, False, False,
                              "AES_CM_128_HMAC_SHA1_80", "SRTP_AES128_CM_SHA1_80"),
    # RFC 5764 §4.1.2: the _32 profile still uses an 80-bit SRTCP tag.
    0x0002: ProfileParameters(16, 14, 4, 10, False, False,
                              "AES_CM_128_HMAC_SHA1_32", "SRTP_AES128_CM_SHA1_32"),
    0x0007: ProfileParameters(16, 12, 16, 16, True, False,
                              "AEAD_AES_128_GCM", "SRTP_AEAD_AES_128_GCM"),
    0x0008: ProfileParameters(32, 12, 16, 16, True, False,
                              "AEAD_AES_256_GCM", "SRTP_AEAD_AES_256_GCM"),
    0x0009: ProfileParameters(32, 24, 32, 16, True, True,
                              None, "SRTP_DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM"),
    0x000A: ProfileParameters(64, 24, 32, 16, True, True,
                              None, "SRTP_DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM"),
}

_HALF: dict[Profile, Profile] = {
    Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM: Profile.AEAD_AES_128_GCM,
    Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM: Profile.AEAD_AES_256_GCM,
}
