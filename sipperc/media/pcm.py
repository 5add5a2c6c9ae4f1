"""Linear PCM as the media layer passes it around: mono 16-bit samples in numpy arrays.

Every codec decodes to, and encodes from, one-dimensional ``int16`` arrays; the mixer works in
``float32`` and comes back through :func:`saturate`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]
"""Mono linear PCM, 16-bit signed, one array element per sample."""

Signal = npt.NDArray[np.float32]
"""Samples in float32 with the int16 scale (full scale is 32767.0): what the mixer sums."""

FULL_SCALE = 32767.0


def silence(samples: int) -> Pcm:
    """``samples`` samples of digital silence."""
    return np.zeros(samples, dtype=np.int16)


def saturate(signal: npt.NDArray[np.floating]) -> Pcm:
    """Round float samples to int16, clipping at full scale instead of wrapping around."""
    clipped: Pcm = np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
    return clipped


def fit(pcm: Pcm, samples: int) -> Pcm:
    """``pcm`` cut or padded with silence to exactly ``samples`` samples."""
    if len(pcm) == samples:
        return pcm
    if len(pcm) > samples:
        return pcm[:samples]
    return np.concatenate([pcm, silence(samples - len(pcm))])
