"""Opus (RFC 6716) in RTP (RFC 7587), through ``opuslib_next`` over the system libopus.

``opuslib_next`` is the maintained fork of ``opuslib`` (which saw no release since 2018): plain
ctypes over the Debian ``libopus0`` library, no bundled binary. We use its encoder and decoder
objects for state and CTLs, and call its ``opus_encode``/``opus_decode`` bindings with numpy
buffers so a frame is never copied through Python lists.

RFC 7587 §4: the RTP clock is always 48 kHz and the SDP always says ``opus/48000/2``, whatever the
audio bandwidth; our PCM interface runs at ``sample_rate`` (48 kHz unless asked otherwise) and is
mono (stereo streams are downmixed by libopus). In-band FEC (§3.1.2) and DTX (§3.1.3) are on:
a lost frame is rebuilt from the FEC data in the following packet when the jitter buffer has it,
and by libopus's own PLC otherwise; during silence the encoder sends nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping

import numpy as np
import opuslib_next
from opuslib_next.api import c_int16_pointer
from opuslib_next.api import decoder as opus_decoder
from opuslib_next.api import encoder as opus_encoder

from sipperc.media.codecs.audio_codec import CodecError
from sipperc.media.pcm import Pcm

CLOCK_RATE = 48000
SAMPLE_RATES = (8000, 12000, 16000, 24000, 48000)
MAX_PACKET = 1275 * 3 + 7  # RFC 6716 §3.4: the largest legal packet (120 ms)
MAX_FRAME = 5760  # 120 ms at 48 kHz
DTX_PAYLOAD = 2  # libopus returns at most 2 bytes for a frame it wants us not to send
DEFAULT_BITRATE = 32000
EXPECTED_LOSS_PERCENT = 10  # tells the encoder to spend bits on FEC (RFC 7587 §3.1.2)


class Opus:
    """One Opus stream: mono PCM at ``sample_rate``, 48 kHz RTP clock, FEC and DTX on."""

    name = "opus"
    clock_rate = CLOCK_RATE

    def __init__(self, sample_rate: int = 48000, bitrate: int = DEFAULT_BITRATE,
                 fec: bool = True, dtx: bool = True) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise CodecError(f"Opus runs at {SAMPLE_RATES} Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        try:
            self._encoder = opuslib_next.Encoder(sample_rate, 1, "voip")
            self._decoder = opuslib_next.Decoder(sample_rate, 1)
            self._encoder.bitrate = bitrate
            self._encoder.inband_fec = int(fec)
            self._encoder.packet_loss_perc = EXPECTED_LOSS_PERCENT if fec else 0
            self._encoder.dtx = int(dtx)
        except opuslib_next.OpusError as exc:
            raise CodecError(f"libopus refused the settings: {exc}") from exc
        self._out = (ctypes.c_char * MAX_PACKET)()
        self._pcm = np.zeros(MAX_FRAME, dtype=np.int16)
        self._pcm_pointer = self._pcm.ctypes.data_as(c_int16_pointer)

    @classmethod
    def from_fmtp(cls, fmtp: Mapping[str, str], sample_rate: int = 48000) -> Opus:
        """A stream set up from the peer's SDP ``fmtp`` (RFC 7587 §6.1).

        ``maxaveragebitrate`` caps our bitrate; ``useinbandfec=0`` and ``usedtx=0`` say the peer
        does not want FEC or DTX from us (we still decode both).
        """
        try:
            cap = int(fmtp.get("maxaveragebitrate", DEFAULT_BITRATE))
        except ValueError as exc:
            raise CodecError(f"bad Opus maxaveragebitrate: {fmtp['maxaveragebitrate']!r}") from exc
        bitrate = max(6000, min(DEFAULT_BITRATE, cap))
        return cls(sample_rate, bitrate, fec=fmtp.get("useinbandfec", "1") != "0",
                   dtx=fmtp.get("usedtx", "1") != "0")

    def encode(self, pcm: Pcm) -> bytes:
        """One frame (2.5 to 60 ms) to one packet; ``b""`` for a DTX frame not to be sent."""
        frame = np.ascontiguousarray(pcm, dtype=np.int16)
        length = opus_encoder.libopus_encode(
            self._encoder.encoder_state, frame.ctypes.data_as(c_int16_pointer), len(frame),
            self._out, MAX_PACKET)
        if length < 0:
            raise CodecError(f"libopus cannot encode a {len(frame)}-sample frame "
                             f"at {self.sample_rate} Hz (error {length})")
        if length <= DTX_PAYLOAD:
            return b""
        return self._out.raw[:length]

    def decode(self, payload: bytes) -> Pcm:
        """One packet to PCM at ``sample_rate``."""
        return self._decode(payload, MAX_FRAME * self.sample_rate // CLOCK_RATE, fec=False)

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        """The lost frame from the next packet's FEC data, else libopus's PLC."""
        if next_payload:
            try:
                return self._decode(next_payload, samples, fec=True)
            except CodecError:
                pass  # a corrupt next packet is handled when its turn comes; use the PLC now
        return self._decode(None, samples, fec=False)

    def duration(self, payload: bytes) -> int:
        """The 48 kHz ticks covered by the packet's frames (RFC 6716 §3.1 TOC byte)."""
        frames = opus_decoder.libopus_packet_get_nb_frames(payload, len(payload))
        if frames < 0 or not payload:
            raise CodecError(f"malformed Opus packet ({len(payload)} bytes)")
        per_frame: int = opus_decoder.libopus_packet_get_samples_per_frame(payload, CLOCK_RATE)
        return int(frames) * per_frame

    def _decode(self, payload: bytes | None, samples: int, fec: bool) -> Pcm:
        length = len(payload) if payload else 0
        count = opus_decoder.libopus_decode(
            self._decoder.decoder_state, payload, length, self._pcm_pointer,
            min(samples, len(self._pcm)), int(fec))
        if count < 0:
            raise CodecError(f"libopus cannot decode a {length}-byte packet (error {count})")
        return self._pcm[:count].copy()
