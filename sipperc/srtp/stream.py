"""Per-SSRC packet index and replay state (RFC 3711 §3.3.1, §3.3.2, Appendix A).

Each direction of each SSRC has one of these. The receiver checks an index before
authentication and records it only after (§3.3.2: the replay list is updated once the packet
authenticates). The sender keeps the same state, so that protecting an index twice, which would
reuse a keystream (and for AES-GCM give away the authentication key), is refused as libsrtp does.

The replay list is kept in a form that makes the usual case, the next packet in order, a single
store: ``[run_start, highest]`` is a run of indices all received, and bit ``d`` of ``mask`` says
whether index ``run_start - 1 - d`` was. A packet with index ``highest + 1`` just extends the
run; :meth:`SrtpStream.send_index`, :meth:`SrtpStream.receive_index` and
:meth:`ReplayWindow.accept` test for that first, so the usual packet costs a few operations.
Indices more than ``size - 1`` below ``highest`` are "too old".

The starting state matches libsrtp's: highest index 0, nothing received, so the first packet's
index is its SEQ with ROC 0 unless a ROC was set (RFC 4568 §6.4.1, RFC 8870 §4.1).
"""

from __future__ import annotations

from sipperc.srtp.errors import KeyLimitError, ReplayError

_HALF = 1 << 15
SRTP_INDEX_LIMIT = 1 << 48
"""RFC 3711 §9.2: at most 2^48 SRTP packets under one master key."""
SRTCP_INDEX_LIMIT = 1 << 31
"""RFC 3711 §9.2: at most 2^31 SRTCP packets under one master key."""


class ReplayWindow:
    """The replay list of one stream (RFC 3711 §3.3.2), plus the stream's IV precomputation."""

    __slots__ = ("highest", "mask", "nonce_base", "run_start", "size")

    def __init__(self, size: int, nonce_base: int, highest: int = 0) -> None:
        self.size = size
        self.highest = highest
        self.run_start = highest + 1  # an empty run: nothing received yet
        self.mask = 0
        self.nonce_base = nonce_base
        """What the cipher precomputes from salt and SSRC to form each IV quickly."""

    def check(self, index: int) -> None:
        """Raise :class:`ReplayError` if ``index`` was received or is older than the window."""
        if index > self.highest:
            return
        behind = self.highest - index
        if behind >= self.size:
            raise ReplayError(f"index {index} is {behind} behind the highest received, "
                              f"outside the {self.size}-packet replay window")
        if index >= self.run_start or self.mask >> (self.run_start - 1 - index) & 1:
            raise ReplayError(f"index {index} was already received (replay)")

    def accept(self, index: int) -> None:
        """Record ``index`` as received; call only after it authenticated."""
        highest = self.highest
        if index == highest + 1:
            self.highest = index
        elif index > highest:
            # The run ends: it and the gap before the new index move into the mask.
            run = highest + 1 - self.run_start
            self.mask = (((self.mask << run | ((1 << run) - 1)) << (index - highest - 1))
                         & ((1 << self.size) - 1))
            self.run_start = self.highest = index
        else:
            self.mask |= 1 << (self.run_start - 1 - index)
            while self.mask & 1:  # the hole just below the run is filled: extend the run
                self.mask >>= 1
                self.run_start -= 1


class SrtpStream(ReplayWindow):
    """An SRTP stream: the 48-bit index is ROC * 2^16 + SEQ, the ROC estimated (§3.3.1)."""

    __slots__ = ()

    def estimate(self, seq: int) -> int:
        """The index of a packet with this SEQ (RFC 3711 Appendix A).

        Of ROC-1, ROC and ROC+1 the one putting the index nearest the highest one received.
        ROC-1 is never guessed while ROC is 0: there is no earlier roll-over to belong to.
        """
        highest = self.highest
        roc = highest >> 16
        last = highest & 0xFFFF
        if last < _HALF:
            if seq - last > _HALF and roc:
                roc -= 1
        elif last - _HALF > seq:
            roc += 1
        return roc << 16 | seq

    def send_index(self, seq: int) -> int:
        """Estimate, check and record the index of a packet about to be protected."""
        index = self.highest + 1
        if seq == index & 0xFFFF != 0:  # the next packet in order, not a roll-over
            self.highest = index
            return index
        index = self.estimate(seq)
        if index >= SRTP_INDEX_LIMIT:
            raise KeyLimitError("2^48 SRTP packets protected under this master key")
        self.check(index)
        self.accept(index)
        return index

    def receive_index(self, seq: int) -> int:
        """The index of a received packet with this SEQ, checked against replay.

        Nothing is recorded: :meth:`accept` the index once the packet authenticates.
        """
        index = self.highest + 1
        if seq == index & 0xFFFF:  # the next packet in order
            return index
        index = self.estimate(seq)
        self.check(index)
        return index

    @property
    def roc(self) -> int:
        """The roll-over counter of the highest index."""
        return self.highest >> 16


class SrtcpStream(ReplayWindow):
    """An SRTCP stream: the 31-bit SRTCP index is carried in every packet (§3.4)."""

    __slots__ = ()

    def next_index(self) -> int:
        """The index for the next packet sent: 0 first, then one more each time (§3.4)."""
        index = self.highest + 1 if self.run_start <= self.highest else self.highest
        if index >= SRTCP_INDEX_LIMIT:
            raise KeyLimitError("2^31 SRTCP packets protected under this master key")
        self.accept(index)
        return index
