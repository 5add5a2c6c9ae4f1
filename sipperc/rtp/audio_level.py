"""The client-to-mixer audio level header extension (RFC 6464).

One byte: the V flag (the sender's voice activity detector says this packet holds speech,
when ``vad=on`` was negotiated) and the level in -dBov, 0 (loudest) to 127 (silence or
digital muting). It travels in a header extension element (RFC 8285), which SRTP does not
encrypt (unless RFC 6904 is used), so a Media Distributor can rank speakers without any media
key: :func:`find_audio_level` reads it from a packet's extension by its negotiated id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipperc.rtp.error import RtpError
from sipperc.rtp.header_extension import ExtensionElement, HeaderExtension
from sipperc.rtp.packet import RtpPacket

URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
"""The ``a=extmap`` URI that negotiates this element (RFC 6464 §4)."""
SILENCE = 127


@dataclass(frozen=True, slots=True)
class AudioLevel:
    """One audio level element: ``level`` in -dBov (0..127), ``voice_activity`` the V flag."""

    level: int
    voice_activity: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.level <= SILENCE:
            raise RtpError(f"audio level {self.level} is outside 0..127 (-dBov)")

    def __bytes__(self) -> bytes:
        return bytes(((0x80 if self.voice_activity else 0) | self.level,))

    @classmethod
    def decode(cls, data: bytes) -> AudioLevel:
        """Decode the element data; RFC 6464 §3 defines exactly one byte."""
        if len(data) != 1:
            raise RtpError(f"audio level element has {len(data)} bytes of data, expected 1")
        return cls(data[0] & 0x7F, bool(data[0] & 0x80))

    def element(self, element_id: int) -> ExtensionElement:
        """This level as an RFC 8285 element with the negotiated id."""
        return ExtensionElement(element_id, bytes(self))


def find_audio_level(packet: RtpPacket | HeaderExtension | None,
                     element_id: int) -> AudioLevel | None:
    """The audio level carried under ``element_id``, or None if the packet has none.

    Raises :class:`RtpError` if the extension is malformed or the element is not one byte.
    """
    extension = packet.extension if isinstance(packet, RtpPacket) else packet
    if extension is None:
        return None
    data = extension.element(element_id)
    return None if data is None else AudioLevel.decode(data)
