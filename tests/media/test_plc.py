import numpy as np

from sipperc.media.plc import WaveformSubstitution
from tests.media.audio_checks import tone, tone_levels


def feed(plc, signal, frame=160):
    for i in range(0, len(signal), frame):
        plc.remember(signal[i:i + frame])


def test_first_10ms_continue_the_pitch_then_fade_to_silence_by_60ms():
    plc = WaveformSubstitution(8000)
    feed(plc, tone(250, 8000, 800))  # period 32 samples
    first = plc.conceal(80)
    assert tone_levels(first, 8000, [250])[250] > 6000
    rest = np.concatenate([plc.conceal(80) for _ in range(6)])
    assert np.abs(rest[-80:]).max() == 0  # past 60 ms: silence, not a buzz
    assert np.abs(rest[:80]).max() > np.abs(rest[240:320]).max()


def test_substitution_is_phase_continuous():
    plc = WaveformSubstitution(8000)
    signal = tone(200, 8000, 1600)
    feed(plc, signal[:800])
    hidden = plc.conceal(40)
    # The concealment should track the real continuation closely over the first 5 ms.
    error = np.abs(hidden.astype(float) - signal[800:840]).mean()
    assert error < 800


def test_recovery_cross_fades_instead_of_clicking():
    plc = WaveformSubstitution(8000)
    signal = tone(200, 8000, 1600)
    feed(plc, signal[:800])
    plc.conceal(160)
    resumed = plc.remember(-signal[960:1120])  # the worst case: opposite phase
    assert plc.concealing is False
    assert np.abs(resumed[:4].astype(int)).max() < np.abs(signal).max()
    assert np.array_equal(resumed[40:], -signal[1000:1120])


def test_silence_history_conceals_with_silence():
    plc = WaveformSubstitution(16000)
    assert not plc.conceal(320).any()
