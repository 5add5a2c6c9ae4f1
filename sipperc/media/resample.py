"""Sample-rate conversion where a device and a codec disagree: a polyphase windowed-sinc filter.

A sound card runs at 44.1 or 48 kHz, G.711 at 8 kHz, G.722 at 16 kHz: a source or sink at one
rate is wrapped to look like it runs at another. The converter is the textbook rational one
(upsample by L, low-pass, downsample by M) computed in polyphase form: each output sample is one
dot product of :data:`TAPS` input samples with one phase of a Kaiser-windowed sinc. It keeps the
last input samples between frames, so frame boundaries leave no clicks, and its delay is half the
filter (2 ms at 8 kHz). Libraries such as libsoxr buffer 30-130 ms internally in their
streaming mode, which a phone call cannot afford.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import numpy.typing as npt

from sipperc.media.audio_port import AudioSink, AudioSource
from sipperc.media.pcm import Pcm, saturate, silence

TAPS = 32
"""Input samples per output sample (filter length per phase): about 80 dB of stop band."""
KAISER_BETA = 8.6
PASS_BAND = 0.92
"""Fraction of the lower Nyquist frequency kept flat; the rest is the transition band."""


class Resampler:
    """Streaming conversion of one mono int16 stream from ``in_rate`` to ``out_rate``."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, not {in_rate} and {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        common = gcd(in_rate, out_rate)
        self._up, self._down = out_rate // common, in_rate // common
        length = TAPS * self._up
        cutoff = PASS_BAND * 0.5 / max(self._up, self._down)  # cycles per upsampled sample
        n = np.arange(length) - (length - 1) / 2
        prototype = (2 * cutoff * self._up * np.sinc(2 * cutoff * n)
                     * np.kaiser(length, KAISER_BETA))
        # _phases[p, k] = prototype[k * L + p]: phase p's taps, newest input first.
        self._phases: npt.NDArray[np.float64] = prototype.reshape(TAPS, self._up).T.copy()
        self._history: npt.NDArray[np.float64] = np.zeros(TAPS - 1)
        self._position = (TAPS - 1) * self._up  # next output, in upsampled samples from _history[0]
        self._offsets = np.arange(TAPS)

    def process(self, pcm: Pcm) -> Pcm:
        """Converted samples for ``pcm``: ``len(pcm) * out_rate / in_rate`` of them, ±1."""
        signal = np.concatenate([self._history, np.asarray(pcm, dtype=np.float64)])
        positions = np.arange(self._position, len(signal) * self._up, self._down)
        newest = positions // self._up
        window = signal[newest[:, None] - self._offsets[None, :]]
        out = np.einsum("ij,ij->i", window, self._phases[positions % self._up])
        consumed = len(signal) - (TAPS - 1)
        self._history = signal[consumed:]
        end = positions[-1] + self._down if len(positions) else self._position
        self._position = end - consumed * self._up
        return saturate(out)

    def flush(self) -> Pcm:
        """The samples still inside the filter at the end of a stream (its delay's worth)."""
        return self.process(silence(TAPS // 2))


class ResamplingSource:
    """``source`` converted to ``sample_rate``."""

    def __init__(self, source: AudioSource, sample_rate: int) -> None:
        self.source = source
        self.sample_rate = sample_rate
        self._resampler = Resampler(source.sample_rate, sample_rate)
        self._pending = silence(0)
        self._flushed = False

    @property
    def exhausted(self) -> bool:
        """True when the wrapped source is done and nothing converted is left."""
        return self.source.exhausted and len(self._pending) == 0

    def read(self, samples: int) -> Pcm:
        """Exactly ``samples`` converted samples."""
        while len(self._pending) < samples:
            wanted = samples - len(self._pending)
            ask = max(1, -(-wanted * self.source.sample_rate // self.sample_rate))
            if self.source.exhausted:
                tail = silence(0) if self._flushed else self._resampler.flush()
                self._flushed = True
                self._pending = np.concatenate([self._pending, tail, silence(wanted)])
                break
            self._pending = np.concatenate([self._pending,
                                            self._resampler.process(self.source.read(ask))])
        out, self._pending = self._pending[:samples], self._pending[samples:]
        return out

    def close(self) -> None:
        """Close the wrapped source."""
        self.source.close()


class ResamplingSink:
    """``sink`` fed at ``sample_rate``."""

    def __init__(self, sink: AudioSink, sample_rate: int) -> None:
        self.sink = sink
        self.sample_rate = sample_rate
        self._resampler = Resampler(sample_rate, sink.sample_rate)

    def write(self, pcm: Pcm) -> None:
        """Convert and pass on ``pcm``."""
        converted = self._resampler.process(pcm)
        if len(converted):
            self.sink.write(converted)

    def close(self) -> None:
        """Flush the filter into the sink and close it."""
        tail = self._resampler.flush()
        if len(tail):
            self.sink.write(tail)
        self.sink.close()


def at_rate(source: AudioSource, sample_rate: int) -> AudioSource:
    """``source`` itself if it already runs at ``sample_rate``, else a converting wrapper."""
    return source if source.sample_rate == sample_rate else ResamplingSource(source, sample_rate)


def sink_at_rate(sink: AudioSink, sample_rate: int) -> AudioSink:
    """``sink`` itself if it already runs at ``sample_rate``, else a converting wrapper."""
    return sink if sink.sample_rate == sample_rate else ResamplingSink(sink, sample_rate)
