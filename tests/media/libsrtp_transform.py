"""libsrtp (through pylibsrtp) as an RtpSession transform, one context per direction as SDES
keys it, so the media tests run real SRTP against the reference implementation."""

import pylibsrtp

KEY = bytes(range(30))  # 16-byte key + 14-byte salt


class LibSrtp:
    def __init__(self, send_key, receive_key):
        def session(key, direction):
            return pylibsrtp.Session(pylibsrtp.Policy(
                key=key, ssrc_type=direction,
                srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
        self._tx = session(send_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        self._rx = session(receive_key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        self.protect, self.protect_rtcp = self._tx.protect, self._tx.protect_rtcp
        self.unprotect, self.unprotect_rtcp = self._rx.unprotect, self._rx.unprotect_rtcp


def srtp_pair():
    return LibSrtp(KEY, KEY[::-1]), LibSrtp(KEY[::-1], KEY)
