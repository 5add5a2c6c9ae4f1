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


def heard_in_loop(source: np.ndarray, received: np.ndarray, block: int = 160,
                  search: int = 240, reacquire: int = 4000) -> np.ndarray:
    """Per-block SNR (dB) of ``received`` against ``source`` played in a loop.

    For a phone that plays ``source`` in a loop from a moment we do not know, through an
    adaptive jitter buffer that drops or inserts a frame now and then (a PJSIP jitter buffer
    on a busy machine does it every 200 ms or so, 10 ms at a time; ours skips a frame to
    shrink its delay, and after a stall of its clock it conceals or skips more): the opening
    second is found anywhere in the loop by cross-correlation; then each ``block`` (20 ms:
    one frame, so a splice spoils one or two blocks, not a whole 100 ms) is compared with the
    source at every shift within ``search`` samples of where the previous block ended, and
    the best SNR counts (the best SNR, not the best correlation: voiced speech correlates with
    itself one pitch period away). A loud block that matches nowhere near is looked for within
    ``reacquire`` samples (0.5 s at 8 kHz: a long concealment or a clock resynchronisation
    shifts what follows that far), so one such event costs the blocks it spoiled, not every
    block after it. A block where we heard (near) silence is not searched: it is compared
    where the previous block ended, so a muted stream scores ~0 dB wherever the source talks.
    Blocks where the source is silent are left out; one entry per block compared.
    """
    src = source.astype(np.float64)
    quiet = 0.05 * float(np.sqrt(np.mean(src ** 2)))
    # Enough copies that any window around a position kept in the second copy fits.
    copies = 3 + (2 * (reacquire + block)) // len(src)
    looped = np.tile(src, copies)
    opening = received[:min(len(received), 50 * block)].astype(np.float64)
    position = len(src) + delay(opening, looped[:len(src) + len(opening)], len(src))
    snrs = []
    for start in range(0, len(received) - block + 1, block):
        heard = received[start:start + block].astype(np.float64)
        if np.sqrt(np.mean(heard * heard)) < quiet:
            at, score = _block_snr(looped, heard, position, 0)
        else:
            at, score = _block_snr(looped, heard, position, search)
            if score < 20.0:
                at, score = max((at, score), _block_snr(looped, heard, position, reacquire),
                                key=lambda found: found[1])
        sent = looped[at:at + block]
        position = len(src) + (at + block) % len(src)
        if np.sqrt(np.mean(sent * sent)) < quiet:
            continue
        snrs.append(score)
    return np.array(snrs)


def _block_snr(looped: np.ndarray, heard: np.ndarray, position: int, search: int
               ) -> tuple[int, float]:
    """Where in ``looped`` (within ``search`` of ``position``) ``heard`` matches best, and
    the SNR in dB there (signal: the source's energy; noise: what differs)."""
    low = position - search
    window = looped[low:position + search + len(heard)]
    squares = np.concatenate(([0.0], np.cumsum(window * window)))
    energy = squares[len(heard):] - squares[:-len(heard)]
    noise = np.maximum(energy - 2.0 * np.correlate(window, heard, "valid")
                       + float(heard @ heard), 0.0)
    best = int(np.argmax(energy / (noise + 1e-9)))
    return low + best, float(10.0 * np.log10(energy[best] / (noise[best] + 1e-9) + 1e-12))


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
