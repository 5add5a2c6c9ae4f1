"""Where audio comes from and goes to: the two interfaces every device and file implements.

A source is pulled and a sink is pushed, one frame at a time, by whoever keeps time (the clocked
sender of an RTP endpoint, or a test driving simulated time). Sources never block: a device that
has not captured enough yet, or a file that has ended, pads with silence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the CLI imports the exceptions below; numpy loads only when audio runs
    from sipperc.media.pcm import Pcm


class AudioDeviceUnavailable(Exception):  # noqa: N818 (it names the condition, as the CLI reports it)
    """The sound device asked for does not exist or cannot be opened.

    The message says what was asked for, what exists, and what to do instead; the CLI prints it
    and exits with ``ExitCode.UNAVAILABLE``.
    """


class AudioFileError(Exception):
    """An audio file that cannot be read or written (missing, not a WAV, not 16-bit PCM)."""


class AudioSource(Protocol):
    """Mono 16-bit audio at ``sample_rate``, read in frames."""

    @property
    def sample_rate(self) -> int:
        """Samples per second of what :meth:`read` returns."""
        ...

    @property
    def exhausted(self) -> bool:
        """True once a finite source (a file played once) has nothing left."""
        ...

    def read(self, samples: int) -> Pcm:
        """Exactly ``samples`` samples (silence where there is nothing to give)."""
        ...

    def close(self) -> None:
        """Release the device or file."""
        ...


class AudioSink(Protocol):
    """Mono 16-bit audio at ``sample_rate``, written in frames."""

    @property
    def sample_rate(self) -> int:
        """Samples per second that :meth:`write` expects."""
        ...

    def write(self, pcm: Pcm) -> None:
        """Play or store ``pcm``."""
        ...

    def close(self) -> None:
        """Flush and release the device or file."""
        ...
