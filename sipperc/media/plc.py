"""Packet loss concealment for codecs that have none of their own (G.711, G.722).

The method is the pitch waveform substitution of ITU-T G.711 Appendix I, simplified: on the first
lost frame the pitch period of the last good audio is estimated by normalised autocorrelation;
the last pitch period is then repeated, at full level for 10 ms and fading out by 20% per further
10 ms, so a burst longer than 60 ms decays to silence instead of buzzing. The first good frame
after a loss is cross-faded with the concealment signal so the splice does not click.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sipperc.media.pcm import Pcm, Signal, saturate

HISTORY = 0.04875
"""Seconds of decoded audio kept to find the pitch (390 samples at 8 kHz, as in G.711 App. I)."""

PITCH_MIN, PITCH_MAX = 0.0025, 0.015
"""The pitch periods searched, in seconds (66 Hz to 400 Hz voices)."""

FULL_LEVEL = 0.010
FADE_PER_10MS = 0.2
SPLICE = 0.004


class WaveformSubstitution:
    """Concealment state of one decoded stream."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._history: Signal = np.zeros(round(HISTORY * sample_rate), dtype=np.float32)
        self._lost = 0  # samples concealed in the current burst; 0 while audio flows
        self._period = 0
        self._phase = 0

    @property
    def concealing(self) -> bool:
        """Whether the last frame produced was a concealment frame."""
        return self._lost > 0

    def remember(self, pcm: Pcm) -> Pcm:
        """Record good audio; after a loss, returns it cross-faded with the concealment."""
        if self._lost:
            splice = min(len(pcm), round(SPLICE * self._rate))
            if splice:
                tail = self._synthesise(splice)
                ramp = np.linspace(0.0, 1.0, splice, endpoint=False, dtype=np.float32)
                blended = pcm.astype(np.float32)
                blended[:splice] = blended[:splice] * ramp + tail * (1.0 - ramp)
                pcm = saturate(blended)
            self._lost = 0
        keep = len(self._history)
        if len(pcm) >= keep:
            self._history = pcm[-keep:].astype(np.float32)
        else:
            self._history = np.concatenate([self._history[len(pcm):], pcm.astype(np.float32)])
        return pcm

    def conceal(self, samples: int) -> Pcm:
        """``samples`` samples of substituted waveform for a lost frame."""
        if not self._lost:
            self._period = self._pitch_period()
            self._phase = 0
        return saturate(self._synthesise(samples))

    def _synthesise(self, samples: int) -> Signal:
        period = self._history[-self._period:]
        index = (np.arange(samples) + self._phase) % self._period
        elapsed = (self._lost + np.arange(samples, dtype=np.float32)) / self._rate
        gain = 1.0 - FADE_PER_10MS * np.maximum(elapsed - FULL_LEVEL, 0.0) / 0.010
        self._phase = (self._phase + samples) % self._period
        self._lost += samples
        return (period[index] * np.clip(gain, 0.0, 1.0)).astype(np.float32)

    def _pitch_period(self) -> int:
        shortest = max(1, round(PITCH_MIN * self._rate))
        longest = round(PITCH_MAX * self._rate)
        window = len(self._history) - longest
        target = self._history[-window:]
        if not np.any(target):
            return shortest
        # Row k of `candidates` is the window that ends k samples before the newest one.
        candidates = sliding_window_view(self._history, window)[::-1][shortest:longest + 1]
        energy = np.einsum("ij,ij->i", candidates, candidates) + 1e-9
        score = (candidates @ target) / np.sqrt(energy)
        return shortest + int(np.argmax(score))
