import numpy as np
import pytest

from sipperc.media.level import dbov
from sipperc.media.tone import ToneSource
from tests.media.audio_checks import tone_levels


def test_tone_frequency_and_level():
    source = ToneSource(1000, 8000, level=20)
    pcm = np.concatenate([source.read(160) for _ in range(50)])  # phase-continuous frames
    assert dbov(pcm) == 20
    levels = tone_levels(pcm, 8000, [1000, 1500])
    assert levels[1000] > 100 * levels[1500]


def test_two_tones():
    pcm = ToneSource([440, 1200], 16000).read(16000)
    levels = tone_levels(pcm, 16000, [440, 1200, 800])
    assert levels[440] == pytest.approx(levels[1200], rel=0.05)
    assert levels[800] < levels[440] / 100


def test_above_nyquist_rejected():
    with pytest.raises(ValueError, match="cannot be sampled"):
        ToneSource(5000, 8000)
