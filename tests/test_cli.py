import subprocess
import sys

import pytest

from sipperc import __version__, cli
from sipperc.apps import devices
from sipperc.cli import ExitCode, main
from sipperc.media.audio_port import AudioDeviceUnavailable, AudioFileError


def test_help_explains_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "PERC" in out and "exit status" in out and "78" in out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"sipperc {__version__}"


def test_bad_option_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--log-level", "chatty"])
    assert info.value.code == ExitCode.USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "sipperc", "--version"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and __version__ in result.stdout


@pytest.fixture
def no_global_logging(monkeypatch):
    # main() starts Twisted's global logging on the current stderr; under capsys that stream
    # is closed after the test and would break every later test that logs.
    monkeypatch.setattr(cli, "start_logging", lambda *args: None)


def test_missing_sound_card_exits_unavailable(capsys, monkeypatch, no_global_logging):
    def no_card(args):
        raise AudioDeviceUnavailable("no sound card with a microphone was found; use --play FILE")

    monkeypatch.setattr(devices, "run", no_card)
    assert main(["devices"]) == ExitCode.UNAVAILABLE
    assert "use --play FILE" in capsys.readouterr().err


def test_bad_audio_file_exits_data(capsys, monkeypatch, no_global_logging):
    def bad_file(args):
        raise AudioFileError("x.wav: 8-bit samples; sipperc plays 16-bit PCM WAV")

    monkeypatch.setattr(devices, "run", bad_file)
    assert main(["devices"]) == ExitCode.DATA
    assert "x.wav" in capsys.readouterr().err
