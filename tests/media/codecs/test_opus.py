import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.media.codecs.audio_codec import CodecError
from sipperc.media.codecs.opus import Opus
from tests.media.audio_checks import correlation, snr, speech


def encode_all(codec, pcm, frame):
    return [codec.encode(pcm[i:i + frame]) for i in range(0, len(pcm) - frame, frame)]


def test_speech_round_trip_wideband():
    codec = Opus(16000)
    pcm = speech(16000)
    packets = encode_all(codec, pcm, 320)
    out = np.concatenate([codec.decode(p) if p else codec.conceal(320) for p in packets])
    assert correlation(pcm, out, 2000) > 0.9
    assert snr(pcm, out, 2000) > 8.0  # a perceptual codec: waveform SNR is modest by design


def test_duration_is_in_48khz_ticks_whatever_the_pcm_rate():
    codec = Opus(16000)
    packet = codec.encode(speech(16000)[:320])
    assert codec.duration(packet) == 960  # RFC 7587 §4.1: the RTP clock is always 48 kHz
    assert len(codec.decode(packet)) == 320


def test_dtx_sends_nothing_during_silence():
    codec = Opus(48000)
    sent = [codec.encode(np.zeros(960, dtype=np.int16)) for _ in range(50)]
    assert sent[0]  # the first frames still go out so the decoder learns it is silence
    assert sum(1 for p in sent if not p) > 30


def test_fec_recovers_a_lost_frame_better_than_plc():
    pcm = speech(16000)
    packets = encode_all(Opus(16000), pcm, 320)
    lost = range(100, len(packets) - 1, 10)

    def receive(use_fec):
        decoder = Opus(16000)
        out = []
        for i, packet in enumerate(packets):
            if i in lost:
                out.append(decoder.conceal(320, packets[i + 1] if use_fec else None))
            else:
                out.append(decoder.decode(packet) if packet else decoder.conceal(320))
        return np.concatenate(out)

    clean = Opus(16000)
    reference = np.concatenate([clean.decode(p) if p else clean.conceal(320) for p in packets])
    with_fec, without_fec = receive(True), receive(False)

    def error_in_lost_frames(received):
        return sum(float(np.sum((reference[i * 320:(i + 1) * 320].astype(float)
                                 - received[i * 320:(i + 1) * 320]) ** 2)) for i in lost)

    assert error_in_lost_frames(with_fec) < 0.5 * error_in_lost_frames(without_fec)


def test_plc_without_any_packet():
    codec = Opus(48000)
    assert len(codec.conceal(960)) == 960


@pytest.mark.parametrize("payload", [b"", b"\xff\xff\xff\xff\xff"])
def test_malformed_packet_raises_codec_error(payload):
    codec = Opus(48000)
    with pytest.raises(CodecError):
        codec.duration(payload)
        codec.decode(payload)


def test_fmtp_caps_bitrate_and_turns_off_dtx():
    codec = Opus.from_fmtp({"maxaveragebitrate": "12000", "usedtx": "0"}, 16000)
    packets = encode_all(codec, speech(16000)[:32000], 320)
    assert all(packets)  # no DTX
    bits_per_second = sum(len(p) for p in packets) * 8 / (len(packets) * 0.02)
    assert bits_per_second < 16000


def test_bad_settings():
    with pytest.raises(CodecError, match="44100"):
        Opus(44100)
    with pytest.raises(CodecError, match="maxaveragebitrate"):
        Opus.from_fmtp({"maxaveragebitrate": "fast"})


@given(st.binary(min_size=1, max_size=400))
@settings(max_examples=300, deadline=None)
def test_arbitrary_payloads_raise_only_codec_error(payload):
    codec = Opus(48000)
    try:
        codec.decode(payload)
        codec.duration(payload)
    except CodecError:
        pass
    assert len(codec.conceal(960, payload)) == 960
