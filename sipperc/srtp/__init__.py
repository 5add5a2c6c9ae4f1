"""SRTP and SRTCP (RFC 3711, RFC 7714), double SRTP (RFC 8723) and EKT (RFC 8870).

Owns the protection profiles, key derivation, the packet transforms and their per-SSRC state.
The entry point is ``SrtpSession(profile, master_key=..., master_salt=...)``; every failure is
an :class:`SrtpError`. May import ``sipperc.rtp`` and the shared top-level modules
(``keymaterial``, ``log``); never the signalling, DTLS, media or application layers.
"""

from sipperc.srtp import aead, aes_cm_hmac, double  # noqa: F401 (registers the implementations)
from sipperc.srtp.double import DoubleSrtpSession
from sipperc.srtp.ekt import EKTParameterSet, EKTPlaintext, FullEKTField, split_ekt_field
from sipperc.srtp.ekt_cipher import EKTCipher
from sipperc.srtp.ekt_session import EKTKeyExpiredError, EKTRateLimitError, EKTSession
from sipperc.srtp.errors import (
    AuthenticationError,
    EKTAuthenticationError,
    EndToEndAuthenticationError,
    KeyLimitError,
    MalformedPacketError,
    ReplayError,
    SrtpError,
)
from sipperc.srtp.hop_by_hop import HopByHopSession, RelayedPacket
from sipperc.srtp.ohb import OriginalHeaderBlock
from sipperc.srtp.profile import Profile
from sipperc.srtp.session import SrtpSession

__all__ = [
    "AuthenticationError",
    "DoubleSrtpSession",
    "EKTAuthenticationError",
    "EKTCipher",
    "EKTKeyExpiredError",
    "EKTParameterSet",
    "EKTPlaintext",
    "EKTRateLimitError",
    "EKTSession",
    "EndToEndAuthenticationError",
    "FullEKTField",
    "HopByHopSession",
    "KeyLimitError",
    "MalformedPacketError",
    "OriginalHeaderBlock",
    "Profile",
    "RelayedPacket",
    "ReplayError",
    "SrtpError",
    "SrtpSession",
    "split_ekt_field",
]
