"""Double SRTP for endpoints: AEAD_AES_*_GCM inside and outside (RFC 8723 §3, §5.1, §5.3).

``SrtpSession(DOUBLE_..., master_key=inner||outer, master_salt=inner||outer)`` returns a
:class:`DoubleSrtpSession`. Each half goes through the normal SRTP key derivation (§3.1). The
outer half is plain AEAD_AES_*_GCM SRTP over the whole packet, one hop long; RTCP uses only it
(§6). The inner half is end-to-end:

- sending (§5.1): the *synthetic packet* (X cleared, header cut to ``12 + 4 * CC`` bytes, the
  payload with its RTP padding) is encrypted with the inner key; the empty OHB ``0x00`` is
  appended to its ciphertext and tag; then the whole thing is encrypted with the outer key, the
  full header (extensions included) as AAD. Repair packets (RTX, FEC; §7) get the outer layer
  only.
- receiving (§5.3): outer decryption, the OHB read from the end, the synthetic packet rebuilt
  with the original PT, SEQ and marker, inner decryption. The returned RTP packet is the
  received header (its outer PT and SEQ, which RFC 8723 says to use for codec choice and
  ordering, and its header extensions) with the original marker bit, and the inner plaintext.

The inner and outer layers keep separate per-SSRC index and replay state: the outer one over
the SEQ of the last hop, the inner one over the original SEQ. A distributor that drops or
switches streams leaves gaps in the inner SEQ; if a gap grows past half the SEQ space the usual
ROC estimate can be one roll-over short, so inner decryption that fails at the estimated index
is retried one and two roll-overs later (the outer layer has already authenticated the hop, so
this costs at most two more AES-GCM operations per damaged packet). An EKT field's ROC, when the
caller has one, is used directly.

Receiving inner keys are per SSRC: by default the inner half of this session's master key, and
the keys EKT delivers (RFC 8870 §4.3.2 step 6, "replacement of the first, 'end to end' half")
through :meth:`DoubleSrtpSession.set_receiver_key`. Previous keys stay usable for late packets and
are tried after the current one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sipperc.keymaterial import redacted
from sipperc.srtp.aead import TAG_LENGTH, AeadSession
from sipperc.srtp.errors import (
    AuthenticationError,
    EndToEndAuthenticationError,
    ReplayError,
)
from sipperc.srtp.key_derivation import SessionKeys
from sipperc.srtp.ohb import OriginalHeaderBlock
from sipperc.srtp.profile import Profile
from sipperc.srtp.session import MAX_PREVIOUS_KEYS, header_length
from sipperc.srtp.stream import SrtpStream

_ROLL_OVER = 1 << 16


def synthetic_header(rtp: bytes, length: int) -> bytes:
    """The header of the synthetic packet: X cleared, the extension cut off (RFC 8723 §5.1).

    ``length`` is the full header's; without an extension the header already is the synthetic
    one (X is 0).
    """
    fixed = 12 + ((rtp[0] & 0x0F) << 2)
    return rtp[:length] if length == fixed else bytes((rtp[0] & 0xEF,)) + rtp[1:fixed]


class InnerKey:
    """One end-to-end master key and salt, derived into an AES-GCM context (RFC 8723 §3.1)."""

    __slots__ = ("decrypt", "encrypt", "master_key", "salt")

    def __init__(self, master_key: bytes, master_salt: bytes) -> None:
        keys = SessionKeys.derive(master_key, master_salt, rtcp=False, authentication_key_length=0)
        aead = AESGCM(keys.encryption_key)
        self.encrypt: Callable[[bytes, bytes, bytes], bytes] = aead.encrypt
        self.decrypt: Callable[[bytes, bytes, bytes], bytes] = aead.decrypt
        self.salt = int.from_bytes(keys.salt)
        self.master_key = master_key

    def __repr__(self) -> str:
        return f"<InnerKey {redacted(self.master_key)}>"


class InnerReceiver:
    """What one remote SSRC's end-to-end layer needs: its keys, newest first, and its state."""

    __slots__ = ("keys", "stream")

    def __init__(self, key: InnerKey, window: int) -> None:
        self.keys = [key]
        self.stream = SrtpStream(window, 0)


