import numpy as np
import pytest

from sipperc.media.mixer import KNEE, Mixer, soft_clip
from sipperc.media.tone import ToneSource
from tests.media.audio_checks import tone_levels

RATE = 16000
FRAME = 320
TONES = {"alice": 440.0, "bob": 1000.0, "carol": 1700.0, "dave": 2900.0}


def frames_for(seconds=1.0):
    sources = {name: ToneSource(f, RATE, level=20) for name, f in TONES.items()}
    for _ in range(int(seconds * RATE / FRAME)):
        yield {name: source.read(FRAME) for name, source in sources.items()}


def test_mix_minus_each_output_holds_exactly_the_others_tones():
    mixer = Mixer(RATE, FRAME)
    outputs = {name: [] for name in TONES}
    for frames in frames_for():
        for name, pcm in mixer.mix_minus(frames).items():
            outputs[name].append(pcm)
    present = {}
    for name, parts in outputs.items():
        levels = tone_levels(np.concatenate(parts), RATE, list(TONES.values()))
        reference = max(levels.values())
        present[name] = {who for who, f in TONES.items() if levels[f] > reference / 10}
        own = levels[TONES[name]]
        assert own < reference / 1000, f"{name} hears itself"
        for who, f in TONES.items():
            if who != name:
                assert levels[f] == pytest.approx(reference, rel=0.05)  # unchanged level
    assert present == {name: set(TONES) - {name} for name in TONES}


def test_full_mix_and_per_source_gain():
    mixer = Mixer(RATE, FRAME)
    mixer.set_gain("bob", 0.0)
    mixer.set_gain_db("carol", -6.0)
    mixed = np.concatenate([mixer.mix(frames) for frames in frames_for()])
    levels = tone_levels(mixed, RATE, list(TONES.values()))
    assert levels[TONES["bob"]] < levels[TONES["alice"]] / 1000
    assert levels[TONES["carol"]] == pytest.approx(levels[TONES["alice"]] / 2, rel=0.05)
    assert levels[TONES["dave"]] == pytest.approx(levels[TONES["alice"]], rel=0.05)
    mixer.forget("bob")
    assert mixer.gain("bob") == 1.0


def test_loud_sources_are_soft_clipped_not_wrapped():
    mixer = Mixer(8000, 160)
    loud = {n: np.full(160, 20000, dtype=np.int16) for n in "abc"}
    out = mixer.mix(loud)
    assert (out > 24000).all() and (out <= 32767).all()  # squeezed, positive, no wrap-around
    quiet = {n: np.full(160, 3000, dtype=np.int16) for n in "abc"}
    assert (mixer.mix(quiet) == 9000).all()  # below the knee: exact sum


def test_soft_clip_is_monotonic_and_bounded():
    x = np.linspace(-200000, 200000, 20001, dtype=np.float32)
    y = soft_clip(x)
    assert np.all(np.diff(y) >= 0)
    assert np.abs(y).max() <= 32767.0
    below = np.abs(x) <= KNEE * 32767
    assert np.array_equal(y[below], x[below])


def test_empty_and_wrong_frame_length():
    mixer = Mixer(8000, 160)
    assert not mixer.mix({}).any() and mixer.mix_minus({}) == {}
    with pytest.raises(ValueError, match="160"):
        mixer.mix({"a": np.zeros(80, dtype=np.int16)})
    with pytest.raises(ValueError, match="gain"):
        mixer.set_gain("a", -1)
