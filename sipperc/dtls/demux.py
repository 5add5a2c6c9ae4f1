"""Telling STUN, DTLS, RTP/RTCP, ZRTP and TURN channel packets apart on one port (RFC 7983 §7).

The first byte decides::

    0..3     STUN          16..19   ZRTP         20..63   DTLS
    64..79   TURN channel  128..191 RTP/RTCP     anything else: drop

RTP and RTCP share 128..191; :func:`is_rtcp` separates them by payload type (RFC 5761 §4).
"""

from __future__ import annotations

import enum


class PacketKind(enum.Enum):
    """What a datagram on a multiplexed media port carries."""

    STUN = "stun"
    ZRTP = "zrtp"
    DTLS = "dtls"
    TURN_CHANNEL = "turn-channel"
    RTP = "rtp"
    RTCP = "rtcp"
    UNKNOWN = "unknown"


def classify(datagram: bytes) -> PacketKind:
    """The kind of a datagram by its first byte (and RTCP by its second)."""
    if not datagram:
        return PacketKind.UNKNOWN
    b = datagram[0]
    if b <= 3:
        return PacketKind.STUN
    if 16 <= b <= 19:
        return PacketKind.ZRTP
    if 20 <= b <= 63:
        return PacketKind.DTLS
    if 64 <= b <= 79:
        return PacketKind.TURN_CHANNEL
    if 128 <= b <= 191:
        return PacketKind.RTCP if is_rtcp(datagram) else PacketKind.RTP
    return PacketKind.UNKNOWN


def is_rtcp(datagram: bytes) -> bool:
    """RFC 5761 §4: RTCP packet types 192..223 sit where RTP's M bit + PT would be 64..95."""
    return len(datagram) >= 2 and 192 <= datagram[1] <= 223
