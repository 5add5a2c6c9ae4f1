import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.rtp import (
    PSFB,
    RTPFB,
    ApplicationDefined,
    FeedbackMessage,
    Goodbye,
    ReceiverReport,
    ReportBlock,
    RtpError,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    UnknownRtcpPacket,
    parse_rtcp,
    serialize_rtcp,
)

u32 = st.integers(0, 0xFFFFFFFF)
words = st.binary(max_size=24).map(lambda b: b + bytes(-len(b) % 4))

report_blocks = st.builds(ReportBlock, u32, st.integers(0, 255),
                          st.integers(-(1 << 23), (1 << 23) - 1), u32, u32, u32, u32)
reports = st.lists(report_blocks, max_size=4).map(tuple)
rtcp_packets = st.one_of(
    st.builds(SenderReport, u32, st.integers(0, (1 << 64) - 1), u32, u32, u32, reports, words),
    st.builds(ReceiverReport, u32, reports, words),
    st.builds(SourceDescription, st.lists(st.builds(
        SdesChunk, u32, st.lists(st.builds(SdesItem, st.integers(1, 255), st.binary(max_size=30)),
                                 max_size=4).map(tuple)), max_size=4).map(tuple)),
    st.builds(Goodbye, st.lists(u32, max_size=4).map(tuple), st.none() | st.binary(max_size=40)),
    st.builds(ApplicationDefined, st.integers(0, 31), u32, st.binary(min_size=4, max_size=4),
              words),
    st.builds(FeedbackMessage, st.sampled_from([RTPFB, PSFB]), st.integers(0, 31), u32, u32,
              words),
    st.builds(UnknownRtcpPacket, st.integers(207, 255), st.integers(0, 31), words),
)

# RFC 7714 §17: the SR plus SDES-less compound packet of the SRTCP test vectors.
RFC7714_RTCP = bytes.fromhex(
    "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61"
    + "deadbeef" * 5)


def test_parses_the_rfc7714_sender_report():
    # The RFC's packet says 14 words in its length field but carries 13: it is test data for
    # SRTCP, which never parses the payload. With the length corrected it is a valid SR.
    with pytest.raises(RtpError, match="length field says 56 bytes, 52 left"):
        parse_rtcp(RFC7714_RTCP)
    fixed = RFC7714_RTCP[:3] + b"\x0c" + RFC7714_RTCP[4:]
    [sr] = parse_rtcp(fixed)
    assert isinstance(sr, SenderReport)
    assert sr.ssrc == 0x4D617273  # "Mars"
    assert sr.ntp_timestamp == 0x4E5450314E545032 and sr.rtp_timestamp == 0x52545020
    assert (sr.packet_count, sr.octet_count) == (0x42A, 0xE930)
    [block] = sr.reports
    assert block.ssrc == 0x4C756E61 and block.fraction_lost == 0xDE
    assert block.cumulative_lost == -0x524111  # 0xadbeef as signed 24 bits
    assert serialize_rtcp([sr]) == fixed


def test_compound_sr_sdes_bye_app_pli():
    packets = [
        SenderReport(1, 2, 3, 4, 5),
        SourceDescription((SdesChunk(1, (SdesItem(SdesItem.CNAME, b"alice@example.com"),)),
                           SdesChunk(2))),
        FeedbackMessage(PSFB, 1, 1, 9),  # PLI
        ApplicationDefined(3, 1, b"PERC", b"\x00\x01\x02\x03"),
        Goodbye((1, 2), b"leaving"),
    ]
    wire = serialize_rtcp(packets)
    assert parse_rtcp(wire) == packets
    assert wire[:4] == bytes.fromhex("80c80006")
    assert parse_rtcp(wire)[1].chunks[0].items[0].text == "alice@example.com"


@given(st.lists(rtcp_packets, min_size=1, max_size=5))
def test_round_trip(packets):
    assert parse_rtcp(serialize_rtcp(packets)) == packets


@given(st.lists(rtcp_packets, min_size=1, max_size=3), st.data())
def test_truncation_raises_rtp_error_only(packets, data):
    wire = serialize_rtcp(packets)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with contextlib.suppress(RtpError):
        parse_rtcp(wire[:cut])


@given(st.binary(max_size=120))
def test_garbage_raises_rtp_error_only(wire):
    try:
        packets = parse_rtcp(wire)
    except RtpError:
        return
    assert parse_rtcp(serialize_rtcp(packets)) == packets


def test_padding_on_the_last_packet_is_removed():
    rr = bytes(ReceiverReport(7))
    padded = bytes((rr[0] | 0x20,)) + rr[1:3] + bytes((rr[3] + 1,)) + rr[4:] + b"\x00\x00\x00\x04"
    assert parse_rtcp(padded) == [ReceiverReport(7)]
    with pytest.raises(RtpError, match="not the last"):
        parse_rtcp(padded + rr)


@pytest.mark.parametrize(("wire", "message"), [
    (b"", "empty"),
    (bytes.fromhex("40c90001" "00000001"), "version 1"),
    (bytes.fromhex("80c90005" "00000001"), "length field says 24 bytes, 8 left"),
    (bytes.fromhex("81c90001" "00000001"), "announces 1 report blocks"),
    (bytes.fromhex("80c80001" "00000001"), "shorter than the 24-byte sender info"),
    (bytes.fromhex("81ca0001" "00000001"), "no end-of-list"),
    (bytes.fromhex("81ca0002" "00000001" "0105aaaa"), "needs 5 bytes, 2 left"),
    (bytes.fromhex("82cb0001" "00000001"), "announces 2 SSRCs"),
    (bytes.fromhex("81cb0002" "00000001" "09aabbcc"), "BYE reason of 9 bytes"),
    (bytes.fromhex("80cc0001" "00000001"), "no room for SSRC and name"),
    (bytes.fromhex("81cd0001" "00000001"), "no room for two SSRCs"),
    (bytes.fromhex("a0c90001" "00000000"), "padding count 0"),
    (bytes.fromhex("80c90001" "00000001" "00"), "1 trailing bytes"),
])
def test_malformed_compound_packets_name_the_problem(wire, message):
    with pytest.raises(RtpError, match=message):
        parse_rtcp(wire)


def test_constructors_reject_out_of_range_values():
    with pytest.raises(RtpError, match="signed 24-bit"):
        ReportBlock(0, 0, 1 << 23, 0, 0, 0, 0)
    with pytest.raises(RtpError, match="at most 31"):
        ReceiverReport(0, (ReportBlock(0, 0, 0, 0, 0, 0, 0),) * 32)
    with pytest.raises(RtpError, match="4 ASCII"):
        ApplicationDefined(0, 0, b"PERC!")
    with pytest.raises(RtpError, match="RTPFB"):
        FeedbackMessage(200, 0, 0, 0)
    with pytest.raises(RtpError, match="own class"):
        UnknownRtcpPacket(203, 0)
    with pytest.raises(RtpError, match=r"1\.\.255"):
        SdesItem(0, b"")
