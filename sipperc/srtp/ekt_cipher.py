"""EKT ciphers (RFC 8870 §4.4) and their code points in the DTLS extension (§5.2).

The values are those of the ``EKTCipherType`` enum carried in the ``supported_ekt_ciphers``
TLS extension: ``aeskw_128(1)``, ``aeskw_256(2)``. The IANA table in the draft that became RFC
8870 numbers them 0 and 1; the DTLS extension is the only place a value travels on the wire, so
sipperc uses the extension's numbering (see ``/work/shared/specs/perc.md`` §3.5, pitfall 10).
"""

from __future__ import annotations

import enum


class EKTCipher(enum.IntEnum):
    """An EKT cipher: AES Key Wrap with Padding (RFC 5649) under a 128- or 256-bit EKTKey."""

    AESKW_128 = 1
    AESKW_256 = 2

    @property
    def key_length(self) -> int:
        """Length in bytes of the EKTKey this cipher uses (RFC 8870 §4.4.1)."""
        return 16 if self is EKTCipher.AESKW_128 else 32
