"""G.722 wideband audio (RFC 3551 §4.5.2), through Sippy's libg722 (PyPI ``G722``).

libg722 is the bit-exact ITU-T G.722 implementation used by Asterisk, FreeSWITCH and rtpproxy,
packaged with a C extension: faster than any Python we would write for its per-sample ADPCM.
G.722 samples at 16 kHz but, for historical reasons, its RTP clock runs at 8 kHz (RFC 3551
§4.5.2): one payload byte is two samples and one clock tick. Lost frames are concealed by
waveform substitution, as for G.711.
"""

from __future__ import annotations

import G722 as libg722  # noqa: N811 (the module is named like a constant)
import numpy as np

from sipperc.media.pcm import Pcm
from sipperc.media.plc import WaveformSubstitution

BIT_RATE = 64000
"""RFC 3551 G.722 is mode 1, 64 kbit/s."""


class G722:
    """A G.722 stream at 64 kbit/s: 16 kHz PCM, 8 kHz RTP clock."""

    name = "G722"
    clock_rate = 8000
    sample_rate = 16000

    def __init__(self) -> None:
        # Encoder and decoder carry separate ADPCM state: one libg722 object for each direction.
        self._encoder = libg722.G722(self.sample_rate, BIT_RATE, use_numpy=False)
        self._decoder = libg722.G722(self.sample_rate, BIT_RATE, use_numpy=False)
        self._plc = WaveformSubstitution(self.sample_rate)

    def encode(self, pcm: Pcm) -> bytes:
        """Encode an even number of 16 kHz samples (two per output byte)."""
        if len(pcm) % 2:
            raise ValueError("G.722 encodes an even number of samples")
        encoded: bytes = self._encoder.encode(np.ascontiguousarray(pcm, dtype=np.int16))
        return encoded

    def decode(self, payload: bytes) -> Pcm:
        """Decode to 16 kHz PCM, two samples per byte."""
        pcm = np.frombuffer(self._decoder.decode(payload), dtype=np.int16)
        return self._plc.remember(pcm)

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        """Waveform substitution (G.722 has no FEC)."""
        return self._plc.conceal(samples)

    def duration(self, payload: bytes) -> int:
        """One 8 kHz clock tick per byte."""
        return len(payload)
