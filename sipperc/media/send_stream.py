"""The send path of one RTP stream: frames of PCM in, RTP packet contents out (sans-I/O).

Per frame (``ptime`` of audio) the stream encodes with the negotiated codec and returns what the
RTP header must say: sequence number and timestamp (both starting at random values, RFC 3550
§5.1), the marker bit on the first packet of a talkspurt (RFC 3551 §4.1: the first packet, and
the first after a silence in which nothing was sent), and the RFC 6464 audio level with its
voice-activity flag, which goes out in a header extension on every packet so a Media Distributor
can pick speakers without decrypting (RFC 6464 §1, RFC 8871 §4.3: the level is no secret worth
the trouble, the audio is). While a DTMF key plays, RFC 4733 event packets replace the audio.
The RTP timestamp advances with the sampling clock whether or not a packet is sent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sipperc.media.codecs.audio_codec import AudioCodec
from sipperc.media.codecs.telephone_event import TelephoneEventSender
from sipperc.media.level import dbov
from sipperc.media.pcm import Pcm

VOICE_LEVEL = 50
"""Frames at or above -50 dBov are flagged as voice in the RFC 6464 V bit."""


@dataclass(frozen=True, slots=True)
class OutgoingPacket:
    """What one RTP packet to send carries (the session adds SSRC, extensions, protection)."""

    payload_type: int
    sequence: int
    timestamp: int
    marker: bool
    payload: bytes
    level: int  # RFC 6464 -dBov
    voice: bool


class SendStream:
    """Encoder state and RTP numbering of one outgoing stream."""

    def __init__(self, codec: AudioCodec, payload_type: int, ptime: float = 0.02, *,
                 telephone_event: int | None = None, sequence: int | None = None,
                 timestamp: int | None = None) -> None:
        self.codec = codec
        self.payload_type = payload_type
        self.ptime = ptime
        self.frame = round(codec.sample_rate * ptime)
        self.frame_ticks = round(codec.clock_rate * ptime)
        self._sequence = secrets.randbelow(1 << 16) if sequence is None else sequence
        self._timestamp = secrets.randbelow(1 << 32) if timestamp is None else timestamp
        self._telephone_event = telephone_event
        self._events = TelephoneEventSender(codec.clock_rate, self.frame_ticks)
        self._talking = False
        self.packets_sent = 0
        self.octets_sent = 0
        self.last_timestamp = self._timestamp

    @property
    def timestamp(self) -> int:
        """The RTP timestamp the next frame will carry."""
        return self._timestamp

    def queue_dtmf(self, keys: str, duration: float = 0.1, gap: float = 0.05) -> None:
        """Send DTMF keys as RFC 4733 events (needs ``telephone-event`` negotiated)."""
        if self._telephone_event is None:
            raise ValueError("telephone-event was not negotiated for this stream")
        self._events.queue(keys, duration, gap)

    def send_frame(self, pcm: Pcm) -> list[OutgoingPacket]:
        """Encode one frame; the packets to send for it (none during DTX silence)."""
        if len(pcm) != self.frame:
            raise ValueError(f"a frame is {self.frame} samples at {self.codec.sample_rate} Hz, "
                             f"got {len(pcm)}")
        level = dbov(pcm)
        voice = level <= VOICE_LEVEL
        timestamp = self._timestamp
        self._timestamp = (self._timestamp + self.frame_ticks) & 0xFFFFFFFF
        events = self._events.next_packets(timestamp) if self._telephone_event is not None \
            else None
        if events is not None:
            assert self._telephone_event is not None
            self._talking = True
            return [self._packet(self._telephone_event, e.timestamp, e.marker, e.payload,
                                 level=level, voice=voice) for e in events]
        payload = self.codec.encode(pcm)
        if not payload:  # DTX: nothing to send; the next packet starts a talkspurt
            self._talking = False
            return []
        marker = not self._talking
        self._talking = True
        return [self._packet(self.payload_type, timestamp, marker, payload, level=level,
                             voice=voice)]

    def _packet(self, payload_type: int, timestamp: int, marker: bool, payload: bytes, *,
                level: int, voice: bool) -> OutgoingPacket:
        packet = OutgoingPacket(payload_type, self._sequence, timestamp, marker, payload, level,
                                voice)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        self.last_timestamp = timestamp
        return packet
