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
from tests.rtp.strategies import extensions


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


def outcome(packet, element_id):
    """What find_audio_level gives, or the RtpError it raises."""
    try:
        return find_audio_level(packet, element_id)
    except RtpError:
        return RtpError


@given(st.one_of(extensions, st.none()), st.integers(0, 3), st.integers(1, 255))
def test_a_header_on_the_wire_gives_what_the_parsed_packet_gives(extension, csrcs, element_id):
    packet = RtpPacket(False, 111, 7, 160, 0xCAFE, csrcs=tuple(range(csrcs)),
                       extension=extension, payload=b"opus")
    wire = bytes(packet)
    header = wire[:len(wire) - len(packet.payload)]
    assert outcome(header, element_id) == outcome(parse_rtp(wire), element_id)


@given(st.integers(1, 14), st.integers(0, 255), st.binary(min_size=4, max_size=4))
def test_a_lone_level_and_any_other_word(element_id, octet, word):
    level = AudioLevel.decode(bytes((octet,)))
    header = bytes.fromhex("9000000100000000cafebabe") + bytes.fromhex("bede0001")
    assert find_audio_level(header + bytes((element_id << 4, octet, 0, 0)), element_id) == level
    # Any other extension word is parsed in full, as HeaderExtension.element does it.
    expected = outcome(HeaderExtension(0xBEDE, word), element_id)
    assert outcome(header + word, element_id) == expected


def test_a_header_too_short_for_its_extension_is_an_error():
    assert find_audio_level(bytes.fromhex("8000000100000000cafebabe"), 1) is None
    with pytest.raises(RtpError, match="too short"):
        find_audio_level(bytes.fromhex("9000000100000000cafebabe bede"), 1)
    with pytest.raises(RtpError, match="shorter than the fixed 12 bytes"):
        find_audio_level(bytes.fromhex("9000000100000000"), 1)
