"""Measurements the media tests assert on: alignment, SNR, tone content, the speech samples."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

AUDIO = Path(__file__).resolve().parents[2] / "audio"


def speech(rate: int) -> np.ndarray:
    """The espeak-ng speech sample at 8 or 16 kHz (or 48 kHz), as int16."""
    with wave.open(str(AUDIO / f"speech-{rate // 1000}k.wav"), "rb") as wav:
        assert wav.getframerate() == rate and wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).copy()


def delay(sent: np.ndarray, received: np.ndarray, max_lag: int) -> int:
    """The lag (in samples) of ``received`` behind ``sent``, by cross-correlation."""
    a = sent.astype(np.float64)
    b = received.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    # Circular cross-correlation by FFT; lag k scores sum(a[i] * b[i + k]).
    scores = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)
    return int(np.argmax(scores[:max_lag]))


def aligned(sent: np.ndarray, received: np.ndarray, max_lag: int = 4000
            ) -> tuple[np.ndarray, np.ndarray]:
    """``sent`` and ``received`` cut to the common part, with the delay removed."""
    lag = delay(sent, received, max_lag)
    n = min(len(sent), len(received) - lag)
    return sent[:n].astype(np.float64), received[lag:lag + n].astype(np.float64)


def snr(sent: np.ndarray, received: np.ndarray, max_lag: int = 4000) -> float:
    """Signal-to-noise ratio in dB of ``received`` against ``sent``, after alignment."""
    a, b = aligned(sent, received, max_lag)
    noise = float(np.sum((a - b) ** 2)) or 1e-9
    return 10.0 * np.log10(float(np.sum(a * a)) / noise)


def heard_in_loop(source: np.ndarray, received: np.ndarray, block: int = 800,
                  search: int = 240) -> np.ndarray:
    """Per-block SNR (dB) of ``received`` against ``source`` played in a loop.

    For a phone that plays ``source`` in a loop from a moment we do not know, through an
    adaptive jitter buffer that may drop or repeat a frame now and then (shifting what follows
    by a few milliseconds): the opening second is found anywhere in the loop by
    cross-correlation; then each block is compared with the source at every shift within
    ``search`` samples of where the previous block ended, and the best SNR counts (the best
    SNR, not the best correlation: voiced speech correlates with itself one pitch period
    away). Blocks where the source is silent are left out; one entry per block compared.
    """
    looped = np.tile(source, 3 + len(received) // len(source)).astype(np.float64)
    quiet = 0.05 * float(np.sqrt(np.mean(source.astype(np.float64) ** 2)))
    opening = received[:min(len(received), 10 * block)].astype(np.float64)
    position = delay(opening, looped[:len(source) + len(opening)], len(source))
    snrs = []
    for start in range(0, len(received) - block + 1, block):
        heard = received[start:start + block].astype(np.float64)
        low = max(0, position - search)
        shifts = np.lib.stride_tricks.sliding_window_view(
            looped[low:position + search + block], block)
        noise = np.sum((shifts - heard) ** 2, axis=1)
        energy = np.sum(shifts * shifts, axis=1)
        best = int(np.argmax(energy / (noise + 1e-9)))
        sent = shifts[best]
        position = low + best + block
        if np.sqrt(np.mean(sent * sent)) < quiet:
            continue
        snrs.append(10.0 * np.log10(float(energy[best]) / (float(noise[best]) + 1e-9)))
    return np.array(snrs)


def correlation(sent: np.ndarray, received: np.ndarray, max_lag: int = 4000) -> float:
    """Normalised cross-correlation (1.0: identical shape) after alignment."""
    a, b = aligned(sent, received, max_lag)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def tone(frequency: float, rate: int, samples: int, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(samples) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def tone_levels(signal: np.ndarray, rate: int, frequencies: list[float]) -> dict[float, float]:
    """Amplitude of each frequency in ``signal`` (peak of a Hann-windowed spectrum)."""
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64) * window)) / (window.sum() / 2)
    bins = np.fft.rfftfreq(len(signal), 1 / rate)
    levels = {}
    for f in frequencies:
        near = np.abs(bins - f) <= 2 * rate / len(signal)
        levels[f] = float(spectrum[near].max())
    return levels
