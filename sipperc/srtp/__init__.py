"""SRTP and SRTCP (RFC 3711, RFC 7714).

Owns the protection profiles and the packet transforms. May import ``sipperc.rtp`` and the
shared top-level modules; never the signalling, DTLS or application layers.
"""

from sipperc.srtp.ekt_cipher import EKTCipher
from sipperc.srtp.profile import Profile

__all__ = ["EKTCipher", "Profile"]
