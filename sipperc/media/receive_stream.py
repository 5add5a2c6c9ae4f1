"""The receive path of one remote source: jitter buffer, decoding, concealment, CN and DTMF.

Packets go in as they arrive (:meth:`ReceiveStream.receive`); exactly one frame of PCM at the
output rate comes out per playout tick (:meth:`ReceiveStream.read`), whatever the network did:
lost frames are concealed (Opus FEC/PLC, waveform substitution for G.711/G.722), intentional
silence is filled with RFC 3389 comfort noise when the sender described it, and packets of a
different length than our tick are cut and joined through a small FIFO. Telephone events go
around the buffer: they are reported as they arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sipperc.media.codecs.audio_codec import AudioCodec, CodecError
from sipperc.media.codecs.comfort_noise import ComfortNoise
from sipperc.media.codecs.telephone_event import TelephoneEvent, TelephoneEventReceiver
from sipperc.media.jitter_buffer import (
    BufferedPacket,
    JitterBuffer,
    JitterBufferStatistics,
    Playout,
    PlayoutKind,
)
from sipperc.media.pcm import Pcm, silence
from sipperc.media.resample import Resampler


@dataclass(frozen=True, slots=True)
class PayloadTypes:
    """What each payload type number of a negotiated session means, for one receiver.

    ``audio`` maps payload types to fresh codec instances (one per stream: codecs keep state);
    ``telephone_event`` and ``comfort_noise`` are the numbers of those formats, if negotiated.
    """

    audio: Mapping[int, AudioCodec]
    telephone_event: int | None = None
    comfort_noise: int | None = None


@dataclass(frozen=True, slots=True)
class PlayoutStatistics:
    """What the listener got from one stream: frames by kind, and the buffer's counters."""

    frames_decoded: int
    frames_concealed: int
    frames_fec: int
    frames_comfort_noise: int
    decode_errors: int
    buffer: JitterBufferStatistics


class ReceiveStream:
    """Everything between one source's packets and its PCM, one frame per tick."""

    def __init__(self, payload_types: PayloadTypes, sample_rate: int, ptime: float = 0.02,
                 *, min_delay: float = 0.04, max_delay: float = 0.5) -> None:
        if not payload_types.audio:
            raise ValueError("a receive stream needs at least one audio payload type")
        self._types = payload_types
        self.sample_rate = sample_rate
        self.frame = round(sample_rate * ptime)
        primary = next(iter(payload_types.audio.values()))
        self._clock_rate = primary.clock_rate
        self._buffer = JitterBuffer(primary.clock_rate, round(primary.clock_rate * ptime),
                                    min_delay=min_delay, max_delay=max_delay,
                                    duration=self._ticks)
        self._codec = primary
        self._noise = ComfortNoise(primary.sample_rate)
        self._noise_on = False
        self._events = TelephoneEventReceiver(primary.clock_rate)
        self._resampler: Resampler | None = None
        self._pending: list[Pcm] = []
        self._pending_length = 0
        self._decoded = self._concealed = self._fec = self._comfort = self._errors = 0

    @property
    def jitter_buffer(self) -> JitterBuffer:
        """The stream's jitter buffer (for its delay and counters)."""
        return self._buffer

    def statistics(self) -> PlayoutStatistics:
        """Counters of what was played."""
        return PlayoutStatistics(self._decoded, self._concealed, self._fec, self._comfort,
                                 self._errors, self._buffer.statistics())

    def receive(self, packet: BufferedPacket, now: float) -> list[TelephoneEvent]:
        """Take one arrived packet; returns telephone events it carries."""
        if packet.payload_type == self._types.telephone_event:
            try:
                return self._events.receive(packet.timestamp, packet.payload)
            except CodecError:
                self._errors += 1
                return []
        if packet.payload_type in self._types.audio or packet.payload_type == \
                self._types.comfort_noise:
            self._buffer.push(packet, now)
        else:
            self._errors += 1  # a payload type that was not negotiated (RFC 3550 §5.1)
        return []

    def read(self, now: float) -> Pcm:
        """Exactly one frame (``ptime`` at ``sample_rate``) of what to play now."""
        while self._pending_length < self.frame:
            playout = self._buffer.pop(now)
            if playout is None:
                missing = self.frame - self._pending_length
                samples = -(-missing * self._codec.sample_rate // self.sample_rate)
                self._queue(self._silence(samples), self._codec)
            else:
                self._play(playout)
        joined = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        out, rest = joined[:self.frame], joined[self.frame:]
        self._pending = [rest] if len(rest) else []
        self._pending_length = len(rest)
        return out

    def _play(self, playout: Playout) -> None:
        packet = playout.packet
        if playout.kind is PlayoutKind.AUDIO and packet is not None:
            if packet.payload_type == self._types.comfort_noise:
                self._comfort_noise(packet.payload)
                samples = self._samples(playout.ticks, self._codec)
                self._queue(self._noise.generate(samples), self._codec)
                self._comfort += 1
                return
            codec = self._types.audio[packet.payload_type]
            self._codec = codec
            self._noise_on = False
            try:
                self._queue(codec.decode(packet.payload), codec)
                self._decoded += 1
                return
            except CodecError:
                self._errors += 1
            self._queue(codec.conceal(self._samples(playout.ticks, codec)), codec)
            self._concealed += 1
            return
        samples = self._samples(playout.ticks, self._codec)
        if playout.kind is PlayoutKind.SILENCE:
            self._queue(self._silence(samples), self._codec)
            return
        following = playout.following
        fec = (following.payload if following is not None
               and self._types.audio.get(following.payload_type) is self._codec else None)
        self._queue(self._codec.conceal(samples, fec), self._codec)
        self._concealed += 1
        if fec is not None and self._codec.name == "opus":
            self._fec += 1

    def _comfort_noise(self, payload: bytes) -> None:
        try:
            self._noise.update(payload)
            self._noise_on = True
        except CodecError:
            self._errors += 1

    def _silence(self, samples: int) -> Pcm:
        if self._noise_on:
            self._comfort += 1
            return self._noise.generate(samples)
        return silence(samples)

    def _samples(self, ticks: int, codec: AudioCodec) -> int:
        return ticks * codec.sample_rate // codec.clock_rate

    def _ticks(self, packet: BufferedPacket) -> int:
        codec = self._types.audio.get(packet.payload_type)
        if codec is None:  # comfort noise: lasts until the next packet
            return self._buffer.frame_ticks
        try:
            return codec.duration(packet.payload)
        except CodecError:
            return self._buffer.frame_ticks

    def _queue(self, pcm: Pcm, codec: AudioCodec) -> None:
        if codec.sample_rate != self.sample_rate:
            if self._resampler is None or self._resampler.in_rate != codec.sample_rate:
                self._resampler = Resampler(codec.sample_rate, self.sample_rate)
            pcm = self._resampler.process(pcm)
        self._pending.append(pcm)
        self._pending_length += len(pcm)
