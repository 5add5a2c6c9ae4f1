from sipperc.srtp import EKTCipher


def test_dtls_extension_code_points_and_key_lengths():
    # RFC 8870 §5.2: enum { reserved(0), aeskw_128(1), aeskw_256(2) } EKTCipherType
    assert EKTCipher(1) is EKTCipher.AESKW_128 and EKTCipher.AESKW_128.key_length == 16
    assert EKTCipher(2) is EKTCipher.AESKW_256 and EKTCipher.AESKW_256.key_length == 32
