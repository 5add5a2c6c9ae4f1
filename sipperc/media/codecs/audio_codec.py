"""What every audio codec provides to the RTP session and the receive path."""

from __future__ import annotations

from typing import Protocol

from sipperc.media.pcm import Pcm


class CodecError(Exception):
    """A payload the codec cannot decode, or a codec or format we cannot set up."""


class AudioCodec(Protocol):
    """One direction-agnostic codec instance (encoder and decoder state of one stream).

    ``clock_rate`` is the RTP timestamp rate from the SDP ``rtpmap``; ``sample_rate`` is the rate
    of the PCM passed to :meth:`encode` and returned by :meth:`decode`. They differ for G.722
    (RFC 3551 §4.5.2: 16 kHz audio, 8 kHz RTP clock).
    """

    @property
    def name(self) -> str:
        """The encoding name as SDP spells it (``PCMU``, ``G722``, ``opus``)."""
        ...

    @property
    def clock_rate(self) -> int:
        """The RTP clock rate in Hz."""
        ...

    @property
    def sample_rate(self) -> int:
        """The PCM sample rate in Hz at this codec's interface."""
        ...

    def encode(self, pcm: Pcm) -> bytes:
        """One frame of PCM to one RTP payload; ``b""`` means nothing to send (DTX)."""
        ...

    def decode(self, payload: bytes) -> Pcm:
        """One RTP payload to PCM; raises :class:`CodecError` on a malformed payload."""
        ...

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        """``samples`` samples standing in for a lost frame.

        ``next_payload`` is the payload that follows the lost one, when the jitter buffer holds
        it: codecs with in-band FEC (Opus, RFC 7587 §3.1.2) recover the lost frame from it.
        """
        ...

    def duration(self, payload: bytes) -> int:
        """How many RTP clock ticks ``payload`` covers."""
        ...
