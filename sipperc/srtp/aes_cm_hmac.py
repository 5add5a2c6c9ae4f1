"""AES_CM_128_HMAC_SHA1_80 and AES_CM_128_HMAC_SHA1_32 for SRTP and SRTCP (RFC 3711).

Encryption is AES in counter mode (§4.1.1): the 16-byte IV is ``(salt * 2^16) XOR (SSRC *
2^64) XOR (index * 2^16)`` and the low 16 bits count blocks. One counter-mode context is keyed
per session and given each packet's IV with ``reset_nonce``, because keying a context per packet
costs more than the rest of the packet's work. Authentication is HMAC-SHA1 (§4.2) over
``header || encrypted payload || ROC`` for SRTP and over ``header || encrypted part || E ||
index`` for SRTCP, truncated to 80 or 32 bits (SRTCP always 80, RFC 5764 §4.1.2). The MKI, if
any, sits between the authenticated portion and the tag (§3.1).
"""

from __future__ import annotations

from collections.abc import Callable
from hmac import compare_digest  # constant-time comparison only; the MAC is cryptography's

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sipperc.srtp.errors import AuthenticationError, MalformedPacketError
from sipperc.srtp.key_derivation import SessionKeys
from sipperc.srtp.profile import Profile
from sipperc.srtp.session import (
    SEQ_AND_SSRC,
    SIMPLE_HEADER_LENGTHS,
    SRTCP_E_FLAG,
    SrtpSession,
    header_length,
    rtcp_ssrc,
)

AUTHENTICATION_KEY_LENGTH = 20


def _hmac(key: bytes) -> hmac.HMAC:
    """HMAC-SHA1 (RFC 3711 §4.2.1) keyed once; each packet works on a copy."""
    # HMAC-SHA1 is what RFC 3711 specifies; it is not used as a plain hash here.
    return hmac.HMAC(key, hashes.SHA1())  # noqa: S303


def _counter_mode(key: bytes) -> tuple[Callable[[bytes], None], Callable[[bytes], bytes]]:
    """AES-CM (RFC 3711 §4.1.1) under one session key: (set the IV, encrypt or decrypt)."""
    context = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return context.reset_nonce, context.update


