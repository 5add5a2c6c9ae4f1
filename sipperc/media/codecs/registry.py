"""Which RTP payload formats we speak, keyed the way SDP names them (RFC 4566 ``rtpmap``).

The SDP layer offers :meth:`CodecRegistry.formats` in preference order and, once an offer/answer
exchange has settled on a format, calls :meth:`CodecRegistry.create` with the negotiated encoding
name, clock rate, channels and ``fmtp`` parameters to get a fresh codec for the stream. Encoding
names are case-insensitive (RFC 4855 §3). ``telephone-event`` and ``CN`` are listed so they can be
offered, but they are not audio codecs: the RTP session handles them itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sipperc.media.codecs.audio_codec import AudioCodec, CodecError
from sipperc.media.codecs.g711 import G711
from sipperc.media.codecs.g722 import G722
from sipperc.media.codecs.opus import Opus

CodecFactory = Callable[[Mapping[str, str]], AudioCodec]

TELEPHONE_EVENT = "telephone-event"
COMFORT_NOISE = "CN"


@dataclass(frozen=True, slots=True)
class PayloadFormat:
    """An RTP payload format as SDP describes it: ``a=rtpmap:PT name/clock[/channels]``.

    ``static_payload_type`` is the RFC 3551 number, or ``None`` for a dynamic one; ``fmtp`` is
    the parameter text of our own ``a=fmtp`` line when offering the format (empty: no line).
    """

    encoding_name: str
    clock_rate: int
    channels: int = 1
    static_payload_type: int | None = None
    fmtp: str = ""

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies the format: lower-cased name, clock rate, channels."""
        return (self.encoding_name.lower(), self.clock_rate, self.channels)

    @property
    def is_audio(self) -> bool:
        """False for the formats that carry no audio frames (telephone-event, CN)."""
        return self.encoding_name.lower() not in {TELEPHONE_EVENT, COMFORT_NOISE.lower()}


class CodecRegistry:
    """Payload formats in preference order, each with the factory making its codec."""

    def __init__(self) -> None:
        self._formats: list[PayloadFormat] = []
        self._factories: dict[tuple[str, int, int], CodecFactory] = {}

    def register(self, payload_format: PayloadFormat,
                 factory: CodecFactory | None = None) -> None:
        """Add a format at the end of the preference list (``factory`` for audio formats)."""
        if payload_format.key in {known.key for known in self._formats}:
            raise ValueError(f"{payload_format.encoding_name}/{payload_format.clock_rate} "
                             "is already registered")
        if payload_format.is_audio and factory is None:
            raise ValueError(f"audio format {payload_format.encoding_name} needs a codec factory")
        self._formats.append(payload_format)
        if factory is not None:
            self._factories[payload_format.key] = factory

    def formats(self) -> tuple[PayloadFormat, ...]:
        """Every format, most preferred first (what an SDP offer lists)."""
        return tuple(self._formats)

    def find(self, encoding_name: str, clock_rate: int, channels: int = 1) -> PayloadFormat:
        """The registered format matching an ``rtpmap``; raises :class:`CodecError` if none."""
        key = (encoding_name.lower(), clock_rate, channels)
        for known in self._formats:
            if known.key == key:
                return known
        raise CodecError(f"unsupported payload format {encoding_name}/{clock_rate}/{channels}")

    def create(self, encoding_name: str, clock_rate: int, channels: int = 1,
               fmtp: Mapping[str, str] | None = None) -> AudioCodec:
        """A new codec instance for a negotiated audio format and the peer's ``fmtp``."""
        payload_format = self.find(encoding_name, clock_rate, channels)
        factory = self._factories.get(payload_format.key)
        if factory is None:
            raise CodecError(f"{payload_format.encoding_name} is not an audio codec")
        return factory(fmtp or {})


def _default_registry() -> CodecRegistry:
    registry = CodecRegistry()
    # RFC 7587 §7: Opus is always opus/48000/2 in SDP; we send mono and say so (stereo=0).
    registry.register(PayloadFormat("opus", 48000, 2, None,
                                    "minptime=10;useinbandfec=1;usedtx=1;stereo=0;sprop-stereo=0"),
                      Opus.from_fmtp)
    registry.register(PayloadFormat("G722", 8000, 1, 9), lambda _fmtp: G722())
    registry.register(PayloadFormat("PCMU", 8000, 1, 0), lambda _fmtp: G711("PCMU"))
    registry.register(PayloadFormat("PCMA", 8000, 1, 8), lambda _fmtp: G711("PCMA"))
    # RFC 4733 §7.1.1: telephone-event at the clock rate of the audio it accompanies.
    registry.register(PayloadFormat(TELEPHONE_EVENT, 48000, 1, None, "0-15"))
    registry.register(PayloadFormat(TELEPHONE_EVENT, 8000, 1, None, "0-15"))
    registry.register(PayloadFormat(COMFORT_NOISE, 8000, 1, 13))
    return registry


CODECS = _default_registry()
"""The formats sipperc speaks, in the order it prefers them."""
