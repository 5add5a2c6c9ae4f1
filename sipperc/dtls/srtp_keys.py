"""SRTP keying material from a DTLS-SRTP association (RFC 5764 §4.2).

The exporter (RFC 5705, label ``EXTRACTOR-dtls_srtp``) yields
``client_write_key | server_write_key | client_write_salt | server_write_salt``. For the RFC
8723 double profiles the profile's key and salt lengths are those of both layers together, so
each key comes out as ``inner || outer`` and each salt as ``inner || outer`` (RFC 8723 §3,
``/work/shared/specs/perc.md`` §1.1): 112 bytes for the 128-bit double profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipperc.keymaterial import redacted
from sipperc.srtp import Profile

EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"


@dataclass(frozen=True, slots=True)
class SrtpKeyingMaterial:
    """The negotiated profile and the four keying values; repr hides them."""

    profile: Profile
    client_key: bytes = field(repr=False)
    client_salt: bytes = field(repr=False)
    server_key: bytes = field(repr=False)
    server_salt: bytes = field(repr=False)

    def __repr__(self) -> str:
        return (f"SrtpKeyingMaterial({self.profile.name}, client_key={redacted(self.client_key)}, "
                f"client_salt={redacted(self.client_salt)}, "
                f"server_key={redacted(self.server_key)}, "
                f"server_salt={redacted(self.server_salt)})")

    @classmethod
    def split(cls, profile: Profile, material: bytes) -> SrtpKeyingMaterial:
        """Cut exporter output of :func:`exporter_length` bytes into its four parts."""
        k, s = profile.master_key_length, profile.master_salt_length
        if len(material) != exporter_length(profile):
            raise ValueError(f"{profile.name} needs {exporter_length(profile)} bytes")
        return cls(profile, material[:k], material[2 * k:2 * k + s], material[k:2 * k],
                   material[2 * k + s:])

    def local(self, is_client: bool) -> tuple[bytes, bytes]:
        """(key, salt) this side protects its outgoing SRTP with."""
        return (self.client_key, self.client_salt) if is_client else (self.server_key,
                                                                      self.server_salt)

    def remote(self, is_client: bool) -> tuple[bytes, bytes]:
        """(key, salt) the peer protects its SRTP with."""
        return self.local(not is_client)


def exporter_length(profile: Profile) -> int:
    """Bytes to export for a profile: 2 * (key + salt)."""
    return 2 * (profile.master_key_length + profile.master_salt_length)
