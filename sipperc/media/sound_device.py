"""Sound cards through PortAudio (``sounddevice``): microphone sources and speaker sinks.

PortAudio calls us from its own thread, one block at a time; the reactor-clocked sender reads and
the receive path writes on the reactor's thread. A small locked FIFO sits between the two. The
sound card's crystal and the reactor's clock drift apart, so the FIFO is bounded: if it fills
past :data:`MAX_BACKLOG` the oldest audio is dropped, and an empty FIFO gives silence.

Devices are chosen by index or by (part of) their name, as ``sipperc devices`` lists them. On a
machine without a sound card every failure (PortAudio missing, no device, device busy, a name
that matches nothing) becomes :class:`AudioDeviceUnavailable` with a message that says what
exists and suggests ``--play FILE``/``--record FILE``: never a traceback.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from sipperc.media.audio_port import AudioDeviceUnavailable, AudioSink, AudioSource
from sipperc.media.pcm import Pcm, silence
from sipperc.media.resample import at_rate, sink_at_rate

MAX_BACKLOG = 0.2
"""Seconds of audio the FIFO holds before dropping the oldest (bounds drift and delay)."""

FLUSH_GRACE = 2.0
"""Seconds without progress after which closing a speaker stops waiting for its queue to play."""

NO_DEVICE_HINT = ("use --play FILE to send a WAV file instead of the microphone and "
                  "--record FILE to save what you hear")

Device = int | str | None
"""A device index, part of a device name, or None for the system default."""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One PortAudio device as ``sipperc devices`` lists it."""

    index: int
    name: str
    host_api: str
    input_channels: int
    output_channels: int
    default_sample_rate: int


def _portaudio() -> ModuleType:
    try:
        import sounddevice  # noqa: PLC0415 (loading PortAudio is slow and may fail: only on use)
    except OSError as exc:  # libportaudio2 not installed
        raise AudioDeviceUnavailable(
            f"PortAudio is not available ({exc}); {NO_DEVICE_HINT}") from exc
    module: ModuleType = sounddevice
    return module


def list_devices() -> list[DeviceInfo]:
    """Every PortAudio device on this machine (empty without a sound card)."""
    sd = _portaudio()
    apis = [api["name"] for api in sd.query_hostapis()]
    return [DeviceInfo(index, str(info["name"]), apis[info["hostapi"]],
                       int(info["max_input_channels"]), int(info["max_output_channels"]),
                       round(info["default_samplerate"]))
            for index, info in enumerate(sd.query_devices())]


def _resolve(device: Device, kind: str) -> DeviceInfo:
    devices = list_devices()
    channels = "input_channels" if kind == "input" else "output_channels"
    usable = [d for d in devices if getattr(d, channels) > 0]
    role = "microphone" if kind == "input" else "speaker"
    if not usable:
        raise AudioDeviceUnavailable(f"no sound card with a {role} was found on this machine; "
                                     f"{NO_DEVICE_HINT}")
    listing = ", ".join(f"{d.index}: {d.name}" for d in usable)
    if device is None:
        sd = _portaudio()
        default = sd.default.device[0 if kind == "input" else 1]
        match = [d for d in usable if d.index == default] or usable[:1]
    elif isinstance(device, int) or device.isdigit():
        match = [d for d in usable if d.index == int(device)]
    else:
        match = [d for d in usable if device.lower() in d.name.lower()]
    if len(match) != 1:
        what = "matches several" if match else "matches no"
        raise AudioDeviceUnavailable(f"{role} {device!r} {what} {kind} device "
                                     f"(available: {listing}); {NO_DEVICE_HINT}")
    return match[0]


class _Fifo:
    """Samples handed between PortAudio's thread and the reactor's, bounded in length."""

    def __init__(self, limit: int) -> None:
        self._blocks: deque[Pcm] = deque()
        self._length = 0
        self._limit = limit
        self._lock = threading.Lock()
        self._emptied = threading.Condition(self._lock)
        self.dropped = 0

    def __len__(self) -> int:
        return self._length

    def wait_until_empty(self, timeout: float) -> bool:
        """Block until every sample put has been taken, or ``timeout`` seconds; True if empty."""
        with self._emptied:
            return self._emptied.wait_for(lambda: not self._blocks, timeout)

    def put(self, pcm: Pcm) -> None:
        with self._lock:
            self._blocks.append(pcm)
            self._length += len(pcm)
            while self._length > self._limit and self._blocks:
                old = self._blocks.popleft()
                self._length -= len(old)
                self.dropped += len(old)

    def take(self, samples: int) -> Pcm:
        """Up to ``samples`` samples, padded with silence to exactly that many."""
        parts: list[Pcm] = []
        wanted = samples
        with self._lock:
            while wanted and self._blocks:
                block = self._blocks.popleft()
                if len(block) > wanted:
                    self._blocks.appendleft(block[wanted:])
                    block = block[:wanted]
                parts.append(block)
                wanted -= len(block)
                self._length -= len(block)
            if not self._blocks:
                self._emptied.notify_all()
        if wanted:
            parts.append(silence(wanted))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


