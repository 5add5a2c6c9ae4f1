"""WAV files as audio sources and sinks (``--play FILE``, ``--record FILE``), via :mod:`wave`.

Only 16-bit PCM is read, which is what every telephony tool writes; stereo files are mixed down
to mono. A source can loop, which is how a test or a demo plays a short sample for minutes.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from sipperc.media.audio_port import AudioFileError
from sipperc.media.pcm import Pcm, silence


def read_wav(path: str | Path) -> tuple[Pcm, int]:
    """The whole of a 16-bit PCM WAV file as mono samples, and its sample rate."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except FileNotFoundError as exc:
        raise AudioFileError(f"{path}: no such file") from exc
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioFileError(f"{path}: not a readable WAV file ({exc})") from exc
    if width != 2:
        raise AudioFileError(f"{path}: {8 * width}-bit samples; sipperc plays 16-bit PCM WAV "
                             f"(convert with: sox {path} -b 16 out.wav)")
    samples = np.frombuffer(frames, dtype="<i2")
    if channels > 1:
        usable = len(samples) - len(samples) % channels
        mixed = samples[:usable].reshape(-1, channels).astype(np.int32).mean(axis=1)
        samples = np.rint(mixed).astype("<i2")
    return samples.astype(np.int16), rate


class WavFileSource:
    """Plays a WAV file once (then silence) or in a loop."""

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        self._pcm, self.sample_rate = read_wav(path)
        self._loop = loop and len(self._pcm) > 0
        self._position = 0

    @property
    def exhausted(self) -> bool:
        """True after the last sample of a file played once."""
        return not self._loop and self._position >= len(self._pcm)

    @property
    def duration(self) -> float:
        """Length of the file in seconds."""
        return len(self._pcm) / self.sample_rate

    def read(self, samples: int) -> Pcm:
        """The next ``samples`` samples."""
        if self._loop:
            index = (self._position + np.arange(samples)) % len(self._pcm)
            self._position = (self._position + samples) % len(self._pcm)
            out: Pcm = self._pcm[index]
            return out
        chunk = self._pcm[self._position:self._position + samples]
        self._position += len(chunk)
        if len(chunk) < samples:
            chunk = np.concatenate([chunk, silence(samples - len(chunk))])
        return chunk

    def close(self) -> None:
        """Nothing to release: the file was read whole."""


class WavFileSink:
    """Records to a mono 16-bit WAV file, written as it goes."""

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.path = Path(path)
        try:
            # Opened here, not by wave.open(): a failing wave.open(path) leaves a half-built
            # writer whose destructor raises.
            self._file = self.path.open("wb")
        except OSError as exc:
            raise AudioFileError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 (closed by close())
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self.samples_written = 0

    def write(self, pcm: Pcm) -> None:
        """Append ``pcm``."""
        self._wav.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
        self.samples_written += len(pcm)

    def close(self) -> None:
        """Finish the header and close the file."""
        self._wav.close()
        self._file.close()
