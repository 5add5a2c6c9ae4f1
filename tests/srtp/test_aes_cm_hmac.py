"""RFC 3711 Appendix B.2 keystream and the AES-CM/HMAC-SHA1 packet layout."""

import hmac as std_hmac

import pytest

from sipperc.srtp import Profile, SrtpSession
from sipperc.srtp.key_derivation import SessionKeys


def test_rfc3711_appendix_b2_keystream():
    session = SrtpSession(Profile.AES_CM_128_HMAC_SHA1_80, master_key=bytes(16),
                          master_salt=bytes(14))
    keys = SessionKeys(bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C"), bytes(20),
                       bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"))
    session._use_session_keys(keys, keys)
    # SSRC 0 and index 0 leave the IV at salt * 2^16; a zero payload shows the keystream.
    srtp = session.protect(bytes.fromhex("800000000000000000000000") + bytes(32))
    assert srtp[12:44].hex() == ("e03ead0935c95e80e166b16dd92b4eb4"
                                 "d23513162b02d0f72a43a2fe4a5f97ab")


@pytest.mark.parametrize(("profile", "tag_length"), [
    (Profile.AES_CM_128_HMAC_SHA1_80, 10), (Profile.AES_CM_128_HMAC_SHA1_32, 4)])
def test_tag_is_truncated_hmac_sha1_over_packet_and_roc(profile, tag_length):
    session = SrtpSession(profile, master_key=bytes(16), master_salt=bytes(14))
    keys = SessionKeys(bytes(16), b"k" * 20, bytes(14))
    session._use_session_keys(keys, keys)
    rtp = bytes.fromhex("80000001000000010000000a") + b"payload"
    srtp = session.protect(rtp)
    assert len(srtp) == len(rtp) + tag_length
    expected = std_hmac.digest(b"k" * 20, srtp[:-tag_length] + bytes(4), "sha1")[:tag_length]
    assert srtp[-tag_length:] == expected


def test_srtcp_tag_is_80_bits_even_for_the_32_bit_profile():
    session = SrtpSession(Profile.AES_CM_128_HMAC_SHA1_32, master_key=bytes(16),
                          master_salt=bytes(14))
    rtcp = bytes.fromhex("80c90001cafebabe")
    srtcp = session.protect_rtcp(rtcp)
    assert len(srtcp) == len(rtcp) + 4 + 10
    assert srtcp[8:12] == bytes.fromhex("80000000")  # nothing after the header: E=1, index 0
