"""The receive path for many simultaneous sources: one stream per remote participant, mixed.

A PERC conference delivers every other participant's media as its own SSRC through the Media
Distributor (RFC 8871 §3), so an endpoint decodes and mixes N streams itself. Each SSRC gets a
:class:`~sipperc.media.receive_stream.ReceiveStream` on its first packet; each playout tick
reads one frame from every stream, feeds the active-speaker detector and mixes. A source that
sends RTCP BYE, or nothing for ``timeout`` seconds, is dropped (RFC 3550 §6.3.4, §6.3.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sipperc.media.active_speaker import ActiveSpeakerDetector, SpeakerState
from sipperc.media.codecs.telephone_event import TelephoneEvent
from sipperc.media.jitter_buffer import BufferedPacket
from sipperc.media.level import dbov
from sipperc.media.mixer import Mixer
from sipperc.media.pcm import Pcm
from sipperc.media.receive_stream import PayloadTypes, ReceiveStream

SOURCE_TIMEOUT = 30.0
"""Seconds without packets after which a source is forgotten (a missed BYE)."""


@dataclass(frozen=True, slots=True)
class SourceLevel:
    """An RFC 6464 client-to-mixer level as the header extension carried it."""

    level: int  # -dBov, 0..127
    voice: bool | None


class ConferenceReceiver:
    """Every remote source of one call or conference, decoded and mixed for one listener."""

    def __init__(self, payload_types: Callable[[], PayloadTypes], sample_rate: int,
                 ptime: float = 0.02, *, speakers: ActiveSpeakerDetector | None = None,
                 timeout: float = SOURCE_TIMEOUT) -> None:
        self._new_payload_types = payload_types
        self.sample_rate = sample_rate
        self.ptime = ptime
        self.frame = round(sample_rate * ptime)
        self.mixer = Mixer(sample_rate, self.frame)
        self.speakers = speakers or ActiveSpeakerDetector()
        self.timeout = timeout
        self._streams: dict[int, ReceiveStream] = {}
        self._last_heard: dict[int, float] = {}
        self._levels_from_header: set[int] = set()

    @property
    def streams(self) -> dict[int, ReceiveStream]:
        """The live streams by SSRC."""
        return self._streams

    def receive(self, ssrc: int, packet: BufferedPacket, now: float,
                level: SourceLevel | None = None) -> list[TelephoneEvent]:
        """Route one packet to its source's stream (created on the source's first packet)."""
        stream = self._streams.get(ssrc)
        if stream is None:
            stream = self._streams[ssrc] = ReceiveStream(self._new_payload_types(),
                                                         self.sample_rate, self.ptime)
        self._last_heard[ssrc] = now
        if level is not None:
            self._levels_from_header.add(ssrc)
            self.speakers.update(ssrc, level.level, now, level.voice)
        return stream.receive(packet, now)

    def remove(self, ssrc: int) -> None:
        """Forget a source (RTCP BYE, or the signalling said it left)."""
        self._streams.pop(ssrc, None)
        self._last_heard.pop(ssrc, None)
        self._levels_from_header.discard(ssrc)
        self.mixer.forget(ssrc)
        self.speakers.forget(ssrc)

    def read_each(self, now: float) -> dict[int, Pcm]:
        """One frame from every source (what a mix-minus bridge needs)."""
        for ssrc in [s for s, t in self._last_heard.items() if now - t > self.timeout]:
            self.remove(ssrc)
        frames = {ssrc: stream.read(now) for ssrc, stream in self._streams.items()}
        for ssrc, pcm in frames.items():
            if ssrc not in self._levels_from_header:
                self.speakers.update(ssrc, dbov(pcm), now)
        return frames

    def read(self, now: float) -> Pcm:
        """One frame of everyone mixed: what the listener's speaker plays."""
        return self.mixer.mix(self.read_each(now))

    def speaking(self, now: float) -> SpeakerState:
        """Who is speaking now."""
        return self.speakers.state(now)
