"""Recognising a voice in a recording: the measure ``sipperc demo``'s verdict rests on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.media.codecs.g711 import G711
from sipperc.media.resample import Resampler
from sipperc.media.voice_match import LoopedVoice, voice_match
from sipperc.media.wav_file import read_wav
from tests.media.audio_checks import AUDIO

NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")


def voice(name, rate=8000):
    pcm, source_rate = read_wav(AUDIO / "voices" / f"{name}.wav")
    assert source_rate == 16000
    return Resampler(source_rate, rate).process(pcm)


def looped_from(source, start, samples):
    return np.resize(np.roll(source, -start), samples)


def test_a_voice_heard_through_g711_from_anywhere_in_its_loop_matches_itself_only():
    voices = {name: LoopedVoice(voice(name), 8000) for name in NAMES}
    bob = voice("bob")
    heard = np.concatenate([np.zeros(1200, dtype=np.int16),
                            looped_from(bob, 12345, 8000 * 9)])
    pcmu = G711("PCMU")
    heard = pcmu.decode(pcmu.encode(heard))
    scores = {name: v.match(heard) for name, v in voices.items()}
    assert scores["bob"] > 0.95
    assert max(s for name, s in scores.items() if name != "bob") < 0.5


def test_silence_and_short_recordings_score_nothing():
    alice = LoopedVoice(voice("alice"), 8000)
    assert alice.match(np.zeros(8000 * 3, dtype=np.int16)) == 0.0
    assert alice.match(voice("alice")[:100]) == 0.0
    rng = np.random.default_rng(1)
    assert alice.match(rng.normal(0, 3000, 8000 * 3)) < 0.2
    with pytest.raises(ValueError, match="shorter than the window"):
        LoopedVoice(np.ones(100), 8000)


@settings(max_examples=20, deadline=None)
@given(gain=st.floats(0.2, 1.0), start=st.integers(0, 40000))
def test_the_score_ignores_gain_and_where_the_loop_was_joined(gain, start):
    carol = voice("carol")
    heard = (looped_from(carol, start, 8000 * 4) * gain).astype(np.int16)
    assert voice_match(heard, carol, 8000) > 0.99
