"""Splitting DTLS-SRTP exporter output (RFC 5764 §4.2, RFC 8723 §3 for double profiles)."""

from __future__ import annotations

import pytest

from sipperc.dtls.srtp_keys import SrtpKeyingMaterial, exporter_length
from sipperc.srtp import Profile

PROFILES = [Profile.AES_CM_128_HMAC_SHA1_80, Profile.AES_CM_128_HMAC_SHA1_32,
            Profile.AEAD_AES_128_GCM, Profile.AEAD_AES_256_GCM,
            Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM,
            Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_split_order_is_client_key_server_key_client_salt_server_salt(profile: Profile) -> None:
    k, s = profile.master_key_length, profile.master_salt_length
    material = b"C" * k + b"S" * k + b"c" * s + b"s" * s
    keys = SrtpKeyingMaterial.split(profile, material)
    assert (keys.client_key, keys.server_key, keys.client_salt, keys.server_salt) == (
        b"C" * k, b"S" * k, b"c" * s, b"s" * s)
    assert keys.local(True) == keys.remote(False) == (b"C" * k, b"c" * s)
    assert "CCCC" not in repr(keys) and f"<{k} bytes>" in repr(keys)


def test_double_profile_lengths_match_perc_spec() -> None:
    # perc.md §1.1: 112 bytes for the 128-bit double profile, 176 for the 256-bit one.
    assert exporter_length(Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM) == 112
    assert exporter_length(Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM) == 176
    # Each key is inner || outer: the first half of the 32-byte key is the inner key.
    material = bytes(range(112))
    keys = SrtpKeyingMaterial.split(Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM, material)
    assert keys.client_key == bytes(range(32))
    assert keys.client_salt == bytes(range(64, 88))


def test_wrong_length_refused() -> None:
    with pytest.raises(ValueError, match="needs 56 bytes"):
        SrtpKeyingMaterial.split(Profile.AEAD_AES_128_GCM, bytes(55))
