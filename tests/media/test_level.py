import numpy as np
import pytest

from sipperc.media.level import SILENCE, dbov, rms


def test_full_scale_square_wave_is_0_dbov():
    square = np.tile(np.array([32767, -32767], dtype=np.int16), 80)
    assert dbov(square) == 0


def test_full_scale_sine_is_3_dbov():
    t = np.arange(8000) / 8000
    assert dbov((32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)) == 3


def test_silence_and_empty():
    assert dbov(np.zeros(160, dtype=np.int16)) == SILENCE
    assert dbov(np.zeros(0, dtype=np.int16)) == SILENCE
    assert dbov(np.ones(160, dtype=np.int16)) == 90  # the quietest non-zero 16-bit signal


@pytest.mark.parametrize("level", [0, 20, 40, 90])
def test_rms_inverts_dbov(level):
    amplitude = rms(level)
    square = (np.tile([1, -1], 400) * amplitude).astype(np.int16)
    assert dbov(square) == level


def test_rms_range():
    assert rms(127) == 0.0
    with pytest.raises(ValueError, match=r"0\.\.127"):
        rms(128)
