import numpy as np
import pytest

from sipperc.media.codecs.g722 import G722
from tests.media.audio_checks import snr, speech, tone, tone_levels


def test_speech_round_trip_snr():
    codec = G722()
    pcm = speech(16000)
    payloads = [codec.encode(pcm[i:i + 320]) for i in range(0, len(pcm) - 320, 320)]
    assert {len(p) for p in payloads} == {160}  # 20 ms = 160 bytes = 160 ticks of the 8 kHz clock
    assert codec.duration(payloads[0]) == 160
    out = np.concatenate([codec.decode(p) for p in payloads])
    assert len(out) == 320 * len(payloads)
    assert snr(pcm, out, max_lag=100) > 15.0


def test_wideband_tone_survives():
    # 6 kHz is above G.711's band: only a wideband codec carries it.
    codec = G722()
    signal = tone(6000, 16000, 16000)
    out = np.concatenate([codec.decode(codec.encode(signal[i:i + 320]))
                          for i in range(0, 16000, 320)])
    assert tone_levels(out[1600:], 16000, [6000])[6000] > 4000


def test_odd_sample_count_rejected():
    with pytest.raises(ValueError, match="even"):
        G722().encode(np.zeros(321, dtype=np.int16))


def test_loss_concealed():
    codec = G722()
    signal = tone(300, 16000, 3200)
    for i in range(0, 3200, 320):
        codec.decode(codec.encode(signal[i:i + 320]))
    assert np.abs(codec.conceal(320)).max() > 2000
