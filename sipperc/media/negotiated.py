"""From the formats an SDP offer/answer settled on to the media objects that use them.

The SDP layer hands over the negotiated ``m=audio`` formats in the order of the answer, each
as a :class:`NegotiatedFormat` (``rtpmap`` name/clock/channels, the payload type we send with,
the one we receive with, and the peer's ``fmtp`` parameters): the fields of
``sipperc.sdp.codec.NegotiatedCodec``, which the application layer converts (media does not
import sdp). RFC 3264 §6.1 makes the first format of the answer the one to send, under the
peer's payload type number; every format both sides listed may arrive, under ours, so the
receive side decodes all of them. ``telephone-event`` is
used at the clock rate of the codec we send (RFC 4733 §2.1), ``CN`` for the 8 kHz codecs
(RFC 3389 §5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sipperc.media.codecs.audio_codec import AudioCodec, CodecError
from sipperc.media.codecs.registry import CODECS, COMFORT_NOISE, TELEPHONE_EVENT, CodecRegistry
from sipperc.media.receive_stream import PayloadTypes
from sipperc.media.send_stream import SendStream


@dataclass(frozen=True, slots=True)
class NegotiatedFormat:
    """One format of a negotiated ``m=`` line.

    ``payload_type`` is the number we send with (the peer's); ``receive_payload_type`` the one
    we receive with (ours), when it differs; ``fmtp`` the peer's parameters for this format.
    """

    payload_type: int
    encoding_name: str
    clock_rate: int
    channels: int = 1
    fmtp: Mapping[str, str] = field(default_factory=dict)
    receive_payload_type: int | None = None

    @property
    def incoming_payload_type(self) -> int:
        """The number this format arrives under."""
        return (self.payload_type if self.receive_payload_type is None
                else self.receive_payload_type)


class NegotiatedMedia:
    """The codecs of one negotiated audio stream; raises :class:`CodecError` if none is ours."""

    def __init__(self, formats: Sequence[NegotiatedFormat], ptime: float = 0.02,
                 registry: CodecRegistry = CODECS) -> None:
        self.ptime = ptime
        self._registry = registry
        audio = []
        for fmt in formats:
            try:
                known = registry.find(fmt.encoding_name, fmt.clock_rate, fmt.channels)
            except CodecError:
                continue  # a format we do not speak: the peer will not send it to us
            if known.is_audio:
                audio.append(fmt)
        if not audio:
            names = ", ".join(f"{f.encoding_name}/{f.clock_rate}" for f in formats) or "none"
            raise CodecError(f"no audio codec in common (negotiated: {names})")
        self.send_format = audio[0]
        self.receive_formats = tuple(audio)
        self.telephone_event = self._find(formats, TELEPHONE_EVENT, self.send_format.clock_rate)
        self.comfort_noise = self._find(formats, COMFORT_NOISE, 8000)

    @staticmethod
    def _find(formats: Sequence[NegotiatedFormat], name: str,
              clock_rate: int) -> NegotiatedFormat | None:
        for fmt in formats:
            if fmt.encoding_name.lower() == name.lower() and fmt.clock_rate == clock_rate:
                return fmt
        return None

    def _codec(self, fmt: NegotiatedFormat) -> AudioCodec:
        return self._registry.create(fmt.encoding_name, fmt.clock_rate, fmt.channels, fmt.fmtp)

    def send_stream(self) -> SendStream:
        """Our outgoing stream: the answer's first format, DTMF if negotiated."""
        events = self.telephone_event
        return SendStream(self._codec(self.send_format), self.send_format.payload_type,
                          self.ptime, telephone_event=events.payload_type if events else None)

    def payload_types(self) -> PayloadTypes:
        """Fresh decoders for every format the peer may send (one set per remote source)."""
        events, noise = self.telephone_event, self.comfort_noise
        return PayloadTypes(
            {f.incoming_payload_type: self._codec(f) for f in self.receive_formats},
            telephone_event=events.incoming_payload_type if events else None,
            comfort_noise=noise.incoming_payload_type if noise else None)
