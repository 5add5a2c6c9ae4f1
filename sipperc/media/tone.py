"""A tone generator source: test signals, and what a conference plays when nobody speaks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sipperc.media.level import rms
from sipperc.media.pcm import Pcm, saturate


class ToneSource:
    """The sum of sine waves at ``frequencies``, each at ``level`` -dBov, phase-continuous."""

    exhausted = False

    def __init__(self, frequencies: float | Sequence[float], sample_rate: int = 8000,
                 level: int = 20) -> None:
        self.frequencies = ((frequencies,) if isinstance(frequencies, int | float)
                            else tuple(frequencies))
        nyquist = sample_rate / 2
        for frequency in self.frequencies:
            if not 0 < frequency < nyquist:
                raise ValueError(f"a {frequency} Hz tone cannot be sampled at {sample_rate} Hz")
        self.sample_rate = sample_rate
        self._amplitude = rms(level) * np.sqrt(2.0)  # a sine's peak is sqrt(2) times its RMS
        self._position = 0

    def read(self, samples: int) -> Pcm:
        """The next ``samples`` samples of the tone."""
        t = (self._position + np.arange(samples)) / self.sample_rate
        self._position += samples
        wave = np.zeros(samples)
        for frequency in self.frequencies:
            wave += np.sin(2 * np.pi * frequency * t)
        return saturate(self._amplitude * wave)

    def close(self) -> None:
        """Nothing to release."""
