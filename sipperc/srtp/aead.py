"""AEAD_AES_128_GCM and AEAD_AES_256_GCM for SRTP and SRTCP (RFC 7714).

SRTP (§8, §9): the 12-byte IV is ``(0x0000 || SSRC || ROC || SEQ) XOR salt``; the AAD is the
whole RTP header (CSRCs and extension included); the packet is ``header || ciphertext ||
tag(16) [|| MKI]``. SRTCP (§9, §17): the IV has the 31-bit SRTCP index where SRTP has ROC and
SEQ; with E=1 the AAD is the first 8 octets plus the ``E || index`` word and everything after
them is encrypted; with E=0 the whole packet plus the word is AAD. The word follows the tag.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
from sipperc.srtp.stream import SrtpStream

TAG_LENGTH = 16


class AeadSession(SrtpSession, profiles=(Profile.AEAD_AES_128_GCM, Profile.AEAD_AES_256_GCM)):
    """SRTP/SRTCP with AES-GCM (RFC 7714); create it through :class:`SrtpSession`."""

    _rtp_encrypt: Callable[[bytes, bytes, bytes], bytes]
    """The outbound key's AESGCM.encrypt. The hot paths copy it (and ``_rtp_decrypt``) to a
    local before calling it: called as ``self._rtp_encrypt(...)``, an instance attribute that is
    not a method, CPython 3.11 cannot specialize the look-up and searches the instance dict on
    every packet (about 5% of a distributor's re-encrypt, measured with srtp_bench.py)."""
    _rtp_decrypt: Callable[[bytes, bytes, bytes], bytes]
    _rtcp_aead: AESGCM

    def _use_rtp_keys(self, keys: SessionKeys, *, outbound: bool) -> None:
        if outbound:
            self._rtp_encrypt = AESGCM(keys.encryption_key).encrypt
            self._rtp_tx_salt = int.from_bytes(keys.salt)
        else:
            self._rtp_decrypt = AESGCM(keys.encryption_key).decrypt
            self._rtp_rx_salt = int.from_bytes(keys.salt)

    def _use_rtcp_keys(self, keys: SessionKeys) -> None:
        self._rtcp_aead = AESGCM(keys.encryption_key)
        self._rtcp_salt = int.from_bytes(keys.salt)

    def _nonce_base(self, ssrc: int, salt: int) -> int:
        return salt ^ ssrc << 48

    def protect(self, rtp: bytes) -> bytes:
        """Protect one RTP packet (RFC 7714 §8.1); see :meth:`SrtpSession.protect`."""
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
        header = rtp[:length]
        encrypt = self._rtp_encrypt  # see _rtp_encrypt: a local, so the call is not LOAD_METHOD
        return header + encrypt((stream.nonce_base ^ index).to_bytes(12), rtp[length:], header)

    def unprotect(self, srtp: bytes) -> bytes:
        """Check and decrypt one SRTP packet (RFC 7714 §8.2)."""
        # The fast paths of header_length, SrtpStream.receive_index and accept, inline.
        length = SIMPLE_HEADER_LENGTHS[srtp[0]] if srtp else 0
        if not length or len(srtp) < length + TAG_LENGTH:
            length = header_length(srtp, TAG_LENGTH)
        seq, ssrc = SEQ_AND_SSRC(srtp)
        stream = self._rtp_rx.get(ssrc)
        if stream is None:
            # This class's unprotect for a new SSRC, not the MKI layer's (see MkiSession).
            return self._unprotect_unknown(srtp, AeadSession.unprotect)
        index = stream.highest + 1
        in_order = seq == index & 0xFFFF
        if not in_order:
            index = stream.receive_index(seq)
        header = srtp[:length]
        decrypt = self._rtp_decrypt  # see _rtp_encrypt
        try:
            payload = decrypt((stream.nonce_base ^ index).to_bytes(12), srtp[length:], header)
        except InvalidTag:
            raise self._tag_failure(srtp, index) from None
        if in_order:
            stream.highest = index
        else:
            stream.accept(index)
        return header + payload

    def _open(self, srtp: bytes, length: int, end: int,
              stream: SrtpStream) -> tuple[bytes, bytes, int]:
        """Check the index and decrypt ``srtp[:end]``: (header, plaintext, index).

        Nothing is recorded: the caller accepts the index once it accepts the packet (the
        double SRTP endpoint checks the inner layer first).
        """
        index = stream.receive_index(srtp[2] << 8 | srtp[3])
        header = srtp[:length]
        decrypt = self._rtp_decrypt  # see _rtp_encrypt
        try:
            return header, decrypt((stream.nonce_base ^ index).to_bytes(12), srtp[length:end],
                                   header), index
        except InvalidTag:
            raise self._tag_failure(srtp, index) from None

    @staticmethod
    def _tag_failure(srtp: bytes, index: int) -> AuthenticationError:
        return AuthenticationError(f"SRTP tag does not verify (SSRC {srtp[8:12].hex()}, "
                                   f"index {index})")

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Protect one compound RTCP packet (RFC 7714 §9)."""
        stream = self._rtcp_stream(self._rtcp_tx, rtcp_ssrc(rtcp))
        index = stream.next_index()
        iv = (stream.nonce_base ^ index).to_bytes(12)
        if self.encrypt_rtcp:
            word = (SRTCP_E_FLAG | index).to_bytes(4)
            return rtcp[:8] + self._rtcp_aead.encrypt(iv, rtcp[8:], rtcp[:8] + word) + word
        word = index.to_bytes(4)
        return rtcp + self._rtcp_aead.encrypt(iv, b"", rtcp + word) + word

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Check and decrypt one SRTCP packet (RFC 7714 §9)."""
        end = len(srtcp) - 4
        if end < 8 + TAG_LENGTH:
            raise MalformedPacketError(f"SRTCP packet of {len(srtcp)} bytes is too short for "
                                       "header, tag and index")
        ssrc = rtcp_ssrc(srtcp)
        word = srtcp[end:]
        index = int.from_bytes(word) & ~SRTCP_E_FLAG
        stream = self._rtcp_stream(self._rtcp_rx, ssrc)
        stream.check(index)
        iv = (stream.nonce_base ^ index).to_bytes(12)
        try:
            if word[0] & 0x80:
                rtcp = srtcp[:8] + self._rtcp_aead.decrypt(iv, srtcp[8:end], srtcp[:8] + word)
            else:
                rtcp = srtcp[:end - TAG_LENGTH]
                self._rtcp_aead.decrypt(iv, srtcp[end - TAG_LENGTH:end], rtcp + word)
        except InvalidTag:
            raise AuthenticationError(f"SRTCP tag does not verify (SSRC {ssrc.hex()}, "
                                      f"index {index})") from None
        stream.accept(index)
        self._rtcp_rx.setdefault(ssrc, stream)
        return rtcp
