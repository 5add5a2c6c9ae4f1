import pytest

from sipperc.sdp import grammar


@pytest.mark.parametrize(("rule", "good", "bad"), [
    (grammar.ORIGIN_FIELD, "jdoe 3724394400 3724394405 IN IP4 198.51.100.1",
     "jdoe x 1 IN IP4 h"),
    (grammar.MEDIA_FIELD, "video 51372/2 RTP/AVP 99 100", "video 51372 RTP/AVP"),
    (grammar.TIME_FIELD, "3034423619 3042462419", "123 0"),
    (grammar.REPEAT_FIELD, "7d 1h 0 25h", "0 1h 0"),
    (grammar.ZONE_FIELD, "2882844526 -1h 2898848070 0", "2882844526"),
    (grammar.FINGERPRINT_VALUE, "sha-256 0A:FF", "sha-256 0AFF"),
    (grammar.TLS_ID_VALUE, "abc3de65cddef001be82", "abc3de65cddef001be8"),
    (grammar.CRYPTO_VALUE, "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD KDR=1", "x AES inline:QUJD"),
    (grammar.SRTP_KEY_INFO, "QUJD|2^20|1:4", "QUJD|2^|1:4"),
    (grammar.EXTMAP_VALUE, "1/sendonly urn:x vad=on", "1/sometimes urn:x"),
    (grammar.SETUP_VALUE, "HoldConn", "connect"),
])
def test_rules_accept_and_reject(rule, good, bad):
    assert rule.fullmatch(good)
    assert not rule.fullmatch(bad)
