"""How much of a recording is a given source: normalised cross-correlation against a loop.

A conference participant records what it decoded from each remote source; whoever checks the
recording (``sipperc demo``'s verdict) knows which file each source played, in a loop, from
some unknown point on. :func:`voice_match` cuts the recording into windows, skips the silent
ones (pauses between sentences, the concealment before a stream starts), and for each window
finds the best-matching position anywhere in the looped source: the normalised
cross-correlation at that lag (1.0: the same waveform up to a gain; two different voices stay
far below). The median over the voiced windows is the score. Codec noise (G.711 keeps about
38 dB of SNR) costs almost nothing; a stream that was not decrypted cannot be decoded at all,
so its recording is silence or concealment and scores near 0.

Both signals must have the same sample rate: resample the source first
(:class:`sipperc.media.resample.Resampler`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

VOICED_RMS = 300.0
"""Windows quieter than this (int16 RMS, about -40 dBFS) are pauses, not speech."""


class LoopedVoice:
    """A source as it is played in a loop, ready to be matched against many recordings.

    What depends only on the source (its spectrum, its energy under the window at every lag)
    is computed once here.
    """

    def __init__(self, source: npt.ArrayLike, sample_rate: int, *, window: float = 0.5,
                 max_windows: int = 8) -> None:
        self.samples = np.asarray(source, dtype=np.float64)
        self.sample_rate = sample_rate
        self.width = int(window * sample_rate)
        self.max_windows = max_windows
        size = len(self.samples)
        if self.width < 1 or size < self.width:
            raise ValueError(f"the source ({size} samples) is shorter than the window")
        self._spectrum = np.fft.rfft(self.samples)
        # Energy of the source under the window at every circular lag (cumulative sums).
        squares = np.concatenate([self.samples, self.samples[:self.width]]) ** 2
        cumulative = np.concatenate([[0.0], np.cumsum(squares)])
        energy = np.sqrt(np.maximum(cumulative[self.width:self.width + size]
                                    - cumulative[:size], 0.0))
        # Lags where the source is (nearly) silent cannot match speech: score them 0.
        self._inverse_energy = np.where(energy > 1e-6 * (np.max(energy) or 1.0),
                                        1.0 / np.maximum(energy, 1e-12), 0.0)

    def match(self, recording: npt.ArrayLike) -> float:
        """How well ``recording`` matches the looped source (0.0 if nothing is voiced).

        The median over the voiced windows (up to ``max_windows`` of them, evenly spread) of
        the best normalised correlation with the source at any lag.
        """
        heard = np.asarray(recording, dtype=np.float64)
        width, size = self.width, len(self.samples)
        count = len(heard) // width
        if count == 0:
            return 0.0
        pieces = heard[:count * width].reshape(count, width)
        norms = np.sqrt(np.einsum("ij,ij->i", pieces, pieces))
        voiced = np.flatnonzero(norms / np.sqrt(width) >= VOICED_RMS)
        if len(voiced) == 0:
            return 0.0
        if len(voiced) > self.max_windows:
            voiced = voiced[np.linspace(0, len(voiced) - 1, self.max_windows).astype(int)]
        # Circular cross-correlation: lag k scores sum(piece[i] * source[(k + i) % size]).
        spectra = np.conj(np.fft.rfft(pieces[voiced], size, axis=1))
        products = np.fft.irfft(spectra * self._spectrum[None, :], size, axis=1)
        best = np.max(products * self._inverse_energy[None, :], axis=1) / norms[voiced]
        return float(np.median(best))


def voice_match(recording: npt.ArrayLike, source: npt.ArrayLike, sample_rate: int, *,
                window: float = 0.5) -> float:
    """:meth:`LoopedVoice.match` for one recording against one source."""
    return LoopedVoice(source, sample_rate, window=window).match(recording)


__all__ = ["VOICED_RMS", "LoopedVoice", "voice_match"]
