"""RTP data packets (RFC 3550 §5.1): parse, build and serialize.

:class:`RtpPacket` is an immutable value; ``bytes(packet)`` serializes it and
:func:`parse_rtp` reads one from the wire. :func:`rtp_header_length` is the cheap check the SRTP
fast path uses: it validates only what it needs to find where the payload starts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sipperc.rtp.error import RtpError
from sipperc.rtp.header_extension import HeaderExtension

RTP_VERSION = 2
FIXED_HEADER_LENGTH = 12
MAX_CSRCS = 15

_FIXED = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1). The version is always 2.

    ``padding`` is the number of padding octets at the end (0 means the P bit is clear); on
    serialization they are zeros followed by the count (RFC 3550 §5.1 "P").
    """

    marker: bool
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...] = ()
    extension: HeaderExtension | None = None
    payload: bytes = b""
    padding: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type {self.payload_type} is outside 0..127")
        if not 0 <= self.sequence_number <= 0xFFFF:
            raise RtpError(f"sequence number {self.sequence_number} is outside 0..65535")
        if not 0 <= self.timestamp <= 0xFFFFFFFF:
            raise RtpError(f"timestamp {self.timestamp} is not 32 bits")
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise RtpError(f"SSRC {self.ssrc} is not 32 bits")
        if len(self.csrcs) > MAX_CSRCS:
            raise RtpError(f"{len(self.csrcs)} CSRCs, at most {MAX_CSRCS} fit the CC field")
        for csrc in self.csrcs:
            if not 0 <= csrc <= 0xFFFFFFFF:
                raise RtpError(f"CSRC {csrc} is not 32 bits")
        if not 0 <= self.padding <= 255:
            raise RtpError(f"padding of {self.padding} octets does not fit its count octet")

    @property
    def header_length(self) -> int:
        """Length of the header: fixed part, CSRCs and extension."""
        length = FIXED_HEADER_LENGTH + 4 * len(self.csrcs)
        if self.extension is not None:
            length += 4 + len(self.extension.data)
        return length

    def __bytes__(self) -> bytes:
        first = RTP_VERSION << 6 | len(self.csrcs)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        parts = [_FIXED.pack(first, self.payload_type | (0x80 if self.marker else 0),
                             self.sequence_number, self.timestamp, self.ssrc)]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension is not None:
            parts.append(_EXTENSION_HEADER.pack(self.extension.profile,
                                                len(self.extension.data) // 4))
            parts.append(self.extension.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def rtp_header_length(data: bytes | bytearray | memoryview) -> int:
    """Length of the RTP header at the start of ``data`` (fixed part, CSRCs, extension).

    Checks the version and that the header fits; nothing else. Raises :class:`RtpError`.
    """
    size = len(data)
    if size < FIXED_HEADER_LENGTH:
        raise RtpError(f"RTP packet of {size} bytes is shorter than the 12-byte fixed header")
    first = data[0]
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}, expected 2")
    length = FIXED_HEADER_LENGTH + 4 * (first & 0x0F)
    if first & 0x10:
        if size < length + 4:
            raise RtpError("RTP header extension header runs past the end of the packet")
        length += 4 + 4 * (data[length + 2] << 8 | data[length + 3])
    if size < length:
        raise RtpError(f"RTP header of {length} bytes is longer than the {size}-byte packet")
    return length


def parse_rtp(data: bytes | bytearray | memoryview) -> RtpPacket:
    """Parse one RTP packet; raises :class:`RtpError` naming what is malformed."""
    data = bytes(data)
    header_length = rtp_header_length(data)
    first, second, sequence_number, timestamp, ssrc = _FIXED.unpack_from(data)
    count = first & 0x0F
    csrcs = struct.unpack_from(f"!{count}I", data, FIXED_HEADER_LENGTH) if count else ()
    extension = None
    if first & 0x10:
        offset = FIXED_HEADER_LENGTH + 4 * count
        profile = data[offset] << 8 | data[offset + 1]
        extension = HeaderExtension(profile, data[offset + 4:header_length])
    end = len(data)
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0:
            raise RtpError("RTP padding bit set but the padding count octet is 0")
        if header_length + padding > end:
            raise RtpError(f"RTP padding of {padding} octets is longer than the "
                           f"{end - header_length}-byte body")
        end -= padding
    return RtpPacket(bool(second & 0x80), second & 0x7F, sequence_number, timestamp, ssrc,
                     csrcs, extension, data[header_length:end], padding)
