import numpy as np

from sipperc.media.null_device import NullSink
from sipperc.media.resample import TAPS, Resampler, ResamplingSink, ResamplingSource, at_rate
from sipperc.media.tone import ToneSource
from sipperc.media.wav_file import WavFileSink, WavFileSource
from tests.media.audio_checks import tone_levels


def test_source_up_converted_keeps_the_tone_and_exact_frame_sizes():
    source = ResamplingSource(ToneSource(1000, 8000), 48000)
    frames = [source.read(960) for _ in range(50)]
    assert {len(f) for f in frames} == {960}
    pcm = np.concatenate(frames[5:])
    levels = tone_levels(pcm, 48000, [1000, 7000])
    assert levels[1000] > 3000 and levels[7000] < levels[1000] / 300


def test_down_conversion_removes_what_the_lower_rate_cannot_carry():
    resampler = Resampler(48000, 8000)
    source = ToneSource([500, 6000], 48000)
    out = np.concatenate([resampler.process(source.read(960)) for _ in range(50)])
    assert len(out) == 8000  # no internal buffering: 20 ms in, 20 ms out
    levels = tone_levels(out[800:], 8000, [500])
    assert levels[500] > 3000
    assert np.abs(np.fft.rfft(out[800:].astype(float)))[3500:].max() < levels[500]


def test_same_rate_is_not_wrapped():
    tone = ToneSource(440, 16000)
    assert at_rate(tone, 16000) is tone


def test_finite_source_ends(tmp_path):
    path = tmp_path / "a.wav"
    sink = WavFileSink(path, 8000)
    sink.write(ToneSource(300, 8000).read(800))
    sink.close()
    source = ResamplingSource(WavFileSource(path), 16000)
    total = sum(np.count_nonzero(source.read(320)) > 0 for _ in range(10))
    assert 4 <= total <= 6 and source.exhausted


def test_sink_conversion_flushes_on_close():
    target = NullSink(48000)
    sink = ResamplingSink(target, 8000)
    for _ in range(50):
        sink.write(ToneSource(440, 8000).read(160))
    sink.close()
    # Every input sample comes out, plus the filter's delay (half of TAPS input samples).
    assert target.samples_written == 48000 + TAPS // 2 * 6


def test_44100_to_16000_frame_sizes_add_up():
    resampler = Resampler(44100, 16000)
    total = sum(len(resampler.process(ToneSource(440, 44100).read(882))) for _ in range(100))
    assert total == 32000


def test_delay_is_half_the_filter():
    resampler = Resampler(16000, 16000 * 3)
    impulse = np.zeros(320, dtype=np.int16)
    impulse[0] = 30000
    out = resampler.process(impulse)
    assert abs(int(np.argmax(out)) - TAPS // 2 * 3) <= 3
