"""RFC 4733 telephone events (DTMF digits) in RTP: the payload, the sender and the receiver.

A digit is sent as a run of packets that all carry the timestamp of the event's start (§2.5.1.2),
the first with the marker bit set, each with the duration so far; the last has the E bit and is
sent three times (§2.5.1.4) so a single loss does not leave the receiver with a stuck key. The
receiver reports each event once, at its first packet, and its end once, whichever copies arrive.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sipperc.media.codecs.audio_codec import CodecError

SYMBOLS = "0123456789*#ABCD"
"""Events 0-15 are the DTMF keys (RFC 4733 §3.2); 16 is hook flash."""
FLASH = 16
END_REPEATS = 3
MAX_DURATION = 0xFFFF


def event_code(symbol: str) -> int:
    """The RFC 4733 event code of a DTMF key (``"0"``-``"9"``, ``*``, ``#``, ``A``-``D``)."""
    code = SYMBOLS.find(symbol.upper()) if len(symbol) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF key: {symbol!r} (use 0-9, *, #, A-D)")
    return code


def event_symbol(code: int) -> str:
    """The key for an event code, ``"flash"`` for 16, ``"event N"`` for the others."""
    if code < len(SYMBOLS):
        return SYMBOLS[code]
    return "flash" if code == FLASH else f"event {code}"


@dataclass(frozen=True, slots=True)
class TelephoneEventPayload:
    """One RFC 4733 §2.3 payload: event, end bit, volume (-dBm0, 0..63), duration in ticks."""

    event: int
    end: bool
    volume: int
    duration: int

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255:
            raise ValueError(f"event code is 0..255, not {self.event}")
        if not 0 <= self.volume <= 63:
            raise ValueError(f"volume is 0..63 (-dBm0), not {self.volume}")
        if not 0 <= self.duration <= MAX_DURATION:
            raise ValueError(f"duration is 0..65535 ticks, not {self.duration}")

    def encode(self) -> bytes:
        """The 4-byte payload (the R bit is sent as zero)."""
        return struct.pack("!BBH", self.event, (0x80 if self.end else 0) | self.volume,
                           self.duration)

    @classmethod
    def decode(cls, payload: bytes) -> TelephoneEventPayload:
        """Parse a payload; only the first event block is read (§2.3 allows one per packet)."""
        if len(payload) < 4:
            raise CodecError(f"telephone-event payload is 4 bytes, got {len(payload)}")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(frozen=True, slots=True)
class EventPacket:
    """A telephone-event packet to send: the RTP timestamp is the event's start."""

    payload: bytes
    timestamp: int
    marker: bool


@dataclass(frozen=True, slots=True)
class _QueuedEvent:
    code: int
    ticks: int
    gap: int
    volume: int


class TelephoneEventSender:
    """Turns queued keys into telephone-event packets, one call per packetisation interval.

    The RTP session calls :meth:`next_packets` with the timestamp of each frame; while an
    event is playing it sends these packets instead of audio (§2.5.1.2).
    """

    def __init__(self, clock_rate: int, frame_ticks: int) -> None:
        self._clock_rate = clock_rate
        self._frame = frame_ticks
        self._queue: list[_QueuedEvent] = []
        self._start: int | None = None
        self._elapsed = 0
        self._pause = 0

    @property
    def busy(self) -> bool:
        """Whether an event is playing or queued (audio is suppressed while one plays)."""
        return bool(self._queue) or self._pause > 0

    def queue(self, keys: str, duration: float = 0.1, gap: float = 0.05, volume: int = 10) -> None:
        """Queue DTMF keys, each lasting ``duration`` seconds then ``gap`` seconds of audio."""
        ticks = min(MAX_DURATION, round(duration * self._clock_rate))
        ticks = max(self._frame, ticks)
        pause = round(gap * self._clock_rate)
        self._queue.extend(_QueuedEvent(event_code(key), ticks, pause, volume) for key in keys)

    def next_packets(self, timestamp: int) -> list[EventPacket] | None:
        """The packets for the frame starting at ``timestamp``; ``None`` means send audio."""
        if self._pause > 0:
            self._pause = max(0, self._pause - self._frame)
            return None
        if not self._queue:
            return None
        current = self._queue[0]
        first = self._start is None
        if first:
            self._start = timestamp
            self._elapsed = 0
        assert self._start is not None
        self._elapsed = min(current.ticks, self._elapsed + self._frame)
        end = self._elapsed >= current.ticks
        payload = TelephoneEventPayload(current.code, end, current.volume, self._elapsed).encode()
        packet = EventPacket(payload, self._start & 0xFFFFFFFF, first)
        if not end:
            return [packet]
        self._queue.pop(0)
        self._start = None
        self._pause = current.gap
        return [packet] + [EventPacket(payload, packet.timestamp, False)] * (END_REPEATS - 1)


@dataclass(frozen=True, slots=True)
class TelephoneEventStarted:
    """A key went down (first packet of an event seen)."""

    key: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class TelephoneEventEnded:
    """A key went up; ``duration`` in seconds."""

    key: str
    timestamp: int
    duration: float


TelephoneEvent = TelephoneEventStarted | TelephoneEventEnded


class TelephoneEventReceiver:
    """Reports each received event once when it starts and once when it ends."""

    def __init__(self, clock_rate: int) -> None:
        self._clock_rate = clock_rate
        self._current: int | None = None  # timestamp of the event in progress
        self._ended: set[int] = set()

    def receive(self, timestamp: int, payload: bytes) -> list[TelephoneEvent]:
        """Events for one received telephone-event packet (duplicates yield nothing)."""
        parsed = TelephoneEventPayload.decode(payload)
        key = event_symbol(parsed.event)
        if timestamp in self._ended:
            return []
        events: list[TelephoneEvent] = []
        if timestamp != self._current:
            self._current = timestamp
            events.append(TelephoneEventStarted(key, timestamp))
        if parsed.end:
            self._ended.add(timestamp)
            if len(self._ended) > 16:  # only recent events can still be retransmitted
                self._ended = {t for t in self._ended if (timestamp - t) & 0xFFFFFFFF < 1 << 31}
            self._current = None
            events.append(TelephoneEventEnded(key, timestamp, parsed.duration / self._clock_rate))
        return events
