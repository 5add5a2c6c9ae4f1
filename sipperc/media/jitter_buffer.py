"""Adaptive jitter buffer for one RTP source: reordering, duplicates, late packets, clock drift.

Packets are pushed as they arrive and frames are popped on the receiver's clock, one per
playout tick. The buffer plays packets in sequence order and in timestamp time:

- a missing packet is declared lost only once the audio buffered behind it reaches the target
  delay (it may still be on its way); the playout carries the packet after it so Opus can
  rebuild the lost frame from its FEC data;
- a timestamp jump with no sequence gap is the sender being silent (DTX, RFC 3389 CN, RFC 3551
  §4.1 silence suppression), played as silence, not counted as loss;
- an empty buffer while audio is expected is an underrun: the frame is concealed and playout
  waits, which lengthens the delay by one frame. After :data:`IDLE_AFTER` of nothing the source
  is idle and the next packet starts a new talkspurt after a fresh pre-buffer.

The target delay follows the arrival jitter: the 95th percentile of the packets' transit times
(arrival clock minus RTP clock) above the fastest one, over the last :data:`WINDOW` packets, plus
one frame, within ``[min_delay, max_delay]``. When the buffer has run more than two frames above
target for :data:`SHRINK_AFTER` (a sender clock faster than ours, or a jitter spike that has
passed), one frame is skipped, preferably a silent one; a slower sender clock shows up as
underruns. Either way the delay stays bounded whichever way the clocks drift.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sipperc.media.serial import extend

WINDOW = 500
"""Packets of transit history behind the target delay (10 s at 20 ms)."""
RETARGET_EVERY = 25
"""Recompute the target every this many packets: it moves slowly anyway."""
IDLE_AFTER = 0.2
"""Seconds of underrun after which the source counts as silent rather than late."""
SHRINK_AFTER = 0.5
"""Seconds the buffer must stay above target before a frame is skipped."""
MAX_MISORDER = 100
"""A packet this many sequence numbers behind playout is from before a sender restart."""
MAX_JUMP = 3000
"""A jump of more sequence numbers than this restarts the buffer (RFC 3550 A.1's MAX_DROPOUT)."""


@dataclass(frozen=True, slots=True)
class BufferedPacket:
    """The parts of an RTP packet the buffer needs (the payload may still be encrypted E2E)."""

    sequence: int
    timestamp: int
    payload_type: int
    payload: bytes
    marker: bool = False


class Push(enum.Enum):
    """What became of a pushed packet."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"  # its turn had passed (declared lost, or skipped)


class PlayoutKind(enum.Enum):
    """What a popped frame holds."""

    AUDIO = "audio"  # decode the packet
    LOST = "lost"  # the packet is lost: conceal (with FEC from ``following`` if present)
    UNDERRUN = "underrun"  # nothing has arrived yet: conceal and wait
    SILENCE = "silence"  # the sender sent nothing on purpose: play silence or comfort noise


@dataclass(frozen=True, slots=True)
class Playout:
    """One popped frame: what to play and how many RTP clock ticks it covers."""

    kind: PlayoutKind
    ticks: int
    packet: BufferedPacket | None = None
    following: BufferedPacket | None = None


@dataclass(frozen=True, slots=True)
class JitterBufferStatistics:
    """Counters of one buffer, for logs and for the receive statistics of a stream."""

    accepted: int
    duplicates: int
    late: int
    lost: int
    underruns: int
    skipped: int
    target_delay: float
    buffered: float


@dataclass(slots=True)
class _Entry:
    timestamp: int  # extended
    packet: BufferedPacket


class JitterBuffer:
    """The playout buffer of one RTP source (sans-I/O: times are passed in, in seconds)."""

    def __init__(self, clock_rate: int, frame_ticks: int, *, min_delay: float = 0.04,
                 max_delay: float = 0.5,
                 duration: Callable[[BufferedPacket], int] | None = None) -> None:
        self.clock_rate = clock_rate
        self.frame_ticks = frame_ticks
        self.min_delay = min_delay
        self.max_delay = max_delay
        self._duration = duration or (lambda _packet: frame_ticks)
        self._entries: dict[int, _Entry] = {}
        self._highest_seq: int | None = None
        self._highest_ts = 0
        self._newest_end = 0  # extended timestamp where the newest buffered audio ends
        self._next_seq = 0
        self._play_ts = 0
        self._playing = False
        self._transits: deque[float] = deque(maxlen=WINDOW)
        self._fastest = float("inf")
        self._since_retarget = 0
        self._target = max(min_delay, frame_ticks / clock_rate)
        self._underrun_ticks = 0
        self._excess_ticks = 0
        self._accepted = self._duplicates = self._late = self._lost = 0
        self._underruns = self._skipped = 0

    @property
    def target_delay(self) -> float:
        """The delay the buffer currently aims for, in seconds."""
        return self._target

    @property
    def buffered(self) -> float:
        """Seconds of audio between the playout point and the newest packet's end."""
        if not self._entries:
            return 0.0
        start = self._play_ts if self._playing else min(e.timestamp for e in self._entries.values())
        return max(0, self._newest_end - start) / self.clock_rate

    def statistics(self) -> JitterBufferStatistics:
        """The counters so far."""
        return JitterBufferStatistics(self._accepted, self._duplicates, self._late, self._lost,
                                      self._underruns, self._skipped, self._target, self.buffered)

    def push(self, packet: BufferedPacket, now: float) -> Push:
        """Take an arrived packet."""
        if self._highest_seq is None:
            self._highest_seq = packet.sequence
            self._highest_ts = packet.timestamp
        sequence = extend(packet.sequence, self._highest_seq, 16)
        timestamp = extend(packet.timestamp, self._highest_ts, 32)
        if abs(sequence - self._highest_seq) > MAX_JUMP:
            self._restart()
            self._highest_seq, self._highest_ts = packet.sequence, packet.timestamp
            sequence, timestamp = packet.sequence, packet.timestamp
        if sequence in self._entries:
            self._duplicates += 1
            return Push.DUPLICATE
        # A late packet still tells how late packets get: it counts towards the target.
        self._observe_transit(now - timestamp / self.clock_rate)
        if self._playing and sequence < self._next_seq:
            self._late += 1
            return Push.LATE
        self._entries[sequence] = _Entry(timestamp, packet)
        self._accepted += 1
        self._highest_seq = max(self._highest_seq, sequence)
        self._highest_ts = max(self._highest_ts, timestamp)
        self._newest_end = max(self._newest_end, timestamp + self._duration(packet))
        return Push.ACCEPTED

    def pop(self, now: float) -> Playout | None:
        """The next frame to play, or ``None`` while there is nothing to play.

        ``None`` means pre-buffering or an idle source: the caller plays silence or comfort
        noise.
        """
        if not self._playing and not self._start():
            return None
        ahead = self._newest_end - self._play_ts
        self._track_excess(ahead)
        entry = self._entries.get(self._next_seq)
        if entry is not None:
            return self._play(entry)
        if self._entries and any(seq > self._next_seq for seq in self._entries):
            if ahead >= self._target_ticks():
                return self._declare_lost()
            return self._underrun()
        return self._underrun()

    def _start(self) -> bool:
        if not self._entries:
            return False
        first = min(self._entries)
        start_ts = self._entries[first].timestamp
        if self._newest_end - start_ts < self._target_ticks():
            return False
        self._playing = True
        self._next_seq = first
        self._play_ts = start_ts
        self._underrun_ticks = 0
        return True

    def _play(self, entry: _Entry) -> Playout:
        gap = entry.timestamp - self._play_ts
        if gap > 0 and self._underrun_ticks:
            # The frames concealed while waiting were the sender's silence (DTX), not a late
            # packet: count them against the gap, or every pause would add a frame of delay.
            credit = min(gap, self._underrun_ticks)
            self._play_ts += credit
            gap -= credit
        self._underrun_ticks = 0
        if gap >= self.frame_ticks:  # the sender was silent on purpose
            skip = self.frame_ticks
            if self._excess_ticks >= SHRINK_AFTER * self.clock_rate:
                skip = min(gap, 2 * self.frame_ticks)  # catch up inside the silence: inaudible
                self._excess_ticks = 0
                self._skipped += 1
            self._play_ts += skip
            return Playout(PlayoutKind.SILENCE, self.frame_ticks)
        del self._entries[self._next_seq]
        self._next_seq += 1
        ticks = self._duration(entry.packet)
        self._play_ts = entry.timestamp + ticks
        if self._excess_ticks >= SHRINK_AFTER * self.clock_rate * 4:
            # Talking without pause for long: drop a frame rather than let delay grow.
            self._excess_ticks = 0
            following = self._entries.pop(self._next_seq, None)
            if following is not None:
                self._next_seq += 1
                self._play_ts = following.timestamp + self._duration(following.packet)
                self._skipped += 1
        return Playout(PlayoutKind.AUDIO, ticks, entry.packet)

    def _declare_lost(self) -> Playout:
        self._underrun_ticks = 0
        self._next_seq += 1
        self._lost += 1
        self._play_ts += self.frame_ticks
        following = self._entries.get(self._next_seq)
        return Playout(PlayoutKind.LOST, self.frame_ticks, None,
                       following.packet if following else None)

    def _underrun(self) -> Playout | None:
        self._underrun_ticks += self.frame_ticks
        if self._underrun_ticks > IDLE_AFTER * self.clock_rate:
            # The sender went quiet (DTX, hold, left): stop concealing; the next packet
            # starts a talkspurt of its own after a fresh pre-buffer.
            self._playing = False
            self._entries = {s: e for s, e in self._entries.items() if s >= self._next_seq}
            return None
        self._underruns += 1
        return Playout(PlayoutKind.UNDERRUN, self.frame_ticks)

    def _track_excess(self, ahead: int) -> None:
        if ahead > self._target_ticks() + 2 * self.frame_ticks:
            self._excess_ticks += self.frame_ticks
        else:
            self._excess_ticks = 0

    def _target_ticks(self) -> int:
        # Rounded to whole ticks: transit times carry float noise that must not turn an
        # exactly-on-target buffer into an underrun.
        return round(self._target * self.clock_rate)

    def _observe_transit(self, transit: float) -> None:
        self._transits.append(transit)
        self._fastest = min(self._fastest, transit)
        self._since_retarget += 1
        if self._since_retarget >= RETARGET_EVERY:
            self._retarget()
        else:
            # Rise at once when a packet is later than the target allows; fall only slowly.
            self._target = max(self._target, self._bounded(transit - self._fastest))

    def _retarget(self) -> None:
        self._since_retarget = 0
        transits = np.fromiter(self._transits, dtype=np.float64)
        self._fastest = float(transits.min())
        self._target = self._bounded(float(np.percentile(transits, 95)) - self._fastest)

    def _bounded(self, spread: float) -> float:
        frame = self.frame_ticks / self.clock_rate
        return min(self.max_delay, max(self.min_delay, spread + frame))

    def _restart(self) -> None:
        self._entries.clear()
        self._playing = False
        self._newest_end = 0
        self._transits.clear()
        self._fastest = float("inf")
