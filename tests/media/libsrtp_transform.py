"""libsrtp (through pylibsrtp) contexts inside our SrtpTransform, one per direction as SDES
keys them, so the media tests run real SRTP against the reference implementation."""

import pylibsrtp

from sipperc.media.transform import SrtpTransform

KEY = bytes(range(30))  # 16-byte key + 14-byte salt


def libsrtp(key, direction):
    return pylibsrtp.Session(pylibsrtp.Policy(
        key=key, ssrc_type=direction,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80))


def srtp_pair():
    a_to_b, b_to_a = KEY, KEY[::-1]
    return (SrtpTransform(libsrtp(a_to_b, pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
                          libsrtp(b_to_a, pylibsrtp.Policy.SSRC_ANY_INBOUND)),
            SrtpTransform(libsrtp(b_to_a, pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
                          libsrtp(a_to_b, pylibsrtp.Policy.SSRC_ANY_INBOUND)))
