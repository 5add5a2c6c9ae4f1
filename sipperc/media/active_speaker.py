"""Active-speaker detection from audio levels, with a threshold and a hangover.

The levels come from RFC 6464 client-to-mixer audio level header extensions (so a Media
Distributor can pick speakers without decrypting anything) or from decoded audio
(:func:`sipperc.media.level.dbov`). A source is *speaking* while its level is at or above
``threshold`` (in -dBov, so numerically at or below it) and its voice-activity flag, when the
sender sets one, does not say otherwise; it stays speaking for ``hangover`` seconds after that,
so the pauses between words do not flicker the speaker list. The *dominant* speaker is the
loudest by smoothed level, and only changes when another speaker is louder by ``switch_margin``
dB, so two similar voices do not make the video or the mix bounce between them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

SMOOTHING = 0.2
"""Weight of a new level in the exponentially smoothed level of a source."""


@dataclass(frozen=True, slots=True)
class SpeakerState:
    """Who is speaking now: loudest first, and the dominant speaker (``None``: nobody)."""

    speaking: tuple[Hashable, ...]
    dominant: Hashable | None


@dataclass(slots=True)
class _Source:
    smoothed: float
    last_voice: float | None = None


class ActiveSpeakerDetector:
    """Tracks the speaking state of many sources (sans-I/O: ``now`` in seconds is passed in)."""

    def __init__(self, threshold: int = 50, hangover: float = 0.5,
                 switch_margin: float = 6.0) -> None:
        if not 0 <= threshold <= 127:
            raise ValueError(f"threshold is a level in -dBov, 0..127, not {threshold}")
        self.threshold = threshold
        self.hangover = hangover
        self.switch_margin = switch_margin
        self._sources: dict[Hashable, _Source] = {}
        self._dominant: Hashable | None = None

    def update(self, source: Hashable, level: int, now: float, voice: bool | None = None) -> None:
        """Record one packet's level (-dBov) and, if the sender sets it, its voice flag."""
        state = self._sources.get(source)
        if state is None:
            state = self._sources[source] = _Source(float(level))
        state.smoothed += SMOOTHING * (level - state.smoothed)
        if level <= self.threshold and voice is not False:
            state.last_voice = now

    def forget(self, source: Hashable) -> None:
        """Remove a source that left."""
        self._sources.pop(source, None)
        if self._dominant == source:
            self._dominant = None

    def state(self, now: float) -> SpeakerState:
        """The speakers at ``now`` and the dominant one."""
        speaking = sorted((source for source, s in self._sources.items()
                           if s.last_voice is not None and now - s.last_voice <= self.hangover),
                          key=lambda source: self._sources[source].smoothed)
        if not speaking:
            self._dominant = None
        elif self._dominant not in speaking:
            self._dominant = speaking[0]
        else:
            current = self._sources[self._dominant].smoothed
            if self._sources[speaking[0]].smoothed < current - self.switch_margin:
                self._dominant = speaking[0]
        return SpeakerState(tuple(speaking), self._dominant)
