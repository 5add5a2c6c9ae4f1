"""Audio level in dBov, as RFC 6464 (client-to-mixer level) and RFC 3389 (comfort noise) use it.

RFC 6464 §3 defines the level of a packet as its RMS power relative to the overload point of the
system, in -dBov from 0 (loudest) to 127 (digital silence). With 16-bit samples the overload
point is a full-scale square wave, so ``level = -20 log10(rms / 32767)``, rounded and clamped.
The same scale carries the noise level in an RFC 3389 comfort noise payload (§3).
"""

from __future__ import annotations

import math

import numpy as np

from sipperc.media.pcm import FULL_SCALE, Pcm

SILENCE = 127
"""The level of digital silence (-127 dBov), the quietest value the scale can carry."""


def dbov(pcm: Pcm) -> int:
    """The RMS level of ``pcm`` in -dBov (0..127), per RFC 6464 §3."""
    if len(pcm) == 0:
        return SILENCE
    samples = pcm.astype(np.float32)
    power = float(np.dot(samples, samples)) / len(samples)
    if power <= 0.0:
        return SILENCE
    level = -10.0 * math.log10(power / (FULL_SCALE * FULL_SCALE))
    return min(SILENCE, max(0, round(level)))


def rms(level: int) -> float:
    """The RMS amplitude (int16 scale) of a signal at ``level`` -dBov; 0.0 for digital silence."""
    if not 0 <= level <= SILENCE:
        raise ValueError(f"a level in -dBov is 0..127, not {level}")
    if level == SILENCE:
        return 0.0
    return float(FULL_SCALE * 10.0 ** (-level / 20.0))
