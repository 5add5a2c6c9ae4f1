"""Cipher suite parameters (RFC 5288, RFC 5289, RFC 7905)."""

from __future__ import annotations

from sipperc.dtls.cipher_suite import DEFAULT_CIPHER_SUITES, CipherSuite, NamedGroup


def test_code_points_and_parameters() -> None:
    assert [int(s) for s in DEFAULT_CIPHER_SUITES] == [0xC02B, 0xC02C, 0xCCA9,
                                                       0xC02F, 0xC030, 0xCCA8]
    assert [s.parameters.rsa for s in DEFAULT_CIPHER_SUITES] == [False] * 3 + [True] * 3
    aes128 = CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.parameters
    assert (aes128.hash_name, aes128.key_length, aes128.fixed_iv_length,
            aes128.explicit_nonce_length) == ("sha256", 16, 4, 8)
    assert CipherSuite.ECDHE_ECDSA_WITH_AES_256_GCM_SHA384.parameters.hash_name == "sha384"
    chacha = CipherSuite.ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256.parameters
    assert (chacha.fixed_iv_length, chacha.explicit_nonce_length, chacha.chacha) == (12, 0, True)
    assert (NamedGroup.X25519, NamedGroup.SECP256R1) == (29, 23)
