"""The null device: a source of silence and a sink that discards, for headless runs and tests."""

from __future__ import annotations

from sipperc.media.pcm import Pcm, silence


class NullSource:
    """Endless digital silence."""

    exhausted = False

    def __init__(self, sample_rate: int = 8000) -> None:
        self.sample_rate = sample_rate

    def read(self, samples: int) -> Pcm:
        """``samples`` samples of silence."""
        return silence(samples)

    def close(self) -> None:
        """Nothing to release."""


class NullSink:
    """Discards what it is given, counting it."""

    def __init__(self, sample_rate: int = 8000) -> None:
        self.sample_rate = sample_rate
        self.samples_written = 0

    def write(self, pcm: Pcm) -> None:
        """Count and drop ``pcm``."""
        self.samples_written += len(pcm)

    def close(self) -> None:
        """Nothing to release."""
