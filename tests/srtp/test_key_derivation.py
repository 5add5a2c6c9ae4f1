import pytest

from sipperc.srtp.key_derivation import Label, SessionKeys, derive

RFC3711_MASTER_KEY = bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139")
RFC3711_MASTER_SALT = bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6")


def test_rfc3711_appendix_b3():
    keys = SessionKeys.derive(RFC3711_MASTER_KEY, RFC3711_MASTER_SALT, rtcp=False,
                              authentication_key_length=20)
    assert keys.encryption_key.hex() == "c61e7a93744f39ee10734afe3ff7a087"
    assert keys.salt.hex() == "30cbbc08863d8c85d49db34a9ae1"
    assert keys.authentication_key.hex() == "cebe321f6ff7716b6fd4ab49af256a156d38baa4"


def test_aead_salt_is_padded_with_two_zero_bytes():
    # The cross-check value of perc.md §7 (webrtc-srtp and libsrtp agree on it).
    salt = derive(bytes(range(16)), bytes(range(0x40, 0x4C)), Label.SRTP_SALT, 12)
    assert salt.hex() == "1fcd5d561e66dc49ec1c3ccb"


def test_rtcp_labels_give_other_keys():
    rtp = SessionKeys.derive(RFC3711_MASTER_KEY, RFC3711_MASTER_SALT, rtcp=False,
                             authentication_key_length=20)
    rtcp = SessionKeys.derive(RFC3711_MASTER_KEY, RFC3711_MASTER_SALT, rtcp=True,
                              authentication_key_length=20)
    assert {rtp.encryption_key, rtp.salt, rtp.authentication_key}.isdisjoint(
        {rtcp.encryption_key, rtcp.salt, rtcp.authentication_key})


def test_repr_hides_keys():
    keys = SessionKeys.derive(RFC3711_MASTER_KEY, RFC3711_MASTER_SALT, rtcp=False,
                              authentication_key_length=20)
    assert repr(keys) == ("SessionKeys(encryption_key=<16 bytes>, "
                          "authentication_key=<20 bytes>, salt=<14 bytes>)")
    assert keys.encryption_key.hex() not in repr(keys)


def test_bad_lengths_are_refused():
    with pytest.raises(ValueError, match="16 or 32"):
        derive(bytes(24), bytes(14), Label.SRTP_ENCRYPTION, 16)
    with pytest.raises(ValueError, match="longer than 14"):
        derive(bytes(16), bytes(15), Label.SRTP_ENCRYPTION, 16)
