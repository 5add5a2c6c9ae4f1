"""RTCP packets and compound packets (RFC 3550 §6.4 to §6.7, RFC 4585 §6.1).

Sender and receiver reports, source descriptions, BYE and APP are parsed into values; the
RTP/AVPF feedback messages (RTPFB, PSFB) are kept opaque with their header fields readable
(packet type, FMT, sender and media SSRCs), and any other packet type (XR...) is kept as
:class:`UnknownRtcpPacket`, so a compound packet always serializes back to what was received
apart from padding. Padding (the P bit) is validated and dropped: SRTCP encrypts with a stream
cipher and needs none (RFC 3711 §3.4), and serialization never adds it.

A compound packet is not required to start with SR or RR: reduced-size RTCP (RFC 5506) sends
feedback messages alone.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sipperc.rtp.error import RtpError

RTCP_VERSION = 2
SR, RR, SDES, BYE, APP, RTPFB, PSFB = 200, 201, 202, 203, 204, 205, 206
"""Packet types (RFC 3550 §12.1, RFC 4585 §6.1)."""

_MAX_COUNT = 31
_MAX_WORDS = 0xFFFF
_REPORT_BLOCK = struct.Struct("!IB3sIIII")
_SENDER_INFO = struct.Struct("!IQIII")
_U32 = 0xFFFFFFFF


def _check_u32(name: str, value: int) -> None:
    if not 0 <= value <= _U32:
        raise RtpError(f"{name} {value} is not 32 bits")


def _check_words(name: str, data: bytes) -> None:
    if len(data) % 4:
        raise RtpError(f"{name} is {len(data)} bytes, not a multiple of 4")


def _header(count: int, packet_type: int, body_length: int) -> bytes:
    words = body_length // 4
    if words > _MAX_WORDS:
        raise RtpError(f"RTCP packet of {body_length + 4} bytes is too long for its length field")
    return struct.pack("!BBH", RTCP_VERSION << 6 | count, packet_type, words)


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception statistics for one source (RFC 3550 §6.4.1).

    ``cumulative_lost`` is signed (24 bits): duplicates can make it negative.
    """

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_sequence: int
    jitter: int
    last_sr: int
    delay_since_last_sr: int

    def __post_init__(self) -> None:
        for name in ("ssrc", "highest_sequence", "jitter", "last_sr", "delay_since_last_sr"):
            _check_u32(name.replace("_", " "), getattr(self, name))
        if not 0 <= self.fraction_lost <= 255:
            raise RtpError(f"fraction lost {self.fraction_lost} is not 8 bits")
        if not -(1 << 23) <= self.cumulative_lost < 1 << 23:
            raise RtpError(f"cumulative lost {self.cumulative_lost} is not a signed 24-bit value")

    def __bytes__(self) -> bytes:
        return _REPORT_BLOCK.pack(self.ssrc, self.fraction_lost,
                                  self.cumulative_lost.to_bytes(3, "big", signed=True),
                                  self.highest_sequence, self.jitter, self.last_sr,
                                  self.delay_since_last_sr)

    @classmethod
    def _parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        return cls(ssrc, fraction, int.from_bytes(lost, "big", signed=True), highest, jitter,
                   lsr, dlsr)


def _check_reports(reports: tuple[ReportBlock, ...]) -> None:
    if len(reports) > _MAX_COUNT:
        raise RtpError(f"{len(reports)} report blocks, at most 31 fit the RC field")


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR (RFC 3550 §6.4.1); ``extension`` is the profile-specific extension, if any."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        for name in ("ssrc", "rtp_timestamp", "packet_count", "octet_count"):
            _check_u32(name.replace("_", " "), getattr(self, name))
        if not 0 <= self.ntp_timestamp < 1 << 64:
            raise RtpError(f"NTP timestamp {self.ntp_timestamp} is not 64 bits")
        _check_reports(self.reports)
        _check_words("SR profile-specific extension", self.extension)

    def __bytes__(self) -> bytes:
        body = _SENDER_INFO.pack(self.ssrc, self.ntp_timestamp, self.rtp_timestamp,
                                 self.packet_count, self.octet_count)
        body += b"".join(bytes(block) for block in self.reports) + self.extension
        return _header(len(self.reports), SR, body_length=len(body)) + body


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        _check_u32("SSRC", self.ssrc)
        _check_reports(self.reports)
        _check_words("RR profile-specific extension", self.extension)

    def __bytes__(self) -> bytes:
        body = struct.pack("!I", self.ssrc)
        body += b"".join(bytes(block) for block in self.reports) + self.extension
        return _header(len(self.reports), RR, len(body)) + body


