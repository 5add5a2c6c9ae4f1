"""The errors SRTP, SRTCP, double SRTP and EKT processing raise.

Every failure is a :class:`SrtpError`, so a media path needs one ``except`` clause to drop a
bad packet; the subclasses say why, for statistics and logs. No message ever contains key
material.
"""

from __future__ import annotations


class SrtpError(Exception):
    """An SRTP or SRTCP packet could not be protected or unprotected."""


class MalformedPacketError(SrtpError):
    """The packet is too short or its RTP/RTCP header is malformed."""


class AuthenticationError(SrtpError):
    """The authentication tag does not verify (RFC 3711 §3.3 step 5).

    The packet is forged, damaged, or protected under another key. Also raised for an unknown
    EKT SPI (RFC 8870 §4.3.2 step 2) and a malformed Original Header Block (RFC 8723 §4).
    """


class EndToEndAuthenticationError(AuthenticationError):
    """The hop-by-hop layer accepted the packet and the end-to-end layer did not (RFC 8723 §5.3).

    The hop is in step with us; the sender's media key is one we do not hold (yet).
    """


class EKTAuthenticationError(AuthenticationError):
    """An EKT field that does not verify (RFC 8870 §4.3.2).

    Its SPI is unknown or expired, or its ciphertext does not unwrap under the EKTKey.
    """


class ReplayError(SrtpError):
    """The packet index was already received, or is older than the replay window.

    RFC 3711 §3.3.2. On the sending side, protecting an index again would reuse a keystream.
    """


class KeyLimitError(SrtpError):
    """The master key has protected as many packets as its profile allows.

    RFC 3711 §9.2: 2^48 SRTP and 2^31 SRTCP packets; a new key must be negotiated.
    """
