"""RFC 3389 comfort noise, receive side: the noise a sender asks for while it sends no audio.

A CN payload (§3) carries the noise level in -dBov and, optionally, reflection coefficients of an
all-pole filter describing the noise spectrum, each quantised as ``(N - 127) / 128`` (§3.2).
We synthesise white noise, colour it with that filter and scale it to the level; the noise goes
on, at the level of the last update, until audio returns.
"""

from __future__ import annotations

import numpy as np

from sipperc.media.codecs.audio_codec import CodecError
from sipperc.media.level import rms
from sipperc.media.pcm import Pcm, saturate

MAX_ORDER = 12  # the most reflection coefficients this decoder uses (G.711 App. II uses 10)


def reflection_to_lpc(reflection: list[float]) -> list[float]:
    """The direct-form predictor coefficients for lattice reflection coefficients (step-up)."""
    lpc: list[float] = []
    for k in reflection:
        lpc = [a + k * b for a, b in zip(lpc, reversed(lpc), strict=True)] + [k]
    return lpc


class ComfortNoise:
    """Comfort noise generator for one stream (the ``CN`` payload type)."""

    def __init__(self, sample_rate: int = 8000, seed: int | None = None) -> None:
        self.sample_rate = sample_rate
        self._rng = np.random.default_rng(seed)
        self._level = 127
        self._lpc: list[float] = []
        self._memory: list[float] = []

    @property
    def level(self) -> int:
        """The noise level in -dBov last received (127 before any update: silence)."""
        return self._level

    def update(self, payload: bytes) -> None:
        """Take a new CN payload (level byte, then up to one byte per reflection coefficient)."""
        if not payload:
            raise CodecError("comfort noise payload is empty (it starts with the noise level)")
        if payload[0] > 127:
            raise CodecError(f"comfort noise level is 0..127 -dBov, got {payload[0]}")
        self._level = payload[0]
        # Clamped inside the unit circle: a coefficient of +1 (N = 255) makes an unstable filter.
        reflection = [max(-0.99, min(0.99, (n - 127) / 128.0)) for n in payload[1:1 + MAX_ORDER]]
        lpc = reflection_to_lpc(reflection)
        if len(lpc) != len(self._lpc):
            self._memory = [0.0] * len(lpc)
        self._lpc = lpc

    def generate(self, samples: int) -> Pcm:
        """``samples`` samples of noise at the requested level and colour."""
        target = rms(self._level)
        if target == 0.0:
            return np.zeros(samples, dtype=np.int16)
        noise = self._rng.standard_normal(samples)
        if self._lpc:
            noise = self._colour(noise)
        power = float(np.sqrt(np.mean(noise * noise))) or 1.0
        return saturate(noise * (target / power))

    def _colour(self, excitation: np.ndarray) -> np.ndarray:
        # All-pole synthesis y[n] = x[n] - sum(a_i y[n-i]); the order is at most 12, so a plain
        # loop over one frame costs little, and it only runs while the peer is silent.
        out = np.empty_like(excitation)
        memory = self._memory
        lpc = self._lpc
        for n, x in enumerate(excitation):
            y = float(x) - sum(a * m for a, m in zip(lpc, memory, strict=True))
            memory = [y, *memory[:-1]]
            out[n] = y
        self._memory = memory
        return out
