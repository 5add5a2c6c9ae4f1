"""Sound devices through the real PortAudio, with ALSA's ``file`` plugin standing in for a card.

This machine has no sound card; an ``.asoundrc`` in a private HOME gives PortAudio two ALSA
devices backed by files (played audio lands in a raw file, captured audio comes from one), so the
whole sounddevice path runs for real in a child process.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sipperc.media.audio_port import AudioDeviceUnavailable
from sipperc.media.sound_device import NO_DEVICE_HINT, list_devices, open_input, open_output
from tests.media.audio_checks import tone, tone_levels

ASOUNDRC = """\
pcm.sipperc_speaker {{ type file slave.pcm "null" file "{out}" format "raw" }}
pcm.sipperc_mic {{ type file slave.pcm "null" infile "{mic}" file "/dev/null" format "raw" }}
"""

CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from sipperc.media.sound_device import list_devices, open_input, open_output
    from sipperc.media.tone import ToneSource
    from sipperc.media.audio_port import AudioDeviceUnavailable
    names = [d.name for d in list_devices()]
    speaker = open_output("sipperc_speaker", 8000)
    tone = ToneSource(300, 8000, level=10)
    for _ in range(10):  # 200 ms: what the FIFO holds
        speaker.write(tone.read(160))
    speaker.close()  # plays all of it first, however loaded the machine is
    mic = open_input("sipperc_mic", 8000)
    deadline = time.monotonic() + 30  # wait for the audio, not for a fixed time
    while mic.queued < 1600 and time.monotonic() < deadline:
        time.sleep(0.01)
    heard = mic.read(1600)
    mic.close()
    try:
        open_input("no such card", 8000)
        missing = ""
    except AudioDeviceUnavailable as exc:
        missing = str(exc)
    json.dump({"names": names, "heard": heard.tolist(), "missing": missing}, sys.stdout)
""")


@pytest.fixture
def alsa_home(tmp_path):
    (tmp_path / "mic.raw").write_bytes(tone(440, 8000, 16000).astype("=i2").tobytes())
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(out=tmp_path / "speaker.raw",
                                                        mic=tmp_path / "mic.raw"))
    return tmp_path


def test_play_and_capture_through_portaudio(alsa_home):
    env = {**os.environ, "HOME": str(alsa_home)}
    child = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert {"sipperc_speaker", "sipperc_mic"} <= set(result["names"])
    played = np.frombuffer((alsa_home / "speaker.raw").read_bytes(), dtype="=i2")
    # ALSA's null PCM does not pace playback, so PortAudio pulls far faster than we write and
    # pads with silence in between: the tone is there as every sample we wrote, in order (less
    # the few that are exactly zero).
    sounding = played[np.flatnonzero(played)]
    assert len(sounding) >= 1500
    assert tone_levels(sounding[:1500], 8000, [300])[300] > 1000
    heard = np.array(result["heard"], dtype=np.int16)
    levels = tone_levels(heard, 8000, [440, 1000])
    assert levels[440] > 4000 and levels[1000] < levels[440] / 50
    assert "no such card" in result["missing"] and "sipperc_mic" in result["missing"]
    assert "--play FILE" in result["missing"]


def test_no_sound_card_gives_a_clear_message():
    if any(d.input_channels for d in list_devices()):
        pytest.skip("this machine has a sound card")
    with pytest.raises(AudioDeviceUnavailable) as info:
        open_input(None, 8000)
    assert "no sound card" in str(info.value) and "--play FILE" in str(info.value)
    assert NO_DEVICE_HINT in str(info.value)
    if not any(d.output_channels for d in list_devices()):
        with pytest.raises(AudioDeviceUnavailable, match="--record FILE"):
            open_output(0, 8000)
