"""RFC 7983 §7 demultiplexing by first byte."""

from __future__ import annotations

import pytest

from sipperc.dtls.demux import PacketKind, classify, is_rtcp
from sipperc.dtls.record import encode_record


@pytest.mark.parametrize(("first", "kind"), [
    (0, PacketKind.STUN), (1, PacketKind.STUN), (3, PacketKind.STUN), (4, PacketKind.UNKNOWN),
    (16, PacketKind.ZRTP), (19, PacketKind.ZRTP), (20, PacketKind.DTLS), (22, PacketKind.DTLS),
    (63, PacketKind.DTLS), (64, PacketKind.TURN_CHANNEL), (79, PacketKind.TURN_CHANNEL),
    (80, PacketKind.UNKNOWN), (127, PacketKind.UNKNOWN), (192, PacketKind.UNKNOWN),
    (255, PacketKind.UNKNOWN),
])
def test_first_byte_ranges(first: int, kind: PacketKind) -> None:
    assert classify(bytes((first, 0, 0, 0))) is kind


def test_rtp_and_rtcp() -> None:
    assert classify(bytes((0x80, 0x00))) is PacketKind.RTP           # PT 0
    assert classify(bytes((0x80, 0xE0))) is PacketKind.RTP           # M=1, PT 96
    assert classify(bytes((0x81, 200))) is PacketKind.RTCP           # SR
    assert classify(bytes((0x80, 201))) is PacketKind.RTCP           # RR
    assert classify(bytes((0x80,))) is PacketKind.RTP
    assert classify(b"") is PacketKind.UNKNOWN
    assert not is_rtcp(b"\x80")


def test_real_dtls_record_classifies_as_dtls() -> None:
    assert classify(encode_record(22, 0, 0, b"x")) is PacketKind.DTLS
