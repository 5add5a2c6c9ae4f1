"""The conference mixer: N decoded sources summed with per-source gain, mix-minus, soft clipping.

A softphone in a conference plays the sum of everyone else (:meth:`Mixer.mix`). A bridge that
sends one mixed stream to each legacy phone gives every participant the sum of all the *others*
(:meth:`Mixer.mix_minus`), so nobody hears their own voice back with the network's delay.

Summing loud sources overflows 16 bits. Hard clipping distorts harshly; instead samples above a
knee (:data:`KNEE` of full scale) are compressed along a tanh curve that reaches full scale only
asymptotically, so the mix stays smooth and never wraps around.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

import numpy as np

from sipperc.media.pcm import FULL_SCALE, Pcm, Signal, saturate

Source = TypeVar("Source", bound=Hashable)

KNEE = 0.75
"""Fraction of full scale below which the mix is passed through unchanged."""


def soft_clip(signal: Signal) -> Signal:
    """Compress samples above the knee smoothly so the result stays within full scale."""
    knee = KNEE * FULL_SCALE
    headroom = FULL_SCALE - knee
    magnitude = np.abs(signal)
    over = magnitude > knee
    if not over.any():
        return signal
    out = signal.copy()
    squeezed = knee + headroom * np.tanh((magnitude[over] - knee) / headroom)
    out[over] = np.copysign(squeezed, signal[over])
    return out


class Mixer:
    """Mixes frames of ``frame`` samples; every source's frame must have that length."""

    def __init__(self, sample_rate: int, frame: int) -> None:
        self.sample_rate = sample_rate
        self.frame = frame
        self._gains: dict[Hashable, float] = {}

    def set_gain(self, source: Hashable, gain: float) -> None:
        """Linear gain for one source (1.0 unchanged, 0.0 muted)."""
        if gain < 0:
            raise ValueError(f"gain must be 0 or more, not {gain}")
        self._gains[source] = gain

    def set_gain_db(self, source: Hashable, decibels: float) -> None:
        """Gain for one source in dB (0 unchanged, -6 half the amplitude)."""
        self.set_gain(source, 10.0 ** (decibels / 20.0))

    def gain(self, source: Hashable) -> float:
        """The source's linear gain (1.0 unless set)."""
        return self._gains.get(source, 1.0)

    def forget(self, source: Hashable) -> None:
        """Drop a source's gain setting (it left the conference)."""
        self._gains.pop(source, None)

    def _weighted(self, frames: Mapping[Source, Pcm]) -> Signal:
        stacked = np.empty((len(frames), self.frame), dtype=np.float32)
        for row, (source, pcm) in enumerate(frames.items()):
            if len(pcm) != self.frame:
                raise ValueError(f"source {source!r} gave {len(pcm)} samples, "
                                 f"the mixer frame is {self.frame}")
            stacked[row] = pcm
            gain = self._gains.get(source, 1.0)
            if gain != 1.0:
                stacked[row] *= gain
        return stacked

    def mix(self, frames: Mapping[Source, Pcm]) -> Pcm:
        """The sum of every source, soft-clipped."""
        if not frames:
            return np.zeros(self.frame, dtype=np.int16)
        total: Signal = self._weighted(frames).sum(axis=0)
        return saturate(soft_clip(total))

    def mix_minus(self, frames: Mapping[Source, Pcm]) -> dict[Source, Pcm]:
        """For each source, the sum of all the others, soft-clipped."""
        if not frames:
            return {}
        weighted = self._weighted(frames)
        others: Signal = weighted.sum(axis=0)[None, :] - weighted
        clipped = saturate(soft_clip(others))
        return {source: clipped[row] for row, source in enumerate(frames)}
