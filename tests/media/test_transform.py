import pytest

from sipperc.media.transform import PlainRtp
from sipperc.rtp import RtpPacket
from tests.media.libsrtp_transform import srtp_pair

PACKET = bytes(RtpPacket(True, 0, 1, 160, 0x1234, payload=b"\xff" * 160))


def test_plain_rtp_is_the_identity():
    plain = PlainRtp()
    assert plain.unprotect(plain.protect(PACKET)) == PACKET
    report = b"\x80\xc9\x00\x01abcd"
    assert plain.unprotect_rtcp(plain.protect_rtcp(report)) == report


def test_each_direction_has_its_own_key():
    a, b = srtp_pair()
    protected = a.protect(PACKET)
    assert protected != PACKET and len(protected) == len(PACKET) + 10  # HMAC-SHA1-80 tag
    assert b.unprotect(protected) == PACKET
    with pytest.raises(Exception, match="auth"):
        a.unprotect(a.protect(PACKET[:2] + b"\x00\x02" + PACKET[4:]))  # a's own key: refused
    assert "SrtpTransform(outbound=" in repr(a)
