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

from sipperc.srtp.errors import AuthenticationError, MalformedPacketError, SrtpError
from sipperc.srtp.key_derivation import SessionKeys
from sipperc.srtp.profile import Profile
from sipperc.srtp.session import (
    SRTCP_E_FLAG,
    SrtpSession,
    header_length,
    malformed,
    rtcp_ssrc,
)
from sipperc.srtp.stream import SrtpStream

TAG_LENGTH = 16


class AeadSession(SrtpSession, profiles=(Profile.AEAD_AES_128_GCM, Profile.AEAD_AES_256_GCM)):
    """SRTP/SRTCP with AES-GCM (RFC 7714); create it through :class:`SrtpSession`."""

    _rtp_aead: AESGCM
    _rtp_encrypt: Callable[[bytes, bytes, bytes], bytes]
    _rtp_decrypt: Callable[[bytes, bytes, bytes], bytes]
    _rtcp_aead: AESGCM
    _rtp_salt: int
    _rtcp_salt: int

    def _install_keys(self, master_key: bytes, master_salt: bytes) -> None:
        self._use_session_keys(
            SessionKeys.derive(master_key, master_salt, rtcp=False, authentication_key_length=0),
            SessionKeys.derive(master_key, master_salt, rtcp=True, authentication_key_length=0))

    def _use_session_keys(self, rtp: SessionKeys, rtcp: SessionKeys) -> None:
        """Key the ciphers; separate from derivation so RFC 7714's vectors can be checked."""
        self._rtp_aead = AESGCM(rtp.encryption_key)
        self._rtp_encrypt = self._rtp_aead.encrypt
        self._rtp_decrypt = self._rtp_aead.decrypt
        self._rtcp_aead = AESGCM(rtcp.encryption_key)
        self._rtp_salt = int.from_bytes(rtp.salt)
        self._rtcp_salt = int.from_bytes(rtcp.salt)

    def _nonce_base(self, ssrc: int, rtcp: bool) -> int:
        return (self._rtcp_salt if rtcp else self._rtp_salt) ^ ssrc << 48

    def protect(self, rtp: bytes) -> bytes:
        """Protect one RTP packet (RFC 7714 §8.1); see :meth:`SrtpSession.protect`."""
        # sipperc.srtp.session.header_length, inline: a call costs a few percent here.
        try:
            first = rtp[0]
            length = 12 + ((first & 0x0F) << 2)
            if first & 0x10:
                length += 4 + ((rtp[length + 2] << 8 | rtp[length + 3]) << 2)
        except IndexError:
            raise malformed(rtp) from None
        if first & 0xC0 != 0x80 or len(rtp) < length:
            raise malformed(rtp)
        ssrc = rtp[8:12]
        stream = self._rtp_tx.get(ssrc) or self._new_rtp_tx(ssrc)
        seq = rtp[2] << 8 | rtp[3]
        index = stream.highest + 1
        if seq == index & 0xFFFF:  # the next packet in order (see sipperc.srtp.stream)
            stream.highest = index
        else:
            index = stream.send_index(seq)
        header = rtp[:length]
        return (header + self._rtp_encrypt((stream.nonce_base ^ index).to_bytes(12),
                                           rtp[length:], header) + self._mki)

    def unprotect(self, srtp: bytes) -> bytes:
        """Check and decrypt one SRTP packet (RFC 7714 §8.2)."""
        # header_length inline, then the in-order shortcut of sipperc.srtp.stream.
        try:
            first = srtp[0]
            length = 12 + ((first & 0x0F) << 2)
            if first & 0x10:
                length += 4 + ((srtp[length + 2] << 8 | srtp[length + 3]) << 2)
        except IndexError:
            raise malformed(srtp) from None
        end = len(srtp) - self._mki_length
        if first & 0xC0 != 0x80 or end < length + TAG_LENGTH:
            raise malformed(srtp)
        if self._mki and srtp[end:] != self._mki:
            raise AuthenticationError("SRTP packet carries an unknown MKI")
        ssrc = srtp[8:12]
        stream = self._rtp_rx.get(ssrc)
        if stream is None:
            return self._unprotect_first(srtp, ssrc)
        seq = srtp[2] << 8 | srtp[3]
        index = stream.highest + 1
        in_order = seq == index & 0xFFFF  # the next packet in order (see sipperc.srtp.stream)
        if not in_order:
            index = stream.estimate(seq)
            stream.check(index)
        header = srtp[:length]
        try:
            payload = self._rtp_decrypt((stream.nonce_base ^ index).to_bytes(12),
                                        srtp[length:end], header)
        except InvalidTag:
            raise AuthenticationError(f"SRTP tag does not verify (SSRC {ssrc.hex()}, "
                                      f"index {index})") from None
        if in_order:
            stream.highest = index
        else:
            stream.accept(index)
        return header + payload

    def _open(self, srtp: bytes, trailer: int) -> tuple[bytes, bytes, SrtpStream, int]:
        """Outer-decrypt an SRTP packet: (header, plaintext, stream, index), nothing recorded.

        For the double SRTP endpoint and the distributor, which check more before they record
        the index with :meth:`_opened`. ``trailer``: bytes at least after the header.
        """
        length = header_length(srtp, trailer)
        stream = self._rtp_rx.get(srtp[8:12])
        if stream is None:
            stream = SrtpStream(self.replay_window,
                                self._nonce_base(int.from_bytes(srtp[8:12]), False))
        seq = srtp[2] << 8 | srtp[3]
        index = stream.highest + 1
        if seq != index & 0xFFFF:
            index = stream.estimate(seq)
            stream.check(index)
        header = srtp[:length]
        try:
            return (header, self._rtp_decrypt((stream.nonce_base ^ index).to_bytes(12),
                                              srtp[length:], header), stream, index)
        except InvalidTag:
            raise AuthenticationError(f"SRTP tag does not verify (SSRC {srtp[8:12].hex()}, "
                                      f"index {index})") from None

    def _opened(self, ssrc: bytes, stream: SrtpStream, index: int) -> None:
        """Record the index of a packet :meth:`_open` gave, once it is accepted."""
        if index == stream.highest + 1:
            stream.highest = index
        else:
            stream.accept(index)
        if ssrc not in self._rtp_rx:
            self._rtp_rx[ssrc] = stream

    def _unprotect_first(self, srtp: bytes, ssrc: bytes) -> bytes:
        """Unprotect the first packet of an SSRC; its stream is kept only if it authenticates."""
        self._rtp_rx[ssrc] = SrtpStream(self.replay_window,
                                        self._nonce_base(int.from_bytes(ssrc), False))
        try:
            return self.unprotect(srtp)
        except SrtpError:
            del self._rtp_rx[ssrc]
            raise

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """Protect one compound RTCP packet (RFC 7714 §9)."""
        stream = self._rtcp_stream(self._rtcp_tx, rtcp_ssrc(rtcp))
        index = stream.next_index()
        iv = (stream.nonce_base ^ index).to_bytes(12)
        if self.encrypt_rtcp:
            word = (SRTCP_E_FLAG | index).to_bytes(4)
            return (rtcp[:8] + self._rtcp_aead.encrypt(iv, rtcp[8:], rtcp[:8] + word) + word
                    + self._mki)
        word = index.to_bytes(4)
        return rtcp + self._rtcp_aead.encrypt(iv, b"", rtcp + word) + word + self._mki

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """Check and decrypt one SRTCP packet (RFC 7714 §9)."""
        end = len(srtcp) - len(self._mki) - 4
        if end < 8 + TAG_LENGTH:
            raise MalformedPacketError(f"SRTCP packet of {len(srtcp)} bytes is too short for "
                                       "header, tag and index")
        if self._mki and srtcp[end + 4:] != self._mki:
            raise AuthenticationError("SRTCP packet carries an unknown MKI")
        ssrc = rtcp_ssrc(srtcp)
        word = srtcp[end:end + 4]
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
