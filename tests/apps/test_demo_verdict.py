"""The demo's checks on made-up records of a run: each one passes, and each one can fail."""

from __future__ import annotations

import io
import os
import re

import numpy as np

from sipperc.apps.demo_verdict import (
    Hearing,
    Presence,
    Rekey,
    Verdict,
    check_audio,
    check_exits,
    check_rekeys,
    check_roster,
    check_secrets,
)
from sipperc.media.resample import Resampler
from sipperc.media.wav_file import WavFileSink, read_wav
from tests.media.audio_checks import AUDIO

VOICES = {name: AUDIO / "voices" / f"{name}.wav" for name in ("alice", "bob", "carol")}


def record(path, pcm, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = WavFileSink(path, rate)
    sink.write(pcm)
    sink.close()


def voice(name, start=0, seconds=4.0):
    pcm, rate = read_wav(VOICES[name])
    return np.resize(np.roll(pcm, -start), int(seconds * rate))


def only(verdict):
    (_name, holds, lines), = verdict.checks
    return holds, lines


def test_hearing_needs_the_speaker_s_voice_and_no_one_else_s():
    assert Hearing("a", "b", 0.95, ("c", 0.3)).holds
    assert not Hearing("a", "b", 0.65, ("c", 0.1)).holds      # too unlike the voice
    assert not Hearing("a", "b", 0.9, ("c", 0.8)).holds       # as like someone else
    assert not Hearing("a", "b", 0.0, None).holds             # nothing recorded


def test_who_met_whom():
    alice = Presence("alice", 1.0, None)
    carol = Presence("carol", 2.0, 5.0)
    dave = Presence("dave", 6.0, None)
    assert alice.met(carol) and alice.met(dave) and not carol.met(dave)
    assert Presence("bob", None, None, refused="403").met(carol)  # expected, so checked
    assert carol.present_at(4.9) and not carol.present_at(5.0) and not carol.present_at(1.0)


def test_audio_holds_when_each_recording_is_its_speaker(tmp_path):
    presences = [Presence("alice", 0.0, None), Presence("bob", 0.0, None),
                 Presence("carol", 0.0, 3.0)]
    for listener in ("alice", "bob", "carol"):
        for speaker in ("alice", "bob", "carol"):
            if speaker != listener:
                record(tmp_path / listener / f"from-{speaker}.wav", voice(speaker, 5000))
    verdict = Verdict()
    check_audio(verdict, presences, VOICES, tmp_path)
    holds, lines = only(verdict)
    assert holds, lines
    assert lines[0].startswith("6 of 6 streams decrypted")


def test_audio_fails_for_silence_a_wrong_voice_a_missing_file_and_a_refusal(tmp_path):
    presences = [Presence("alice", 0.0, None), Presence("bob", 0.0, None),
                 Presence("carol", None, None, refused="403 not on the list")]
    record(tmp_path / "alice" / "from-bob.wav", voice("carol"))          # the wrong voice
    record(tmp_path / "bob" / "from-alice.wav", np.zeros(32000, np.int16))  # undecryptable
    verdict = Verdict()
    check_audio(verdict, presences, VOICES, tmp_path)
    holds, lines = only(verdict)
    assert not holds
    assert lines[0].startswith("0 of 6 streams") and "never in the room: carol" in lines[0]
    assert lines[3] == ("carol heard alice 0.00 (FAILED), bob 0.00 (FAILED) "
                        "[refused: 403 not on the list]")
    # A narrowband (8 kHz) recording of the right voice is still recognised.
    pcm = Resampler(16000, 8000).process(voice("bob", 7000))
    record(tmp_path / "alice" / "from-bob.wav", pcm, rate=8000)
    verdict = Verdict()
    check_audio(verdict, presences[:2], VOICES, tmp_path)
    assert re.fullmatch(r"alice heard bob (0\.9\d|1\.00)", only(verdict)[1][1])


def rekeyed(leaver_spis=(1, 2), carol_spis=(2, 3, 4)):
    presences = [Presence("alice", 0.0, None, spis=(1, 2, 3, 4)),
                 Presence("bob", 0.5, 5.0, spis=leaver_spis),
                 Presence("carol", 1.0, None, spis=carol_spis),
                 Presence("dave", 7.0, None, spis=(4,))]
    rekeys = [Rekey(0.1, 1, "first key", 1), Rekey(0.6, 2, "join", 2),
              Rekey(5.01, 3, "leave", 2), Rekey(7.02, 4, "join", 3)]
    return presences, rekeys


def test_rekeys_hold_when_everyone_present_installs_them_and_the_leaver_does_not():
    verdict = Verdict()
    check_rekeys(verdict, *rekeyed(), leaver="bob", newcomer="dave")
    holds, lines = only(verdict)
    assert holds, lines
    assert lines == ["leave of bob: new EKT key SPI 3, installed by 2 of 2 in the room; "
                     "bob (gone) never got it",
                     "join of dave: new EKT key SPI 4, installed by 3 of 3 in the room; "
                     "bob (gone) never got it"]


def test_rekeys_fail_when_the_leaver_gets_the_new_key_or_someone_misses_it():
    verdict = Verdict()
    check_rekeys(verdict, *rekeyed(leaver_spis=(1, 2, 3)), leaver="bob", newcomer="dave")
    assert not only(verdict)[0] and "bob (gone) got it too!" in only(verdict)[1][0]
    verdict = Verdict()
    check_rekeys(verdict, *rekeyed(carol_spis=(2, 4)), leaver="bob", newcomer="dave")
    assert not only(verdict)[0] and "(not carol)" in only(verdict)[1][0]
    presences, rekeys = rekeyed()
    verdict = Verdict()
    check_rekeys(verdict, presences, [r for r in rekeys if r.why != "leave"], leaver="bob",
                 newcomer="dave")
    assert not only(verdict)[0] and only(verdict)[1][0] == "leave of bob: no new EKT key for it"


def test_the_roster_must_show_the_leaver_then_end_with_who_is_in_the_room():
    rosters = [("Alice",), ("Alice", "Bob"), ("Alice",), ("Alice", "Carol")]
    good = Verdict()
    check_roster(good, rosters, watcher="alice", in_the_room=("Alice", "Carol"),
                 leaver="Bob", newcomer="Carol")
    assert only(good)[0]
    for changed in ([("Alice",), ("Alice", "Carol")],                  # never saw Bob
                    rosters[:-1],                                      # missed Carol
                    [*rosters, ("Alice", "Bob", "Carol")]):            # Bob back
        verdict = Verdict()
        check_roster(verdict, changed, watcher="alice", in_the_room=("Alice", "Carol"),
                     leaver="Bob", newcomer="Carol")
        assert not only(verdict)[0], changed
    verdict = Verdict()
    check_roster(verdict, [], watcher=None, in_the_room=("Alice",), leaver="Bob",
                 newcomer="Carol")
    assert not only(verdict)[0]


def test_secrets_in_a_log_fail_the_check_and_unreadable_memory_is_said(tmp_path):
    key = os.urandom(16)
    clean, dirty = tmp_path / "clean.log", tmp_path / "dirty.log"
    clean.write_text("key=<16 bytes>\n")
    dirty.write_text(f"leaked {key.hex()}\n")
    verdict = Verdict()
    check_secrets(verdict, {"alice EKT key 0": key}, {},
                  {"clean log": clean, "missing": tmp_path / "nothing"})
    assert only(verdict) == (True, [
        "1 end-to-end secrets of the run (EKT keys, shared salts, media keys, session keys, "
        "DTLS inner halves) searched for, raw, hex and base64:", "clean log (0 kB): none found"])
    verdict = Verdict()
    check_secrets(verdict, {"alice EKT key 0": key}, {"a process that is gone": 2 ** 22 + 7},
                  {"dirty log": dirty})
    holds, lines = only(verdict)
    assert not holds
    assert lines[1].startswith("a process that is gone memory: not searchable here")
    assert lines[2] == "dirty log (0 kB): FOUND alice EKT key 0"
    verdict = Verdict()
    check_secrets(verdict, {}, {}, {})
    assert not only(verdict)[0]  # nothing to look for proves nothing


def test_exits_and_the_printed_verdict():
    verdict = Verdict()
    assert not verdict.holds  # no checks: nothing shown
    check_exits(verdict, [("focus", 0), ("distributor", 0)])
    assert verdict.holds
    check_exits(verdict, [("keyserver", -9)])
    assert not verdict.holds
    out = io.StringIO()
    verdict.write(out)
    assert out.getvalue() == (
        "\nverdict:\n"
        "  [ok  ] servers  focus exited with 0, distributor exited with 0\n"
        "  [FAIL] servers  keyserver exited with -9\n"
        "FAIL: see the checks marked FAIL above\n")
    assert verdict.as_json()["holds"] is False