@dataclass(frozen=True, slots=True)
class SdesItem:
    """One SDES item (RFC 3550 §6.5): type 1 CNAME, 2 NAME, ... 8 PRIV; the value as sent."""

    CNAME = 1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8

    type: int
    value: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.type <= 255:
            raise RtpError(f"SDES item type {self.type} is outside 1..255 (0 ends the list)")
        if len(self.value) > 255:
            raise RtpError(f"SDES item of {len(self.value)} bytes is longer than 255")

    @property
    def text(self) -> str:
        """The value as UTF-8 text (RFC 3550 §6.5), undecodable bytes replaced."""
        return self.value.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """The items describing one source (RFC 3550 §6.5)."""

    ssrc: int
    items: tuple[SdesItem, ...] = ()

    def __post_init__(self) -> None:
        _check_u32("SDES chunk SSRC", self.ssrc)

    def __bytes__(self) -> bytes:
        out = bytearray(struct.pack("!I", self.ssrc))
        for item in self.items:
            out += bytes((item.type, len(item.value))) + item.value
        out.append(0)  # end of the item list, then null octets to the 32-bit boundary
        out += bytes(-len(out) % 4)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES (RFC 3550 §6.5)."""

    chunks: tuple[SdesChunk, ...] = ()

    def __post_init__(self) -> None:
        if len(self.chunks) > _MAX_COUNT:
            raise RtpError(f"{len(self.chunks)} SDES chunks, at most 31 fit the SC field")

    def __bytes__(self) -> bytes:
        body = b"".join(bytes(chunk) for chunk in self.chunks)
        return _header(len(self.chunks), SDES, len(body)) + body


@dataclass(frozen=True, slots=True)
class Goodbye:
    """BYE (RFC 3550 §6.6); ``reason`` is the optional UTF-8 text as sent."""

    ssrcs: tuple[int, ...] = ()
    reason: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.ssrcs) > _MAX_COUNT:
            raise RtpError(f"{len(self.ssrcs)} SSRCs in BYE, at most 31 fit the SC field")
        for ssrc in self.ssrcs:
            _check_u32("BYE SSRC", ssrc)
        if self.reason is not None and len(self.reason) > 255:
            raise RtpError(f"BYE reason of {len(self.reason)} bytes is longer than 255")

    def __bytes__(self) -> bytes:
        body = struct.pack(f"!{len(self.ssrcs)}I", *self.ssrcs)
        if self.reason is not None:
            body += bytes((len(self.reason),)) + self.reason
            body += bytes(-len(body) % 4)
        return _header(len(self.ssrcs), BYE, len(body)) + body


@dataclass(frozen=True, slots=True)
class ApplicationDefined:
    """APP (RFC 3550 §6.7): a 5-bit subtype, a 4-character ASCII name and opaque data."""

    subtype: int
    ssrc: int
    name: bytes
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.subtype <= _MAX_COUNT:
            raise RtpError(f"APP subtype {self.subtype} is not 5 bits")
        _check_u32("APP SSRC", self.ssrc)
        if len(self.name) != 4:
            raise RtpError(f"APP name is {len(self.name)} bytes, must be 4 ASCII characters")
        _check_words("APP data", self.data)

    def __bytes__(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + self.name + self.data
        return _header(self.subtype, APP, len(body)) + body


@dataclass(frozen=True, slots=True)
class FeedbackMessage:
    """RTPFB or PSFB (RFC 4585 §6.1), kept opaque: FMT, the two SSRCs and the FCI bytes.

    ``fmt`` says which message it is (e.g. PSFB FMT 1 is PLI, RTPFB FMT 1 is Generic NACK).
    """

    packet_type: int
    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""

    def __post_init__(self) -> None:
        if self.packet_type not in (RTPFB, PSFB):
            raise RtpError(f"feedback packet type {self.packet_type} is not RTPFB (205) or "
                           "PSFB (206)")
        if not 0 <= self.fmt <= _MAX_COUNT:
            raise RtpError(f"feedback FMT {self.fmt} is not 5 bits")
        _check_u32("feedback sender SSRC", self.sender_ssrc)
        _check_u32("feedback media SSRC", self.media_ssrc)
        _check_words("feedback control information", self.fci)

    def __bytes__(self) -> bytes:
        body = struct.pack("!II", self.sender_ssrc, self.media_ssrc) + self.fci
        return _header(self.fmt, self.packet_type, len(body)) + body


@dataclass(frozen=True, slots=True)
class UnknownRtcpPacket:
    """A packet of a type this layer does not interpret (XR, future types), kept as received."""

    packet_type: int
    count: int
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.packet_type <= 255:
            raise RtpError(f"RTCP packet type {self.packet_type} is not 8 bits")
        if SR <= self.packet_type <= PSFB:
            raise RtpError(f"RTCP packet type {self.packet_type} has its own class")
        if not 0 <= self.count <= _MAX_COUNT:
            raise RtpError(f"RTCP count {self.count} is not 5 bits")
        _check_words("RTCP packet body", self.body)

    def __bytes__(self) -> bytes:
        return _header(self.count, self.packet_type, len(self.body)) + self.body


RtcpPacket = (SenderReport | ReceiverReport | SourceDescription | Goodbye | ApplicationDefined
              | FeedbackMessage | UnknownRtcpPacket)


def _parse_reports(body: bytes, offset: int, count: int, name: str) -> tuple[ReportBlock, ...]:
    if offset + 24 * count > len(body):
        raise RtpError(f"{name} announces {count} report blocks but has room for "
                       f"{(len(body) - offset) // 24}")
    return tuple(ReportBlock._parse(body, offset + 24 * index) for index in range(count))


def _parse_sr(count: int, body: bytes) -> SenderReport:
    if len(body) < _SENDER_INFO.size:
        raise RtpError(f"SR body of {len(body)} bytes is shorter than the 24-byte sender info")
    ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
    reports = _parse_reports(body, 24, count, "SR")
    return SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, body[24 + 24 * count:])


def _parse_rr(count: int, body: bytes) -> ReceiverReport:
    if len(body) < 4:
        raise RtpError("RR body has no SSRC")
    reports = _parse_reports(body, 4, count, "RR")
    return ReceiverReport(int.from_bytes(body[:4], "big"), reports, body[4 + 24 * count:])


def _parse_sdes(count: int, body: bytes) -> SourceDescription:
    chunks = []
    offset, end = 0, len(body)
    for index in range(count):
        if offset + 4 > end:
            raise RtpError(f"SDES announces {count} chunks but chunk {index} is missing")
        ssrc = int.from_bytes(body[offset:offset + 4], "big")
        offset += 4
        items = []
        while True:
            if offset >= end:
                raise RtpError(f"SDES chunk {index} has no end-of-list null octet")
            item_type = body[offset]
            if item_type == 0:
                break
            if offset + 2 > end:
                raise RtpError(f"SDES chunk {index}: item type {item_type} has no length octet")
            length = body[offset + 1]
            if offset + 2 + length > end:
                raise RtpError(f"SDES chunk {index}: item type {item_type} needs {length} "
                               f"bytes, {end - offset - 2} left")
            items.append(SdesItem(item_type, body[offset + 2:offset + 2 + length]))
            offset += 2 + length
        offset += 4 - offset % 4  # the null octet(s) up to the next 32-bit boundary
        chunks.append(SdesChunk(ssrc, tuple(items)))
    return SourceDescription(tuple(chunks))


def _parse_bye(count: int, body: bytes) -> Goodbye:
    if 4 * count > len(body):
        raise RtpError(f"BYE announces {count} SSRCs but has room for {len(body) // 4}")
    ssrcs = struct.unpack_from(f"!{count}I", body)
    reason = None
    offset = 4 * count
    if offset < len(body):
        length = body[offset]
        if offset + 1 + length > len(body):
            raise RtpError(f"BYE reason of {length} bytes runs past the end of the packet")
        reason = body[offset + 1:offset + 1 + length]
    return Goodbye(ssrcs, reason)


def _parse_app(count: int, body: bytes) -> ApplicationDefined:
    if len(body) < 8:
        raise RtpError(f"APP body of {len(body)} bytes has no room for SSRC and name")
    return ApplicationDefined(count, int.from_bytes(body[:4], "big"), body[4:8], body[8:])


def _parse_feedback(packet_type: int, count: int, body: bytes) -> FeedbackMessage:
    if len(body) < 8:
        raise RtpError(f"feedback message body of {len(body)} bytes has no room for two SSRCs")
    sender, media = struct.unpack_from("!II", body)
    return FeedbackMessage(packet_type, count, sender, media, body[8:])


_PARSERS: dict[int, Callable[[int, bytes], RtcpPacket]] = {
    SR: _parse_sr, RR: _parse_rr, SDES: _parse_sdes, BYE: _parse_bye, APP: _parse_app,
}


def parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Parse a compound RTCP packet into its packets, in order (RFC 3550 §6.1, App. A.2).

    Raises :class:`RtpError` for a wrong version, a length field that runs past the end, a
    padding bit anywhere but on the last packet, or a body that contradicts its count field.
    """
    data = bytes(data)
    packets: list[RtcpPacket] = []
    offset, end = 0, len(data)
    if end == 0:
        raise RtpError("empty RTCP packet")
    while offset < end:
        if offset + 4 > end:
            raise RtpError(f"RTCP packet {len(packets)}: {end - offset} trailing bytes, shorter "
                           "than a header")
        first, packet_type, words = struct.unpack_from("!BBH", data, offset)
        if first >> 6 != RTCP_VERSION:
            raise RtpError(f"RTCP packet {len(packets)}: version {first >> 6}, expected 2")
        length = 4 + 4 * words
        if offset + length > end:
            raise RtpError(f"RTCP packet {len(packets)}: length field says {length} bytes, "
                           f"{end - offset} left")
        body = data[offset + 4:offset + length]
        if first & 0x20:
            if offset + length != end:
                raise RtpError(f"RTCP packet {len(packets)}: padding bit set on a packet that "
                               "is not the last of the compound packet")
            padding = body[-1] if body else 0
            if padding == 0 or padding > len(body):
                raise RtpError(f"RTCP packet {len(packets)}: padding count {padding} does not "
                               f"fit the {len(body)}-byte body")
            body = body[:-padding]
        count = first & 0x1F
        parser = _PARSERS.get(packet_type)
        packet: RtcpPacket
        if parser is not None:
            packet = parser(count, body)
        elif packet_type in (RTPFB, PSFB):
            packet = _parse_feedback(packet_type, count, body)
        else:
            if len(body) % 4:
                raise RtpError(f"RTCP packet {len(packets)} of type {packet_type}: "
                               f"{len(body)}-byte body after padding is not whole words")
            packet = UnknownRtcpPacket(packet_type, count, body)
        packets.append(packet)
        offset += length
    return packets


def serialize_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """Serialize packets into one compound RTCP packet."""
    return b"".join(bytes(packet) for packet in packets)
