import pytest

from sipperc.sdp.attributes import (
    AUDIO_LEVEL_URI,
    Attribute,
    Direction,
    ExtMap,
    Fmtp,
    Group,
    PacketTime,
    Rtcp,
    RtpMap,
    Ssrc,
    validate_attribute,
)


@pytest.mark.parametrize(("cls", "text"), [
    (RtpMap, "96 opus/48000/2"), (RtpMap, "0 PCMU/8000"), (Fmtp, "101 0-15"),
    (Fmtp, "96 stereo=1;sprop-stereo=1"), (Rtcp, "53020"), (Rtcp, "53020 IN IP6 2001:db8::1"),
    (ExtMap, f"1 {AUDIO_LEVEL_URI} vad=on"),
    (ExtMap, "2/recvonly urn:ietf:params:rtp-hdrext:toffset"),
    (ExtMap, "4096 urn:x"), (Ssrc, "1267782424 cname:2dbe8fbe7b3482f8"), (Ssrc, "4 msid:a b"),
    (Group, "BUNDLE 0 1"), (Group, "LS"), (PacketTime, "20"), (PacketTime, "22.5"),
])
def test_typed_values_round_trip(cls, text):
    assert str(cls.parse(text)) == text


def test_rtpmap_fields():
    rtpmap = RtpMap.parse("96 opus/48000/2")
    assert (rtpmap.payload_type, rtpmap.encoding_name, rtpmap.clock_rate, rtpmap.channels) == (
        96, "opus", 48000, 2)
    assert RtpMap.parse("0 PCMU/8000").channels == 1  # RFC 8866 §6.6 default
    with pytest.raises(ValueError, match="0-127"):
        RtpMap.parse("128 x/8000")


def test_fmtp_parameter_map():
    assert Fmtp.parse("96 minptime=10; useinbandfec=1").parameter_map() == {
        "minptime": "10", "useinbandfec": "1"}
    assert Fmtp.parse("101 0-15").parameter_map() == {"0-15": ""}


def test_audio_level_vad():
    assert ExtMap.parse(f"1 {AUDIO_LEVEL_URI} vad=on").vad is True
    assert ExtMap.parse(f"1 {AUDIO_LEVEL_URI} vad=off").vad is False
    assert ExtMap.parse(f"1 {AUDIO_LEVEL_URI}").vad is None
    assert ExtMap.parse("1 urn:other vad=on").vad is None
    with pytest.raises(ValueError, match="outside"):
        ExtMap(0, AUDIO_LEVEL_URI)


def test_directions():
    assert Direction.SENDONLY.reversed is Direction.RECVONLY
    assert Direction.SENDRECV & Direction.RECVONLY is Direction.RECVONLY
    assert Direction.SENDONLY & Direction.RECVONLY is Direction.INACTIVE
    assert Direction.of(sends=True, receives=False) is Direction.SENDONLY
    assert [d.sends for d in Direction] == [True, True, False, False]


def test_ssrc_range_and_cname():
    assert Ssrc.parse("4294967295 cname:x").ssrc == 2**32 - 1
    with pytest.raises(ValueError, match="32 bits"):
        Ssrc.parse("4294967296 cname:x")


def test_attribute_validation():
    with pytest.raises(ValueError, match="not a token"):
        Attribute("bad name")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Attribute("x", "a\r\nb")
    with pytest.raises(ValueError, match="needs a value"):
        validate_attribute(Attribute("rtpmap"))
    with pytest.raises(ValueError, match="takes no value"):
        validate_attribute(Attribute("rtcp-mux", "1"))
    validate_attribute(Attribute("x-unknown", "anything at all"))
    assert repr(Attribute("crypto", "1 AES_CM_128_HMAC_SHA1_80 inline:SECRET")) == \
        "Attribute('crypto', <redacted>)"
