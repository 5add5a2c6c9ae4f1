import pytest

from sipperc.sdp.attributes import RtpMap
from sipperc.sdp.codec import Codec


def test_matching_ignores_case_and_payload_type_but_not_rate_or_channels():
    opus = Codec("opus", 48000, 2)
    assert opus.matches(RtpMap(111, "OPUS", 48000, 2), None)
    assert not opus.matches(RtpMap(111, "opus", 48000, None), None)
    assert not Codec("telephone-event", 8000).matches(RtpMap(101, "telephone-event", 16000),
                                                      "0-16")


def test_fmtp_rules():
    amr = Codec("AMR", 8000, fmtp="octet-align=1")
    assert amr.matches(RtpMap(97, "AMR", 8000), "octet-align=1; mode-set=7")
    assert not amr.matches(RtpMap(97, "AMR", 8000), None)
    h264 = Codec("H264", 90000, fmtp="profile-level-id=640c1f;packetization-mode=1")
    assert not h264.matches(RtpMap(98, "H264", 90000), "profile-level-id=42e01f;"
                                                         "packetization-mode=1")
    assert Codec("opus", 48000, 2, "stereo=1").matches(RtpMap(96, "opus", 48000, 2), "x=y")


def test_auxiliary_formats_and_validation():
    assert Codec("telephone-event", 8000).auxiliary and Codec("CN", 8000).auxiliary
    assert not Codec("PCMU", 8000).auxiliary
    assert str(Codec("opus", 48000, 2).rtpmap(96)) == "96 opus/48000/2"
    assert str(Codec("PCMU", 8000).rtpmap(0)) == "0 PCMU/8000"
    with pytest.raises(ValueError):
        Codec("bad name", 8000)
    with pytest.raises(ValueError):
        Codec("x", 8000, payload_type=128)
