import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.rtp import HeaderExtension, RtpError, RtpPacket, parse_rtp, rtp_header_length
from tests.rtp.strategies import rtp_packets

# RFC 7714 §16: the plaintext packet of the AES-GCM test vectors.
RFC7714_RTP = bytes.fromhex(
    "8040f17b8041f8d35501a0b2"
    "47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573")


def test_parses_the_rfc7714_packet():
    packet = parse_rtp(RFC7714_RTP)
    assert packet == RtpPacket(False, 0x40, 0xF17B, 0x8041F8D3, 0x5501A0B2,
                               payload=b"Gallia est omnis divisa in partes tres")
    assert bytes(packet) == RFC7714_RTP
    assert packet.header_length == 12 == rtp_header_length(RFC7714_RTP)


def test_csrcs_extension_marker_and_padding_are_read_from_the_wire():
    wire = bytes.fromhex(
        "b2" "e0" "0001" "00000002" "00000003"  # V=2 P X CC=2, M, PT=96
        "0000000a" "0000000b"                    # CSRCs
        "bede0001" "10ff0000"                    # one-byte extension: id 1, 1 byte (0xff)
        "c0ffee" "000003")                       # payload, 3 octets of padding
    packet = parse_rtp(wire)
    assert packet.marker and packet.payload_type == 96
    assert packet.csrcs == (10, 11)
    assert packet.extension == HeaderExtension(0xBEDE, bytes.fromhex("10ff0000"))
    assert packet.extension.element(1) == b"\xff"
    assert packet.payload == bytes.fromhex("c0ffee")
    assert packet.padding == 3
    assert packet.header_length == 12 + 8 + 8 == rtp_header_length(wire)
    assert bytes(packet) == wire


@given(rtp_packets)
def test_round_trip(packet):
    wire = bytes(packet)
    assert parse_rtp(wire) == packet
    assert rtp_header_length(wire) == packet.header_length


@given(rtp_packets, st.data())
def test_truncation_raises_rtp_error_only(packet, data):
    wire = bytes(packet)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with contextlib.suppress(RtpError):
        parse_rtp(wire[:cut])


@given(st.binary(max_size=80))
def test_garbage_raises_rtp_error_only(wire):
    try:
        packet = parse_rtp(wire)
    except RtpError:
        return
    assert bytes(packet)[:12] == wire[:12]


@pytest.mark.parametrize(("wire", "message"), [
    (b"", "shorter than the 12-byte fixed header"),
    (bytes.fromhex("4000000100000000000000000000"), "version 1"),
    (bytes.fromhex("83000001000000000000000000000001"), "longer than the 16-byte packet"),
    (bytes.fromhex("9000000100000000000000000000"), "extension header runs past"),
    (bytes.fromhex("900000010000000000000000bede0002aaaaaaaa"), "longer than the 20-byte"),
    (bytes.fromhex("a00000010000000000000000" "00"), "padding count octet is 0"),
    (bytes.fromhex("a00000010000000000000000" "0005"), "padding of 5 octets"),
])
def test_malformed_packets_name_the_problem(wire, message):
    with pytest.raises(RtpError, match=message):
        parse_rtp(wire)


@pytest.mark.parametrize(("field", "value"), [
    ("payload_type", 128), ("sequence_number", 0x10000), ("timestamp", -1),
    ("ssrc", 1 << 32), ("csrcs", tuple(range(16))), ("csrcs", (1 << 32,)), ("padding", 256),
])
def test_constructor_rejects_out_of_range_fields(field, value):
    fields = {"marker": False, "payload_type": 0, "sequence_number": 0, "timestamp": 0,
              "ssrc": 0, field: value}
    with pytest.raises(RtpError):
        RtpPacket(**fields)
