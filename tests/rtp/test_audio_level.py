import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.rtp import (
    AudioLevel,
    ExtensionElement,
    HeaderExtension,
    RtpError,
    RtpPacket,
    find_audio_level,
    parse_rtp,
)


def test_rfc6464_encoding_v_flag_and_level():
    assert bytes(AudioLevel(level=30, voice_activity=True)) == b"\x9e"
    assert AudioLevel.decode(b"\x7f") == AudioLevel(127, False)


@given(st.integers(0, 127), st.booleans())
def test_round_trip(level, vad):
    assert AudioLevel.decode(bytes(AudioLevel(level, vad))) == AudioLevel(level, vad)


def test_found_in_a_received_packet_by_negotiated_id():
    ext = HeaderExtension.from_elements([ExtensionElement(2, b"\x00\x01"),
                                         AudioLevel(42, True).element(5)])
    wire = bytes(RtpPacket(False, 111, 1, 2, 3, extension=ext, payload=b"opus"))
    packet = parse_rtp(wire)
    assert find_audio_level(packet, 5) == AudioLevel(42, True)
    assert find_audio_level(packet.extension, 5) == AudioLevel(42, True)
    assert find_audio_level(packet, 1) is None
    assert find_audio_level(RtpPacket(False, 0, 0, 0, 0), 5) is None


def test_bad_levels_are_rejected():
    with pytest.raises(RtpError, match=r"outside 0\.\.127"):
        AudioLevel(128)
    with pytest.raises(RtpError, match="expected 1"):
        AudioLevel.decode(b"\x01\x02")
