import pytest

from sipperc.media.active_speaker import ActiveSpeakerDetector


def feed(detector, levels, start, seconds, step=0.02):
    t = start
    while t < start + seconds - 1e-9:
        for source, level in levels.items():
            detector.update(source, level, t)
        t += step
    return t


def test_threshold_and_loudest_first():
    detector = ActiveSpeakerDetector(threshold=50)
    now = feed(detector, {"a": 30, "b": 45, "c": 70}, 0.0, 1.0)
    state = detector.state(now)
    assert state.speaking == ("a", "b")  # c is below the threshold (background noise)
    assert state.dominant == "a"


def test_hangover_bridges_pauses_then_expires():
    detector = ActiveSpeakerDetector(threshold=50, hangover=0.5)
    now = feed(detector, {"a": 30}, 0.0, 1.0)
    now = feed(detector, {"a": 100}, now, 0.3)  # a pause between words
    assert detector.state(now).speaking == ("a",)
    now = feed(detector, {"a": 100}, now, 0.4)
    assert detector.state(now).speaking == ()
    assert detector.state(now).dominant is None


def test_voice_flag_overrides_level():
    detector = ActiveSpeakerDetector(threshold=50)
    for i in range(10):
        detector.update("fan", 20, i * 0.02, voice=False)  # loud, but the sender says no voice
    assert detector.state(0.2).speaking == ()


def test_dominant_switches_only_past_the_margin():
    detector = ActiveSpeakerDetector(threshold=60, switch_margin=6.0)
    now = feed(detector, {"a": 30, "b": 40}, 0.0, 1.0)
    assert detector.state(now).dominant == "a"
    now = feed(detector, {"a": 30, "b": 27}, now, 1.0)  # b slightly louder: no switch
    assert detector.state(now).dominant == "a"
    now = feed(detector, {"a": 30, "b": 18}, now, 1.0)  # b clearly louder
    assert detector.state(now).dominant == "b"
    detector.forget("b")
    assert detector.state(now).dominant == "a"


def test_bad_threshold():
    with pytest.raises(ValueError, match="dBov"):
        ActiveSpeakerDetector(threshold=200)
