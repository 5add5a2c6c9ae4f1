"""EKT for an SRTP endpoint: when to send which field, what to do with received ones.

An :class:`EKTSession` sits on the endpoint's sending and receiving
:class:`~sipperc.srtp.session.SrtpSession` and adds RFC 8870 to them; it is sans-I/O, so every
call takes ``now`` (seconds, any monotonic clock). EKT is transform-independent: with the double
profiles (RFC 8723) a Full field carries the end-to-end (inner) half of the master key only
(RFC 8870 §4.3.2 step 6, "replacement of the first, 'end to end' half"); with the single
AES-CM and AEAD profiles it carries the whole SRTP master key. The sessions say how long the
carried key is (``ekt_key_length``) and install it (``set_sender_key``,
``set_receiver_key``), so this module has one code path for both.

Sending (RFC 8870 §4.3.1, §4.6; RFC 8871 §4.5): each packet ends in a FullEKTField or a
ShortEKTField. The Full field carries the key with the SSRC and ROC, under the outbound
parameter set. It goes on a new SSRC's first three packets, on the three packets after each new
key, and then every ``full_field_interval`` seconds (100 ms: the audio recommendation of §4.6).
Its ciphertext is cached while key and ROC are unchanged. Installing a parameter set with a new
SPI is a rekey (RFC 8870 §4.5, RFC 8871 §4.5.2): a fresh random key is announced at once and
used for media ``rekey_delay`` (250 ms) later, so receivers hold it before they need it. The
EKTKey is not used past its ``ekt_ttl``. The master salt is the parameter set's (§4.2).

Receiving (RFC 8870 §4.3.2): a Short field is cut off. A Full field under an unknown SPI (or
one whose TTL ran out) is an authentication failure, as is a ciphertext that does not unwrap.
A Full field whose plaintext names another SSRC is ignored. Per (SPI, SSRC) the epoch must grow:
an older epoch is ignored, and the same epoch only refreshes the ROC of the key already held.
A new key becomes the SSRC's current key; the previous ones keep decrypting late packets for
``previous_key_lifetime`` seconds. The field's ROC is that packet's: the double transform
uses it for the packet's inner index, a single transform starts the new key's index estimate
there (late joiners after a roll-over). Unwrapping Full fields for SSRCs that have no key yet
is rate limited (RFC 8871 §8: random SSRCs with Full fields would otherwise buy an attacker one
key unwrap each). SRTCP is not touched: EKT travels over SRTP only (RFC 8870 §4).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sipperc.srtp.double import DoubleSrtpSession
from sipperc.srtp.ekt import (
    SHORT_EKT_FIELD,
    EKTParameterSet,
    EKTPlaintext,
    FullEKTField,
    split_ekt_field,
)
from sipperc.srtp.errors import EKTAuthenticationError, MalformedPacketError, SrtpError
from sipperc.srtp.hop_by_hop import HopByHopSession
from sipperc.srtp.session import SrtpSession

FULL_FIELDS_AFTER_NEW_KEY = 3
DEFAULT_FULL_FIELD_INTERVAL = 0.1
REKEY_DELAY = 0.25
DEFAULT_PREVIOUS_KEY_LIFETIME = 10.0
DEFAULT_UNKNOWN_SSRC_RATE = 50.0


class EKTKeyExpiredError(SrtpError):
    """No usable EKT parameter set: none installed yet, or its ``ekt_ttl`` ran out."""


class EKTRateLimitError(SrtpError):
    """A Full field from an SSRC without a key was not unwrapped: too many of them lately."""


class _SenderState:
    """Per local SSRC: how many Full fields are still owed, when the last went, the cache."""

    __slots__ = ("cache", "full_owed", "last_full_at")

    def __init__(self) -> None:
        self.full_owed = FULL_FIELDS_AFTER_NEW_KEY
        self.last_full_at = float("-inf")
        self.cache: tuple[int, int, int, bytes] | None = None  # (SPI, epoch, ROC, field)


class _ReceiverState:
    """Per (SPI, remote SSRC): the last epoch accepted, its field and the ROC it gave."""

    __slots__ = ("ciphertext", "epoch", "key", "roc")

    def __init__(self, epoch: int, ciphertext: bytes, key: bytes, roc: int) -> None:
        self.epoch = epoch
        self.ciphertext = ciphertext
        self.key = key
        self.roc = roc


class EKTSession:
    """RFC 8870 EKT over an SRTP endpoint's sending and receiving sessions (any profile)."""

    def __init__(self, sender: SrtpSession, receiver: SrtpSession, *,
                 full_field_interval: float = DEFAULT_FULL_FIELD_INTERVAL,
                 previous_key_lifetime: float = DEFAULT_PREVIOUS_KEY_LIFETIME,
                 unknown_ssrc_rate: float = DEFAULT_UNKNOWN_SSRC_RATE,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        if unknown_ssrc_rate <= 0 or full_field_interval < 0 or previous_key_lifetime < 0:
            raise ValueError("rates, intervals and lifetimes must be positive")
        for session in (sender, receiver):
            if isinstance(session, HopByHopSession):
                raise TypeError(f"EKT is for endpoints; {session!r} holds hop-by-hop keys only")
            if session.mki is not None:
                raise ValueError("EKT must not be used with an MKI (RFC 8870 §4)")
        if sender.profile is not receiver.profile:
            raise ValueError(f"sending {sender.profile.name} but receiving "
                             f"{receiver.profile.name}")
        self._double = isinstance(receiver, DoubleSrtpSession)
        self.sender = sender
        self.receiver = receiver
        self.full_field_interval = full_field_interval
        self.previous_key_lifetime = previous_key_lifetime
        self.unknown_ssrc_rate = unknown_ssrc_rate
        self._random = random
        self._sets: dict[int, EKTParameterSet] = {}
        self._outbound: EKTParameterSet | None = None
        self._announced_key = b""
        self._epoch = 0
        self._switch_at: float | None = None
        self._senders: dict[bytes, _SenderState] = {}
        self._received: dict[tuple[int, int], _ReceiverState] = {}
        self._forget_previous_at: dict[int, float] = {}
        self._tokens = unknown_ssrc_rate
        self._tokens_at = float("-inf")

    def __repr__(self) -> str:
        spi = None if self._outbound is None else self._outbound.ekt_spi
        return (f"<EKTSession outbound SPI {spi}, {len(self._sets)} parameter sets, "
                f"{len(self._senders)} local SSRCs>")

    @property
    def outbound(self) -> EKTParameterSet | None:
        """The parameter set outgoing Full fields use."""
        return self._outbound

    def install(self, parameter_set: EKTParameterSet, now: float) -> None:
        """Use a parameter set (from the DTLS EKTKey message) for sending and receiving.

        A new SPI is a rekey: a new random SRTP master key is announced now and protects media
        from ``now + 0.25`` s (RFC 8871 §4.5.2, RFC 8870 §4.3.2 step 6). Earlier sets stay
        known to receive with until their TTL ends.
        """
        known = self._sets.get(parameter_set.ekt_spi)
        if known is not None:
            if (known.ekt_key_value, known.srtp_master_salt, known.cipher) != (
                    parameter_set.ekt_key_value, parameter_set.srtp_master_salt,
                    parameter_set.cipher):
                raise ValueError(f"SPI {parameter_set.ekt_spi} is already used by another "
                                 "parameter set (RFC 8870 §4.1: one SPI per set)")
            return
        if len(parameter_set.srtp_master_salt) < self.sender.ekt_salt_length:
            raise ValueError("the parameter set's SRTP master salt is shorter than the profile's")
        first = self._outbound is None
        self._sets[parameter_set.ekt_spi] = parameter_set
        self._outbound = parameter_set
        self._epoch = 0
        self._new_key(now, immediately=first)

    def rekey(self, now: float) -> None:
        """Change this endpoint's SRTP master key under the same EKTKey (a new epoch).

        Periodic rekeying limits what a delayed-playout attack can do (RFC 8871 §8).
        """
        if self._outbound is None:
            raise EKTKeyExpiredError("no EKT parameter set installed")
        self._epoch = (self._epoch + 1) & 0xFFFF
        self._new_key(now, immediately=False)

    def _new_key(self, now: float, *, immediately: bool) -> None:
        self._announced_key = self._random(self.sender.ekt_key_length)
        if immediately:
            self._switch_to_announced()
        else:
            self._switch_at = now + REKEY_DELAY
        for state in self._senders.values():
            state.full_owed = FULL_FIELDS_AFTER_NEW_KEY

    def _switch_to_announced(self) -> None:
        assert self._outbound is not None
        self.sender.set_sender_key(self._announced_key, self._outbound.srtp_master_salt)
        self._switch_at = None

    def protect(self, rtp: bytes, now: float, *, repair: bool = False) -> bytes:
        """Protect ``rtp`` and append the EKT field this packet should carry.

        ``repair``: an RTX or FEC packet, which double SRTP protects hop by hop only (RFC 8723
        §7); there is no such thing with a single transform.
        """
        outbound = self._outbound
        if outbound is None:
            raise EKTKeyExpiredError("no EKT parameter set installed: nobody could decrypt")
        if now >= outbound.expires_at:
            raise EKTKeyExpiredError(f"the EKTKey of SPI {outbound.ekt_spi} expired (ekt_ttl)")
        if self._switch_at is not None and now >= self._switch_at:
            self._switch_to_announced()
        if isinstance(self.sender, DoubleSrtpSession):
            srtp = self.sender.protect(rtp, repair=repair)
        elif repair:
            raise ValueError("repair packets (RFC 8723 §7) exist only with double SRTP")
        else:
            srtp = self.sender.protect(rtp)
        ssrc = rtp[8:12]
        state = self._senders.get(ssrc)
        if state is None:
            state = self._senders[ssrc] = _SenderState()
        if not state.full_owed and now - state.last_full_at < self.full_field_interval:
            return srtp + SHORT_EKT_FIELD
        state.full_owed = max(0, state.full_owed - 1)
        state.last_full_at = now
        roc = self.sender.ekt_roc(int.from_bytes(ssrc)) or 0
        cache = state.cache
        if cache is None or cache[:3] != (outbound.ekt_spi, self._epoch, roc):
            field = outbound.full_field(
                EKTPlaintext(self._announced_key, int.from_bytes(ssrc), roc), self._epoch)
            state.cache = cache = (outbound.ekt_spi, self._epoch, roc, field)
        return srtp + cache[3]

    def unprotect(self, packet: bytes, now: float, *, repair: bool = False) -> bytes:
        """Process the EKT field at the end of ``packet``, then unprotect the SRTP packet."""
        srtp, _, full = split_ekt_field(packet)
        if len(srtp) < 12:
            raise MalformedPacketError(f"SRTP packet of {len(srtp)} bytes before its EKT field")
        ssrc = int.from_bytes(srtp[8:12])
        forget_at = self._forget_previous_at.get(ssrc)
        if forget_at is not None and now >= forget_at:
            self.receiver.drop_previous_keys(ssrc)
            del self._forget_previous_at[ssrc]
        roc = None if full is None else self._receive_full(full, srtp, now)
        if isinstance(self.receiver, DoubleSrtpSession):
            return self.receiver.unprotect(srtp, repair=repair, inner_roc=roc)
        if repair:
            raise ValueError("repair packets (RFC 8723 §7) exist only with double SRTP")
        return self.receiver.unprotect(srtp)

    def _receive_full(self, full: FullEKTField, srtp: bytes, now: float) -> int | None:
        """RFC 8870 §4.3.2 steps 2-6; the ROC to use for this packet, if the field gave one."""
        ssrc = int.from_bytes(srtp[8:12])
        parameter_set = self._sets.get(full.spi)
        if parameter_set is None or now >= parameter_set.expires_at:
            raise EKTAuthenticationError(f"EKT field under unknown or expired SPI {full.spi}")
        state = self._received.get((full.spi, ssrc))
        if state is not None:
            if full.epoch < state.epoch:
                return None  # an old key coming back: rejected
            if full.epoch == state.epoch and full.ciphertext == state.ciphertext:
                return state.roc  # the same field again: nothing to unwrap
        elif not self.receiver.has_receiver_key(ssrc) and not self._take_token(now):
            raise EKTRateLimitError(f"Full EKT field from SSRC {ssrc:#010x} not unwrapped: "
                                    "too many from SSRCs without a key")
        plaintext = parameter_set.unwrap(full.ciphertext)
        if plaintext.ssrc != ssrc:
            return None  # step 5: another stream's key, cut and pasted
        key = plaintext.master_key
        if len(key) < self.receiver.ekt_key_length:
            return None
        key = key[:self.receiver.ekt_key_length]  # step 6: the first bytes are used
        if state is not None and full.epoch == state.epoch:
            if key != state.key:
                return None  # a different key under an epoch already used: rejected
            state.ciphertext, state.roc = full.ciphertext, plaintext.roc
            return plaintext.roc
        self.receiver.set_receiver_key(ssrc, key, parameter_set.srtp_master_salt,
                                       roc=plaintext.roc, seq=srtp[2] << 8 | srtp[3])
        self._received[(full.spi, ssrc)] = _ReceiverState(full.epoch, full.ciphertext, key,
                                                          plaintext.roc)
        self._forget_previous_at[ssrc] = now + self.previous_key_lifetime
        return plaintext.roc

    def _take_token(self, now: float) -> bool:
        """Token bucket: ``unknown_ssrc_rate`` unwraps per second, bursts of as many."""
        self._tokens = min(self.unknown_ssrc_rate,
                           self._tokens + (now - self._tokens_at) * self.unknown_ssrc_rate)
        self._tokens_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """SRTCP under the negotiated keys: EKT travels over SRTP only (RFC 8870 §4)."""
        return self.sender.protect_rtcp(rtcp)

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """SRTCP under the negotiated keys: EKT travels over SRTP only (RFC 8870 §4)."""
        return self.receiver.unprotect_rtcp(srtcp)
