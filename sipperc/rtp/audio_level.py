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
from sipperc.rtp.header_extension import ONE_BYTE_PROFILE, ExtensionElement, HeaderExtension
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
        return _BY_OCTET[data[0]]

    def element(self, element_id: int) -> ExtensionElement:
        """This level as an RFC 8285 element with the negotiated id."""
        return ExtensionElement(element_id, bytes(self))


_BY_OCTET = tuple(AudioLevel(octet & 0x7F, bool(octet & 0x80)) for octet in range(256))
"""Every element value, decoded once: AudioLevel is immutable, and a Media Distributor reads one
per packet (a new object cost about 0.5 us)."""
_ALONE_IN_ONE_WORD = {element_id: ONE_BYTE_PROFILE.to_bytes(2) + b"\x00\x01"
                      + bytes((element_id << 4,)) for element_id in range(1, 15)}
"""Profile, length (one word) and element header of a one-byte-form extension (RFC 8285 §4.2)
whose only element is a one-byte audio level with this id: what senders usually put there."""


def find_audio_level(packet: RtpPacket | HeaderExtension | bytes | None,
                     element_id: int) -> AudioLevel | None:
    """The audio level carried under ``element_id``, or None if the packet has none.

    ``packet`` may also be an RTP header as it is on the wire (fixed part, CSRCs, extension),
    which is how a Media Distributor sees the packets it forwards: the level is then read
    without building objects when it is the extension's only element (the usual case).
    Raises :class:`RtpError` if the extension is malformed or the element is not one byte.
    """
    if isinstance(packet, bytes):
        return _level_in_header(packet, element_id)
    extension = packet.extension if isinstance(packet, RtpPacket) else packet
    if extension is None:
        return None
    data = extension.element(element_id)
    return None if data is None else AudioLevel.decode(data)


def _level_in_header(header: bytes, element_id: int) -> AudioLevel | None:
    """:func:`find_audio_level` for an RTP header as it is on the wire."""
    if len(header) < 12:
        raise RtpError(f"RTP header of {len(header)} bytes is shorter than the fixed 12 bytes")
    if not header[0] & 0x10:  # X = 0 (RFC 3550 §5.1)
        return None
    fixed = 12 + ((header[0] & 0x0F) << 2)
    if len(header) < fixed + 4:
        raise RtpError(f"RTP header of {len(header)} bytes is too short for its extension")
    if (len(header) == fixed + 8 and header[fixed + 6:] == b"\x00\x00"
            and header[fixed:fixed + 5] == _ALONE_IN_ONE_WORD.get(element_id)):
        return _BY_OCTET[header[fixed + 5]]
    return find_audio_level(HeaderExtension(header[fixed] << 8 | header[fixed + 1],
                                            header[fixed + 4:]), element_id)
