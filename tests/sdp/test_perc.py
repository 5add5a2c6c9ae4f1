import pytest

from sipperc.sdp import parse_sdp
from sipperc.sdp.perc import PERC_ATTRIBUTE, PercMarker, PercRole


def test_marker_values():
    assert PercMarker.parse("1 endpoint") == PercMarker(1, PercRole.ENDPOINT)
    assert str(PercMarker.ours(PercRole.FOCUS)) == "1 focus"
    newer = PercMarker.parse("2 relay sframe")
    assert (newer.version, newer.role, newer.extensions) == (2, "relay", ("sframe",))
    assert str(newer) == "2 relay sframe"
    with pytest.raises(ValueError, match="<version> <role>"):
        PercMarker.parse("endpoint")


def test_marker_is_a_media_attribute_next_to_standard_dtls_ones():
    sdp = parse_sdp(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        "m=audio 5004 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
        "a=setup:actpass\r\na=tls-id:abc3de65cddef001be82\r\n"
        f"a={PERC_ATTRIBUTE}:1 endpoint\r\n")
    assert sdp.media[0].perc == PercMarker(1, PercRole.ENDPOINT)
    with pytest.raises(ValueError, match=r"^line 10 "):
        parse_sdp(str(sdp).replace("perc:1 endpoint", "perc:one endpoint"))
