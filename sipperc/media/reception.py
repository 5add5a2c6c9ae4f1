"""Per-source reception statistics exactly as RFC 3550 Appendix A computes them, and RTT.

- A.1: sequence number validation (a source is valid after two in-order packets), 16-bit wrap
  counting into an extended highest sequence number, and restart detection after a big jump
  (two consecutive packets beyond ``MAX_DROPOUT``).
- A.3: cumulative packets lost (expected minus received: duplicates make it smaller, even
  negative, as the RFC intends) and the fraction lost since the previous report.
- A.8: interarrival jitter, the smoothed mean deviation of transit times, in timestamp units.
- §6.4.1: round-trip time from a report block's LSR and DLSR, in 1/65536 s NTP short format.

Everything is sans-I/O: arrival times are passed in as seconds on any monotonic clock; the
wallclock only matters for NTP timestamps, and those are passed in too.
"""

from __future__ import annotations

from dataclasses import dataclass

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2
NTP_EPOCH_OFFSET = 2208988800
"""Seconds from the NTP epoch (1900) to the Unix epoch (1970)."""


def ntp_timestamp(unix_time: float) -> int:
    """The 64-bit NTP timestamp (RFC 3550 §4) for a Unix time in seconds."""
    return round((unix_time + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_short(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: LSR and the RTT arithmetic use this form."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_time(arrival_ntp: int, last_sr: int, delay_since_last_sr: int) -> float | None:
    """RTT in seconds from a report block (RFC 3550 §6.4.1), or ``None`` if it has no LSR.

    ``arrival_ntp`` is the 64-bit NTP time the report arrived; ``last_sr`` and
    ``delay_since_last_sr`` are the block's LSR and DLSR fields.
    """
    if last_sr == 0:
        return None
    rtt = (ntp_short(arrival_ntp) - last_sr - delay_since_last_sr) & 0xFFFFFFFF
    if rtt >= 1 << 31:  # clocks disagree: negative
        return 0.0
    return rtt / 65536.0


@dataclass(frozen=True, slots=True)
class ReportBlockValues:
    """What an RR/SR report block says about one source (RFC 3550 §6.4.1)."""

    fraction_lost: int  # 0..255, fixed point: lost/expected * 256 over the last interval
    cumulative_lost: int  # 24-bit signed
    extended_highest_sequence: int
    jitter: int  # timestamp units


class ReceptionStatistics:
    """The RFC 3550 A.1/A.3/A.8 state of one remote source."""

    def __init__(self, clock_rate: int, sequence: int) -> None:
        self.clock_rate = clock_rate
        self._init(sequence)
        self.max_seq = (sequence - 1) & 0xFFFF
        self.probation = MIN_SEQUENTIAL
        self.received = 0
        self._jitter = 0.0
        self._transit: float | None = None

    def _init(self, sequence: int) -> None:
        self.base_seq = sequence
        self.max_seq = sequence
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    @property
    def valid(self) -> bool:
        """Whether the source has passed probation (A.1)."""
        return self.probation == 0

    def update(self, sequence: int, timestamp: int, arrival: float) -> bool:
        """Count one packet (A.1 ``update_seq`` and A.8); False if it should be discarded."""
        udelta = (sequence - self.max_seq) & 0xFFFF
        if self.probation:
            if sequence == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = sequence
                if self.probation == 0:
                    self._init(sequence)
                    self.received += 1
                    self._update_jitter(timestamp, arrival)
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = sequence
            return False
        if udelta < MAX_DROPOUT:
            if sequence < self.max_seq:
                self.cycles += RTP_SEQ_MOD  # wrapped
            self.max_seq = sequence
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if sequence == self.bad_seq:
                # Two sequential packets after a big jump: the sender restarted.
                self._init(sequence)
                self._transit = None
            else:
                self.bad_seq = (sequence + 1) & 0xFFFF
                return False
        # else: a duplicate or a reordered packet, counted as received (A.1)
        self.received += 1
        self._update_jitter(timestamp, arrival)
        return True

    def _update_jitter(self, timestamp: int, arrival: float) -> None:
        transit = arrival * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d > 1 << 31:  # the timestamp wrapped between the two packets
                d = abs(d - (1 << 32))
            self._jitter += (d - self._jitter) / 16.0
        self._transit = transit

    @property
    def extended_max(self) -> int:
        """The extended highest sequence number received."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected since the source became valid (A.3)."""
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (A.3), clamped to the report's 24-bit signed field."""
        return max(-0x800000, min(0x7FFFFF, self.expected - self.received))

    @property
    def jitter(self) -> float:
        """Interarrival jitter in seconds (A.8)."""
        return self._jitter / self.clock_rate

    def report(self) -> ReportBlockValues:
        """The report block values, starting a new interval for ``fraction_lost`` (A.3)."""
        expected_interval = self.expected - self.expected_prior
        self.expected_prior = self.expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        return ReportBlockValues(fraction, self.lost, self.extended_max & 0xFFFFFFFF,
                                 int(self._jitter))
