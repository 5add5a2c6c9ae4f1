import os
import subprocess
import sys

from sipperc.media.sound_device import list_devices


def test_lists_devices_or_says_there_are_none():
    child = subprocess.run([sys.executable, "-m", "sipperc", "devices"], capture_output=True,
                           text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    out = child.stdout
    if list_devices():
        assert "index" in out
    else:
        assert "no sound cards found" in out and "--play FILE" in out


def test_lists_alsa_devices_by_name(tmp_path):
    (tmp_path / ".asoundrc").write_text('pcm.sipperc_test { type null }\n')
    child = subprocess.run([sys.executable, "-m", "sipperc", "devices"], capture_output=True,
                           text=True, timeout=60, check=False,
                           env={**os.environ, "HOME": str(tmp_path)})
    assert child.returncode == 0, child.stderr
    assert "sipperc_test (ALSA)" in child.stdout
