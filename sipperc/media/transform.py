"""How an RTP session protects what it sends and checks what it receives.

A :class:`Transform` has the four methods of ``sipperc.srtp.SrtpSession``. SDES (RFC 4568)
and DTLS-SRTP (RFC 5764) give each direction its own master key, so an SRTP call needs two
contexts: :class:`SrtpTransform` pairs the one we protect with and the one we unprotect with.
:class:`PlainRtp` leaves packets as they are, for legacy peers. The PERC double transform
(RFC 8723) will be one more implementation of the same protocol.
"""

from __future__ import annotations

from typing import Protocol


class Transform(Protocol):
    """Protection of RTP and RTCP packets.

    ``unprotect`` and ``unprotect_rtcp`` raise for a packet they refuse (failed
    authentication, replay, truncation): ``sipperc.srtp.SrtpError``, or libsrtp's error when
    pylibsrtp stands in. Whatever the type, the session drops that packet and counts it.
    """

    def protect(self, rtp: bytes) -> bytes:
        """Protect one RTP packet."""
        ...

    def unprotect(self, srtp: bytes) -> bytes:
        """Authenticate and decrypt one RTP packet."""
        ...

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Protect one compound RTCP packet."""
        ...

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Authenticate and decrypt one compound RTCP packet."""
        ...


class PlainRtp:
    """No protection: RTP and RTCP as RFC 3550 defines them (legacy peers only)."""

    def protect(self, rtp: bytes) -> bytes:
        """Unchanged."""
        return rtp

    def unprotect(self, srtp: bytes) -> bytes:
        """Unchanged."""
        return srtp

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Unchanged."""
        return rtcp

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Unchanged."""
        return srtcp


class SrtpTransform:
    """SRTP with one context per direction (our key out, the peer's key in)."""

    def __init__(self, outbound: Transform, inbound: Transform) -> None:
        self.outbound = outbound
        self.inbound = inbound

    def protect(self, rtp: bytes) -> bytes:
        """Protect with our key."""
        return self.outbound.protect(rtp)

    def unprotect(self, srtp: bytes) -> bytes:
        """Check and decrypt with the peer's key."""
        return self.inbound.unprotect(srtp)

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Protect with our key."""
        return self.outbound.protect_rtcp(rtcp)

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Check and decrypt with the peer's key."""
        return self.inbound.unprotect_rtcp(srtcp)

    def __repr__(self) -> str:
        return f"SrtpTransform(outbound={self.outbound!r}, inbound={self.inbound!r})"
