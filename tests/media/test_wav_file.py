import wave

import numpy as np
import pytest

from sipperc.media.audio_port import AudioFileError
from sipperc.media.wav_file import WavFileSink, WavFileSource, read_wav
from tests.media.audio_checks import AUDIO


def test_record_then_play_back(tmp_path):
    path = tmp_path / "out.wav"
    sink = WavFileSink(path, 16000)
    pcm = np.arange(-500, 500, dtype=np.int16)
    sink.write(pcm[:300])
    sink.write(pcm[300:])
    sink.close()
    source = WavFileSource(path)
    assert source.sample_rate == 16000 and source.duration == pytest.approx(1000 / 16000)
    assert np.array_equal(source.read(1000), pcm)
    assert source.exhausted
    assert not source.read(10).any()  # silence after the end


def test_loop_wraps_around(tmp_path):
    path = tmp_path / "short.wav"
    sink = WavFileSink(path, 8000)
    sink.write(np.array([1, 2, 3], dtype=np.int16))
    sink.close()
    source = WavFileSource(path, loop=True)
    assert list(source.read(7)) == [1, 2, 3, 1, 2, 3, 1]
    assert list(source.read(2)) == [2, 3]
    assert not source.exhausted


def test_stereo_is_mixed_to_mono(tmp_path):
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(np.array([100, 300, -100, -300], dtype="<i2").tobytes())
    pcm, rate = read_wav(path)
    assert rate == 8000 and list(pcm) == [200, -200]


def test_sample_files_are_there():
    for name, rate in [("speech-8k.wav", 8000), ("speech-16k.wav", 16000),
                       ("speech-48k.wav", 48000)]:
        pcm, found = read_wav(AUDIO / name)
        assert found == rate and len(pcm) > 9 * rate


def test_errors_name_the_file(tmp_path):
    with pytest.raises(AudioFileError, match="no such file"):
        WavFileSource(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file at all")
    with pytest.raises(AudioFileError, match=r"junk\.wav: not a readable WAV"):
        WavFileSource(junk)
    eight_bit = tmp_path / "8bit.wav"
    with wave.open(str(eight_bit), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(b"\x80" * 10)
    with pytest.raises(AudioFileError, match="8-bit"):
        WavFileSource(eight_bit)
    with pytest.raises(AudioFileError, match="cannot write"):
        WavFileSink(tmp_path / "no" / "such" / "dir.wav", 8000)