class SoundDeviceSource:
    """A microphone at the device's own rate (wrap with :func:`open_input` for another)."""

    exhausted = False

    def __init__(self, info: DeviceInfo, sample_rate: int, block: int) -> None:
        sd = _portaudio()
        self.info = info
        self.sample_rate = sample_rate
        self._fifo = _Fifo(round(MAX_BACKLOG * sample_rate))
        try:
            self._stream = sd.InputStream(device=info.index, samplerate=sample_rate, channels=1,
                                          dtype="int16", blocksize=block,
                                          callback=self._captured)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioDeviceUnavailable(f"cannot open microphone {info.name!r} at "
                                         f"{sample_rate} Hz ({exc}); {NO_DEVICE_HINT}") from exc

    def _captured(self, data: Any, frames: int, time: Any, status: Any) -> None:
        self._fifo.put(data[:, 0].copy())

    def read(self, samples: int) -> Pcm:
        """The oldest ``samples`` captured samples (silence if the card is behind)."""
        return self._fifo.take(samples)

    @property
    def queued(self) -> int:
        """Samples captured and not read yet (at most :data:`MAX_BACKLOG` seconds' worth)."""
        return len(self._fifo)

    def close(self) -> None:
        """Stop capturing."""
        self._stream.close()


class SoundDeviceSink:
    """A speaker at the device's own rate (wrap with :func:`open_output` for another)."""

    def __init__(self, info: DeviceInfo, sample_rate: int, block: int) -> None:
        sd = _portaudio()
        self.info = info
        self.sample_rate = sample_rate
        self._fifo = _Fifo(round(MAX_BACKLOG * sample_rate))
        try:
            self._stream = sd.OutputStream(device=info.index, samplerate=sample_rate, channels=1,
                                           dtype="int16", blocksize=block,
                                           callback=self._playing)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioDeviceUnavailable(f"cannot open speaker {info.name!r} at "
                                         f"{sample_rate} Hz ({exc}); {NO_DEVICE_HINT}") from exc

    def _playing(self, out: Any, frames: int, time: Any, status: Any) -> None:
        out[:, 0] = self._fifo.take(frames)

    def write(self, pcm: Pcm) -> None:
        """Queue ``pcm`` for playing."""
        self._fifo.put(np.asarray(pcm, dtype=np.int16))

    @property
    def queued(self) -> int:
        """Samples written and not yet handed to the card."""
        return len(self._fifo)

    def close(self) -> None:
        """Play what is still queued, then release the card (the :class:`AudioSink` contract).

        At most :data:`MAX_BACKLOG` seconds of audio are queued; the wait goes on while the card
        takes it, however slowly, and ends after :data:`FLUSH_GRACE` seconds without progress,
        so a card that stopped pulling cannot hang a hang-up.
        """
        remaining = len(self._fifo)
        while not self._fifo.wait_until_empty(FLUSH_GRACE) and len(self._fifo) < remaining:
            remaining = len(self._fifo)
        self._stream.stop()  # PortAudio plays out its own buffers before it returns
        self._stream.close()


def _device_rate(info: DeviceInfo, wanted: int, kind: str) -> int:
    # Prefer the codec's rate when the device takes it (no conversion); else its own default.
    sd = _portaudio()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=info.index, samplerate=wanted, channels=1, dtype="int16")
    except (sd.PortAudioError, ValueError):
        return info.default_sample_rate
    return wanted


def open_input(device: Device, sample_rate: int, frame: float = 0.02) -> AudioSource:
    """A microphone giving audio at ``sample_rate`` (converted if the card cannot)."""
    info = _resolve(device, "input")
    rate = _device_rate(info, sample_rate, "input")
    return at_rate(SoundDeviceSource(info, rate, round(frame * rate)), sample_rate)


def open_output(device: Device, sample_rate: int, frame: float = 0.02) -> AudioSink:
    """A speaker taking audio at ``sample_rate`` (converted if the card cannot)."""
    info = _resolve(device, "output")
    rate = _device_rate(info, sample_rate, "output")
    return sink_at_rate(SoundDeviceSink(info, rate, round(frame * rate)), sample_rate)