class AesCmHmacSession(SrtpSession, profiles=(Profile.AES_CM_128_HMAC_SHA1_80,
                                              Profile.AES_CM_128_HMAC_SHA1_32)):
    """SRTP/SRTCP with AES-CM and HMAC-SHA1 (RFC 3711); create it through SrtpSession."""

    _authentication_key_length = AUTHENTICATION_KEY_LENGTH
    # Each direction of SRTP has its own contexts, since EKT can key them apart.
    _tx_iv: Callable[[bytes], None]
    _tx_crypt: Callable[[bytes], bytes]
    _tx_mac: hmac.HMAC
    _rx_iv: Callable[[bytes], None]
    _rx_crypt: Callable[[bytes], bytes]
    _rx_mac: hmac.HMAC
    _rtcp_iv: Callable[[bytes], None]
    _rtcp_crypt: Callable[[bytes], bytes]
    _rtcp_mac: hmac.HMAC
    _rtp_tag_length: int
    _rtcp_tag_length: int

    def _use_rtp_keys(self, keys: SessionKeys, *, outbound: bool) -> None:
        iv, crypt = _counter_mode(keys.encryption_key)
        mac = _hmac(keys.authentication_key)
        if outbound:
            self._tx_iv, self._tx_crypt, self._tx_mac = iv, crypt, mac
            self._rtp_tx_salt = int.from_bytes(keys.salt)
        else:
            self._rx_iv, self._rx_crypt, self._rx_mac = iv, crypt, mac
            self._rtp_rx_salt = int.from_bytes(keys.salt)
        self._rtp_tag_length = self.profile.parameters.srtp_auth_tag_length

    def _use_rtcp_keys(self, keys: SessionKeys) -> None:
        self._rtcp_iv, self._rtcp_crypt = _counter_mode(keys.encryption_key)
        self._rtcp_mac = _hmac(keys.authentication_key)
        self._rtcp_salt = int.from_bytes(keys.salt)
        self._rtcp_tag_length = self.profile.parameters.srtcp_auth_tag_length

    def _after_mki(self, rtcp: bool) -> int:
        return self._rtcp_tag_length if rtcp else self._rtp_tag_length

    def _nonce_base(self, ssrc: int, salt: int) -> int:
        return salt << 16 ^ ssrc << 64

    def protect(self, rtp: bytes) -> bytes:
        """Protect one RTP packet (RFC 3711 §3.3); see :meth:`SrtpSession.protect`."""
        # The fast paths of header_length and SrtpStream.send_index, inline (see
        # SIMPLE_HEADER_LENGTHS: each call would cost a few percent here).
        length = SIMPLE_HEADER_LENGTHS[rtp[0]] if rtp else 0
        if not length or len(rtp) < length:
            length = header_length(rtp)
        seq, ssrc = SEQ_AND_SSRC(rtp)
        stream = self._rtp_tx.get(ssrc)
        if stream is None:
            stream = self._new_rtp_tx(ssrc)
        index = stream.highest + 1
        if seq == index & 0xFFFF != 0:
            stream.highest = index
        else:
            index = stream.send_index(seq)
        # Instance attributes called through locals: see AeadSession._rtp_encrypt.
        set_iv, crypt = self._tx_iv, self._tx_crypt
        set_iv((stream.nonce_base ^ index << 16).to_bytes(16))
        out = rtp[:length] + crypt(rtp[length:])
        mac = self._tx_mac.copy()
        mac.update(out + (index >> 16).to_bytes(4))  # one concatenation costs less than a call
        return out + mac.finalize()[:self._rtp_tag_length]

    def unprotect(self, srtp: bytes) -> bytes:
        """Check and decrypt one SRTP packet (RFC 3711 §3.3)."""
        # The fast paths of header_length, SrtpStream.receive_index and accept, inline.
        length = SIMPLE_HEADER_LENGTHS[srtp[0]] if srtp else 0
        if not length or len(srtp) < length + self._rtp_tag_length:
            length = header_length(srtp, self._rtp_tag_length)
        end = len(srtp) - self._rtp_tag_length
        seq, ssrc = SEQ_AND_SSRC(srtp)
        stream = self._rtp_rx.get(ssrc)
        if stream is None:
            # This class's unprotect for a new SSRC, not the MKI layer's (see MkiSession).
            return self._unprotect_unknown(srtp, AesCmHmacSession.unprotect)
        index = stream.highest + 1
        in_order = seq == index & 0xFFFF
        if not in_order:
            index = stream.receive_index(seq)
        mac = self._rx_mac.copy()
        mac.update(srtp[:end] + (index >> 16).to_bytes(4))
        if not compare_digest(mac.finalize()[:self._rtp_tag_length], srtp[end:]):
            raise AuthenticationError(f"SRTP tag does not verify (SSRC {srtp[8:12].hex()}, "
                                      f"index {index})")
        if in_order:
            stream.highest = index
        else:
            stream.accept(index)
        set_iv, crypt = self._rx_iv, self._rx_crypt
        set_iv((stream.nonce_base ^ index << 16).to_bytes(16))
        return srtp[:length] + crypt(srtp[length:end])

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Protect one compound RTCP packet (RFC 3711 §3.4)."""
        stream = self._rtcp_stream(self._rtcp_tx, rtcp_ssrc(rtcp))
        index = stream.next_index()
        if self.encrypt_rtcp:
            self._rtcp_iv((stream.nonce_base ^ index << 16).to_bytes(16))
            out = rtcp[:8] + self._rtcp_crypt(rtcp[8:]) + (SRTCP_E_FLAG | index).to_bytes(4)
        else:
            out = rtcp + index.to_bytes(4)
        mac = self._rtcp_mac.copy()
        mac.update(out)
        return out + mac.finalize()[:self._rtcp_tag_length]

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Check and decrypt one SRTCP packet (RFC 3711 §3.4)."""
        end = len(srtcp) - self._rtcp_tag_length
        if end < 12:
            raise MalformedPacketError(f"SRTCP packet of {len(srtcp)} bytes is too short for "
                                       "header, index and tag")
        ssrc = rtcp_ssrc(srtcp)
        word = int.from_bytes(srtcp[end - 4:end])
        index = word & ~SRTCP_E_FLAG
        stream = self._rtcp_stream(self._rtcp_rx, ssrc)
        stream.check(index)
        mac = self._rtcp_mac.copy()
        mac.update(srtcp[:end])
        if not compare_digest(mac.finalize()[:self._rtcp_tag_length],
                                            srtcp[end:]):
            raise AuthenticationError(f"SRTCP tag does not verify (SSRC {ssrc.hex()}, "
                                      f"index {index})")
        stream.accept(index)
        self._rtcp_rx.setdefault(ssrc, stream)
        if word & SRTCP_E_FLAG:
            self._rtcp_iv((stream.nonce_base ^ index << 16).to_bytes(16))
            return srtcp[:8] + self._rtcp_crypt(srtcp[8:end - 4])
        return srtcp[:end - 4]
