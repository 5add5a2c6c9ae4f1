"""G.711 μ-law (PCMU) and A-law (PCMA), RFC 3551 §4.5.14, vectorised with lookup tables.

The tables are computed once from the ITU-T G.711 segment rules (the same arithmetic as the
classic Sun reference ``g711.c``): encoding is one 64 Ki-entry table lookup indexed by the 16-bit
sample, decoding one 256-entry lookup. Both run as single numpy gathers over a whole frame.
Lost frames are concealed by :class:`~sipperc.media.plc.WaveformSubstitution` (G.711 has no PLC
of its own).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sipperc.media.pcm import Pcm
from sipperc.media.plc import WaveformSubstitution

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _all_samples() -> npt.NDArray[np.int32]:
    # Index i of an encode table is the int16 sample whose bit pattern is i (uint16 view).
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = _all_samples() >> 2  # G.711 μ-law works on 14-bit magnitudes
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude, side="left")
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS).astype(np.int16)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = _all_samples() >> 3  # A-law works on 13-bit magnitudes
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    mantissa = (code & 0x0F) << 4
    magnitude = np.where(segment == 0, mantissa + 8,
                         (mantissa + 0x108) << np.maximum(segment - 1, 0))
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


ULAW_ENCODE = _ulaw_encode_table()
ULAW_DECODE = _ulaw_decode_table()
ALAW_ENCODE = _alaw_encode_table()
ALAW_DECODE = _alaw_decode_table()


class G711:
    """A PCMU or PCMA stream: 8 kHz audio, one byte per sample, 8 kHz RTP clock."""

    clock_rate = 8000
    sample_rate = 8000

    def __init__(self, name: str) -> None:
        key = name.upper()
        if key == "PCMU":
            self._encode, self._decode = ULAW_ENCODE, ULAW_DECODE
        elif key == "PCMA":
            self._encode, self._decode = ALAW_ENCODE, ALAW_DECODE
        else:
            raise ValueError(f"G.711 is PCMU or PCMA, not {name!r}")
        self._name = key
        self._plc = WaveformSubstitution(self.sample_rate)

    @property
    def name(self) -> str:
        """``PCMU`` or ``PCMA``."""
        return self._name

    def encode(self, pcm: Pcm) -> bytes:
        """Compand each sample to one byte."""
        return bytes(self._encode[np.ascontiguousarray(pcm, dtype=np.int16).view(np.uint16)])

    def decode(self, payload: bytes) -> Pcm:
        """Expand each byte to one sample (any length is valid G.711)."""
        pcm = self._decode[np.frombuffer(payload, dtype=np.uint8)]
        self._plc.remember(pcm)
        return pcm

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        """Waveform substitution from the audio decoded so far (G.711 has no FEC)."""
        return self._plc.conceal(samples)

    def duration(self, payload: bytes) -> int:
        """One clock tick per byte."""
        return len(payload)
