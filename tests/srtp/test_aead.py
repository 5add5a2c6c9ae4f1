"""RFC 7714 §16 and §17 test vectors, bit-exact, through the session's RTP and RTCP paths."""

import pytest

from sipperc.srtp import Profile, SrtpSession
from sipperc.srtp.key_derivation import SessionKeys
from sipperc.srtp.stream import SrtcpStream

SALT = bytes.fromhex("517569642070726f2071756f")
RTP = bytes.fromhex("8040f17b8041f8d35501a0b2"
                    "47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573")
RTCP = bytes.fromhex("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61"
                     + "deadbeef" * 5)
SRTCP_INDEX = 0x5D4

VECTORS = {
    Profile.AEAD_AES_128_GCM: (
        bytes(range(16)),
        "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d1"
        "9b36de3adf8833899d7f27beb16a9152cf765ee4390cce",
        "81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b"
        "4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4",
        "841dd9683dd78ec92ae58790125f62b3"),
    Profile.AEAD_AES_256_GCM: (
        bytes(range(32)),
        "8040f17b8041f8d35501a0b232b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae"
        "0f1ba63799b87b7aa3db36dfffd6b0f9bb7878d7a76c13",
        "81c8000d4d617273d50ae4d1f5ce5d304ba297e47d470c282c3ece5dbffe0a50a2eaa5c1110555be8415f6"
        "58c61de0476f1b6fad1d1eb30c4446839f57ff6f6cb26ac3be800005d4",
        "91db4afbfeee5a978fab4393ed2615fe"),
}


def session_with_rfc_keys(profile, key, encrypt_rtcp=True):
    """RFC 7714 gives session keys, not master keys: install them under the KDF."""
    session = SrtpSession(profile, master_key=bytes(len(key)), master_salt=bytes(12),
                          encrypt_rtcp=encrypt_rtcp)
    keys = SessionKeys(key, b"", SALT)
    session._use_session_keys(keys, keys)
    ssrc = RTCP[4:8]
    nonce_base = session._nonce_base(int.from_bytes(ssrc), session._rtcp_salt)
    session._rtcp_tx[ssrc] = SrtcpStream(128, nonce_base, SRTCP_INDEX)
    return session


@pytest.mark.parametrize("profile", VECTORS)
def test_rtp_vectors(profile):
    key, srtp, _, _ = VECTORS[profile]
    assert session_with_rfc_keys(profile, key).protect(RTP).hex() == srtp
    assert session_with_rfc_keys(profile, key).unprotect(bytes.fromhex(srtp)) == RTP


@pytest.mark.parametrize("profile", VECTORS)
def test_rtcp_vectors_encrypted(profile):
    key, _, srtcp, _ = VECTORS[profile]
    assert session_with_rfc_keys(profile, key).protect_rtcp(RTCP).hex() == srtcp
    assert session_with_rfc_keys(profile, key).unprotect_rtcp(bytes.fromhex(srtcp)) == RTCP


@pytest.mark.parametrize("profile", VECTORS)
def test_rtcp_vectors_authenticated_only(profile):
    key, _, _, tag = VECTORS[profile]
    srtcp = session_with_rfc_keys(profile, key, encrypt_rtcp=False).protect_rtcp(RTCP)
    assert srtcp.hex() == RTCP.hex() + tag + "000005d4"
    assert session_with_rfc_keys(profile, key).unprotect_rtcp(srtcp) == RTCP
