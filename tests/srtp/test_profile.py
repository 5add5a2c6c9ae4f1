import pytest

from sipperc.srtp import Profile


def test_dtls_and_sdes_names_are_the_same_member():
    assert Profile["SRTP_AES128_CM_HMAC_SHA1_80"] is Profile.AES_CM_128_HMAC_SHA1_80
    assert Profile["SRTP_AEAD_AES_256_GCM"] is Profile.AEAD_AES_256_GCM
    assert Profile.from_sdes_name("AES_CM_128_HMAC_SHA1_32") is Profile.AES_CM_128_HMAC_SHA1_32
    assert len(list(Profile)) == 6


@pytest.mark.parametrize(
    ("code", "key", "salt", "tag"),
    [(0x0001, 16, 14, 10), (0x0002, 16, 14, 4), (0x0007, 16, 12, 16), (0x0008, 32, 12, 16),
     (0x0009, 32, 24, 32), (0x000A, 64, 24, 32)],
)
def test_lengths_follow_the_rfc_tables(code, key, salt, tag):
    profile = Profile.from_dtls_id(code)
    assert profile.master_key_length == key
    assert profile.master_salt_length == salt
    assert profile.parameters.srtp_auth_tag_length == tag


def test_double_profiles_split_into_their_single_halves():
    double = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
    assert double.is_double and double.is_aead
    assert double.inner is Profile.AEAD_AES_128_GCM
    assert double.sdes_name is None  # RFC 4568 registry has no double suite (perc.md §6)
    assert Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM.inner is Profile.AEAD_AES_256_GCM


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown SDES crypto suite"):
        Profile.from_sdes_name("F8_128_HMAC_SHA1_80")
    with pytest.raises(ValueError):
        Profile.from_dtls_id(0x0003)
