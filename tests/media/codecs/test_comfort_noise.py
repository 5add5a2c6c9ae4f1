import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.media.codecs.audio_codec import CodecError
from sipperc.media.codecs.comfort_noise import ComfortNoise, reflection_to_lpc
from sipperc.media.level import dbov


def test_noise_at_the_requested_level():
    cn = ComfortNoise(8000, seed=1)
    cn.update(bytes([40]))
    assert dbov(cn.generate(1600)) == 40


def test_before_any_update_it_is_silent():
    assert not ComfortNoise(8000).generate(160).any()


def test_reflection_coefficients_colour_the_noise():
    white, coloured = ComfortNoise(8000, seed=2), ComfortNoise(8000, seed=2)
    white.update(bytes([30]))
    coloured.update(bytes([30, 127 + 115]))  # k1 = 0.9: a strong low-pass (or high-pass) tilt
    w = np.abs(np.fft.rfft(white.generate(8000).astype(float)))
    c = np.abs(np.fft.rfft(coloured.generate(8000).astype(float)))
    low, high = slice(0, 1000), slice(3000, 4000)
    tilt_coloured = abs(np.log(c[low].mean() / c[high].mean()))
    tilt_white = abs(np.log(w[low].mean() / w[high].mean()))
    assert tilt_coloured > tilt_white + 1
    assert dbov(coloured.generate(8000)) == 30  # still at the level asked for


def test_step_up_recursion():
    assert reflection_to_lpc([0.5]) == [0.5]
    assert reflection_to_lpc([0.5, 0.25]) == pytest.approx([0.5 + 0.25 * 0.5, 0.25])


@pytest.mark.parametrize("payload", [b"", bytes([128])])
def test_bad_payload(payload):
    with pytest.raises(CodecError):
        ComfortNoise().update(payload)


@given(st.binary(max_size=40))
def test_arbitrary_payloads_raise_only_codec_error(payload):
    cn = ComfortNoise(8000, seed=0)
    try:
        cn.update(payload)
    except CodecError:
        return
    noise = cn.generate(160)
    assert len(noise) == 160 and noise.dtype == np.int16
    if 10 <= payload[0] <= 80:  # louder clips at full scale, quieter drowns in 16-bit steps
        assert abs(dbov(noise) - payload[0]) <= 1
