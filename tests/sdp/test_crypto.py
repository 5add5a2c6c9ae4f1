import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.sdp.crypto import Crypto, InlineKey, KeyParam
from sipperc.srtp import Profile

SINGLE = [p for p in Profile if not p.is_double]


def test_rfc4568_example_with_lifetime_and_mki():
    # RFC 4568 §4 example.
    text = ("1 AES_CM_128_HMAC_SHA1_80 "
            "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32")
    crypto = Crypto.parse(text)
    (key,) = crypto.keys
    assert (crypto.tag, crypto.profile) == (1, Profile.AES_CM_128_HMAC_SHA1_80)
    assert (key.lifetime, key.mki, key.mki_length) == (2**20, 1, 32)
    master_key, master_salt = key.split(Profile.AES_CM_128_HMAC_SHA1_80)
    assert master_key + master_salt == base64.b64decode(
        "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR")
    assert str(crypto) == text


def test_several_keys_session_parameters_and_other_methods():
    text = ("2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;"
            "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP")
    crypto = Crypto.parse(text)
    assert [k.mki for k in crypto.keys] == [1, 2]
    assert crypto.session_params == ("FEC_ORDER=FEC_SRTP",)
    assert crypto.session_parameter_names == {"FEC_ORDER"}
    assert crypto.profile is None  # F8 is not one of sipperc's profiles
    assert str(crypto) == text
    other = Crypto.parse("3 AES_CM_128_HMAC_SHA1_80 mikey:secret")
    assert other.keys == (KeyParam("mikey", "secret"),)
    assert "secret" not in repr(other)


@pytest.mark.parametrize(("text", "problem"), [
    ("1 AES_CM_128_HMAC_SHA1_80 inline:QUJD", r"16\+14 bytes"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", "inline:<base64"),
    ("1 AES_CM_128_HMAC_SHA1_80", "expected '<tag>"),
    ("1234567890 AES_CM_128_HMAC_SHA1_80 inline:QUJD", "expected '<tag>"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|300:1",
     "does not fit"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR;"
     "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR", "MKI each"),
])
def test_malformed_crypto(text, problem):
    with pytest.raises(ValueError, match=problem):
        Crypto.parse(text)


def test_unpadded_base64_is_accepted():
    key = bytes(range(28))
    unpadded = base64.b64encode(key).decode().rstrip("=")
    crypto = Crypto.parse(f"1 AEAD_AES_128_GCM inline:{unpadded}")
    assert crypto.keys[0].key_salt == key


@pytest.mark.parametrize("profile", SINGLE)
def test_generated_keys_round_trip(profile):
    crypto = Crypto.generate(7, profile)
    parsed = Crypto.parse(str(crypto))
    assert parsed == crypto
    key, salt = parsed.keys[0].split(profile)
    assert (len(key), len(salt)) == (profile.master_key_length, profile.master_salt_length)
    assert base64.b64encode(crypto.keys[0].key_salt).decode() not in repr(crypto)
    assert f"<{len(key) + len(salt)} bytes>" in repr(crypto)


def test_double_profiles_have_no_sdes_suite():
    with pytest.raises(ValueError, match="no SDES crypto suite"):
        Crypto.generate(1, Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM)


@given(st.sampled_from(SINGLE), st.none() | st.integers(0, 48),
       st.none() | st.tuples(st.integers(1, 4), st.integers(0, 255)), st.integers(0, 10**9 - 1))
def test_keys_with_lifetime_and_mki_round_trip(profile, exponent, mki, tag):
    length, value = mki if mki else (None, None)
    key = InlineKey(bytes(range(profile.master_key_length + profile.master_salt_length)),
                    None if exponent is None else 2**exponent, value, length)
    crypto = Crypto(tag, profile.sdes_name, (key,))
    assert Crypto.parse(str(crypto)) == crypto
