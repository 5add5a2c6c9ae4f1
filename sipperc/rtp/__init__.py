"""RTP and RTCP packets (RFC 3550), header extensions (RFC 8285), audio levels (RFC 6464).

Owns the packet values and their wire formats: :func:`parse_rtp` / ``bytes(packet)`` for RTP,
:func:`parse_rtcp` / :func:`serialize_rtcp` for compound RTCP. Every malformed input raises
:class:`RtpError`. This is the lowest media layer: it may import only the standard library and
the shared top-level modules, never ``srtp``, ``media``, ``perc`` or the signalling layers.
"""

from sipperc.rtp.audio_level import AudioLevel, find_audio_level
from sipperc.rtp.error import RtpError
from sipperc.rtp.header_extension import ExtensionElement, HeaderExtension
from sipperc.rtp.packet import RtpPacket, parse_rtp, rtp_header_length
from sipperc.rtp.rtcp import (
    APP,
    BYE,
    PSFB,
    RR,
    RTPFB,
    SDES,
    SR,
    ApplicationDefined,
    FeedbackMessage,
    Goodbye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    UnknownRtcpPacket,
    parse_rtcp,
    serialize_rtcp,
)

__all__ = [
    "APP",
    "BYE",
    "PSFB",
    "RR",
    "RTPFB",
    "SDES",
    "SR",
    "ApplicationDefined",
    "AudioLevel",
    "ExtensionElement",
    "FeedbackMessage",
    "Goodbye",
    "HeaderExtension",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "RtpError",
    "RtpPacket",
    "SdesChunk",
    "SdesItem",
    "SenderReport",
    "SourceDescription",
    "UnknownRtcpPacket",
    "find_audio_level",
    "parse_rtcp",
    "parse_rtp",
    "rtp_header_length",
    "serialize_rtcp",
]