class DoubleSrtpSession(AeadSession, profiles=(Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM,
                                               Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM)):
    """A double SRTP endpoint; create it through :class:`~sipperc.srtp.session.SrtpSession`."""

    _inner_default: InnerKey
    _sender_inner: InnerKey
    _inner_rx: dict[bytes, InnerReceiver]
    _inner_offset: dict[bytes, int]

    def _install_keys(self, master_key: bytes, master_salt: bytes) -> None:
        if self._mki:
            raise ValueError("RFC 8723 double SRTP is used with EKT, which forbids an MKI")
        key_half, salt_half = len(master_key) // 2, len(master_salt) // 2
        super()._install_keys(master_key[key_half:], master_salt[salt_half:])
        self._inner_default = self._sender_inner = InnerKey(master_key[:key_half],
                                                            master_salt[:salt_half])
        self._inner_rx = {}
        self._inner_offset = {}

    @property
    def ekt_key_length(self) -> int:
        """Length of the end-to-end half of the master key: what an EKT field carries."""
        return self.profile.master_key_length // 2

    @property
    def ekt_salt_length(self) -> int:
        """Length of the end-to-end half of the master salt, which EKT's salt replaces."""
        return self.profile.master_salt_length // 2

    def set_sender_key(self, master_key: bytes, master_salt: bytes) -> None:
        """Protect outgoing packets with a new end-to-end key and salt from now on.

        EKT (RFC 8870 §4.3.2 step 6) announces a new key 250 ms before it is used like this.
        The outer (hop-by-hop) key stays.
        """
        self._sender_inner = InnerKey(master_key, self._ekt_salt(master_key, master_salt))

    def set_receiver_key(self, ssrc: int, master_key: bytes, master_salt: bytes, *,
                         roc: int | None = None, seq: int = 0) -> None:
        """Make this the current end-to-end key for packets from ``ssrc``.

        The key replaces the inner half of the master key for that SSRC only (RFC 8870 §4.3.2
        step 6); up to four previous keys stay usable for late packets, newest first, until
        :meth:`drop_previous_keys`. The inner index and replay state carry over: the ROC an EKT
        field gives is used per packet (``unprotect(inner_roc=...)``), so ``roc`` and ``seq``
        are not needed here.
        """
        key = InnerKey(master_key, self._ekt_salt(master_key, master_salt))
        receiver = self._inner_rx.get(ssrc.to_bytes(4))
        if receiver is None:  # until now the SSRC used the inner half of the session key
            receiver = self._inner_rx[ssrc.to_bytes(4)] = InnerReceiver(self._inner_default,
                                                                        self.replay_window)
        receiver.keys.insert(0, key)
        del receiver.keys[1 + MAX_PREVIOUS_KEYS:]

    def has_receiver_key(self, ssrc: int) -> bool:
        """Whether an end-to-end key was set for ``ssrc`` (or it was received under the default)."""
        return ssrc.to_bytes(4) in self._inner_rx

    def drop_previous_keys(self, ssrc: int) -> None:
        """Forget the end-to-end keys ``ssrc`` used before its current one."""
        receiver = self._inner_rx.get(ssrc.to_bytes(4))
        if receiver is not None:
            del receiver.keys[1:]

    def replace_hop_by_hop_key(self, master_key: bytes, master_salt: bytes) -> None:
        """Protect and check the outer layer with new keys from now on (RFC 8871 §4.5.2).

        A new DTLS association with the Key Distributor gives new hop-by-hop keys (the outer
        halves of its export). The outer layer starts afresh, as a new SRTP context does: the
        hop at the other end has a new context too and knows no roll-over counter, so every
        outer stream restarts at ROC 0 with the SEQ it had. The end-to-end layer does not
        change: its keys, and every stream's inner index and replay state, carry over; from
        now on the inner index of a stream we send is its outer index plus what the inner
        one was ahead (RFC 8723 §3: "SEQ and ROC are tracked independently for the inner
        and the outer algorithm").
        """
        half_key = self.profile.master_key_length // 2
        half_salt = self.profile.master_salt_length // 2
        if len(master_key) != half_key or len(master_salt) != half_salt:
            raise ValueError(f"{self.profile.name} takes a {half_key}-byte hop-by-hop key and a "
                             f"{half_salt}-byte salt, got {redacted(master_key)} and "
                             f"{redacted(master_salt)}")
        super()._install_keys(master_key, master_salt)
        self._refresh_sending_streams()  # the SRTCP streams go on under the new key
        for ssrc, stream in list(self._rtp_tx.items()):
            inner = stream.highest + self._inner_offset.get(ssrc, 0)
            self._rtp_tx[ssrc] = SrtpStream(self.replay_window, stream.nonce_base, inner & 0xFFFF)
            self._inner_offset[ssrc] = inner & ~0xFFFF
        self._rtp_rx.clear()
        self._rtcp_rx.clear()

    def ekt_roc(self, ssrc: int) -> int | None:
        """The end-to-end roll-over counter of a stream we send: what an EKT field carries."""
        stream = self._rtp_tx.get(ssrc.to_bytes(4))
        if stream is None:
            return None
        return (stream.highest + self._inner_offset.get(ssrc.to_bytes(4), 0)) >> 16

    def protect(self, rtp: bytes, *, repair: bool = False) -> bytes:
        """Double-protect one RTP packet (RFC 8723 §5.1); outer layer only if ``repair``."""
        length = header_length(rtp)
        ssrc = rtp[8:12]
        stream = self._rtp_tx.get(ssrc) or self._new_rtp_tx(ssrc)
        index = stream.send_index(rtp[2] << 8 | rtp[3])
        header = rtp[:length]
        if repair:
            plaintext = rtp[length:]
        else:
            inner = self._sender_inner
            # At the sender the inner and outer SEQ are one, and so is the index until new
            # hop-by-hop keys restart the outer one (then the inner one is ahead by whole
            # ROCs); SSRC << 48 is what the outer nonce base holds besides the outer salt.
            inner_index = index + self._inner_offset.get(ssrc, 0) if self._inner_offset else index
            inner_encrypt = inner.encrypt  # see AeadSession._rtp_encrypt
            plaintext = inner_encrypt(
                (inner.salt ^ stream.nonce_base ^ self._rtp_tx_salt ^ inner_index).to_bytes(12),
                rtp[length:], synthetic_header(rtp, length)) + b"\x00"
        encrypt = self._rtp_encrypt
        return header + encrypt((stream.nonce_base ^ index).to_bytes(12), plaintext, header)

    def unprotect(self, srtp: bytes, *, repair: bool = False,
                  inner_roc: int | None = None) -> bytes:
        """Check and decrypt both layers of one packet (RFC 8723 §5.3).

        ``repair`` packets have only the outer layer. ``inner_roc`` is the roll-over counter an
        EKT field on this packet gave for its original SEQ (RFC 8870 §4.1).
        """
        length = header_length(srtp, TAG_LENGTH)
        ssrc = srtp[8:12]
        stream = self._rtp_rx.get(ssrc)
        if stream is None:
            return self._first_packet(ssrc, partial(self.unprotect, srtp, repair=repair,
                                                    inner_roc=inner_roc))
        header, plaintext, index = self._open(srtp, length, len(srtp), stream)
        if repair:
            stream.accept(index)
            return header + plaintext
        if len(plaintext) <= TAG_LENGTH:
            raise AuthenticationError("outer plaintext is too short for the inner tag and OHB")
        if plaintext[-1] == 0:  # the empty OHB: nothing was changed on the way
            ohb_length = 1
            synthetic = synthetic_header(srtp, length)
            seq = srtp[2] << 8 | srtp[3]
        else:
            ohb, ohb_length = OriginalHeaderBlock.parse_trailer(plaintext)
            payload_type, seq, marker = ohb.original(srtp[1] & 0x7F, srtp[2] << 8 | srtp[3],
                                                     bool(srtp[1] & 0x80))
            fixed = 12 + ((srtp[0] & 0x0F) << 2)
            synthetic = (bytes((srtp[0] & 0xEF, payload_type | (0x80 if marker else 0)))
                         + seq.to_bytes(2) + srtp[4:fixed])
            if ohb.marker is not None:  # the application sees the original marker (§5.3)
                header = (header[:1] + bytes(((header[1] & 0x7F) | (0x80 if marker else 0),))
                          + header[2:])
        if len(plaintext) - ohb_length < TAG_LENGTH:
            raise AuthenticationError("outer plaintext is too short for the inner tag and OHB")
        receiver = self._inner_rx.get(ssrc) or InnerReceiver(self._inner_default,
                                                             self.replay_window)
        inner = receiver.stream
        if inner_roc is not None:
            inner_index = inner_roc << 16 | seq
        else:
            inner_index = inner.highest + 1
            if seq != inner_index & 0xFFFF:
                inner_index = inner.estimate(seq)
        # SSRC << 48 is what the outer nonce base holds besides the outer salt.
        ssrc_part = stream.nonce_base ^ self._rtp_rx_salt
        key = receiver.keys[0]
        ciphertext = plaintext[:-ohb_length]
        try:
            if inner_index <= inner.highest:
                inner.check(inner_index)
            decrypt = key.decrypt  # see AeadSession._rtp_encrypt
            payload = decrypt((key.salt ^ ssrc_part ^ inner_index).to_bytes(12), ciphertext,
                              synthetic)
        except (InvalidTag, ReplayError) as failure:
            retried = self._inner_retry(receiver, ssrc_part, inner_index, ciphertext, synthetic,
                                        retry_roc=inner_roc is None)
            if retried is None:
                if isinstance(failure, ReplayError):
                    raise
                raise EndToEndAuthenticationError(f"inner SRTP tag does not verify (SSRC "
                                                  f"{ssrc.hex()}, original SEQ {seq})") from None
            payload, inner_index = retried
        inner.accept(inner_index)
        stream.accept(index)
        if ssrc not in self._inner_rx:
            self._inner_rx[ssrc] = receiver
        return header + payload

    @staticmethod
    def _inner_retry(receiver: InnerReceiver, ssrc_part: int, index: int, ciphertext: bytes,
                     synthetic: bytes, *, retry_roc: bool) -> tuple[bytes, int] | None:
        """Inner decryption once the current key at the estimated index failed.

        Previous keys at that index (late packets after a rekey); then, unless an EKT field
        gave the ROC, the current key one and two roll-overs later (a long gap in what the
        distributor forwarded). Returns the payload and the index that worked, or None.
        """
        attempts = [(key, index) for key in receiver.keys[1:]]
        if retry_roc:
            attempts += [(receiver.keys[0], index + _ROLL_OVER),
                         (receiver.keys[0], index + 2 * _ROLL_OVER)]
        for key, candidate in attempts:
            try:
                receiver.stream.check(candidate)
                return (key.decrypt((key.salt ^ ssrc_part ^ candidate).to_bytes(12), ciphertext,
                                    synthetic), candidate)
            except (InvalidTag, ReplayError):
                continue
        return None
