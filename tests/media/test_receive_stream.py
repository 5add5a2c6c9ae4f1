import random

import numpy as np
import pytest

from sipperc.media.codecs.g711 import G711
from sipperc.media.codecs.g722 import G722
from sipperc.media.codecs.opus import Opus
from sipperc.media.codecs.telephone_event import (
    TelephoneEventEnded,
    TelephoneEventSender,
    TelephoneEventStarted,
)
from sipperc.media.jitter_buffer import BufferedPacket
from sipperc.media.level import dbov
from sipperc.media.receive_stream import PayloadTypes, ReceiveStream
from tests.media.audio_checks import snr, speech, tone, tone_levels


def packetise(codec, pcm, frame, pt=0, seq=0, ts=1000):
    out = []
    ticks = frame * codec.clock_rate // codec.sample_rate
    for i in range(0, len(pcm) - frame + 1, frame):
        payload = codec.encode(pcm[i:i + frame])
        if payload:
            out.append(BufferedPacket((seq + len(out)) & 0xFFFF, ts + (i // frame) * ticks, pt,
                                      payload))
    return out


def play(stream, packets, ptime=0.02, drop=frozenset(), extra_ticks=10, spacing=None):
    spacing = spacing or ptime
    arrivals = sorted(((i * spacing, p) for i, p in enumerate(packets) if i not in drop),
                      key=lambda a: a[0])
    out, events, index = [], [], 0
    ticks = int(len(packets) * spacing / ptime) + extra_ticks
    for tick in range(ticks):
        now = tick * ptime
        while index < len(arrivals) and arrivals[index][0] <= now + 1e-9:
            events += stream.receive(arrivals[index][1], arrivals[index][0])
            index += 1
        out.append(stream.read(now))
    return np.concatenate(out), events


def test_g711_speech_comes_out_as_sent():
    pcm = speech(8000)[:8000 * 5]
    stream = ReceiveStream(PayloadTypes({0: G711("PCMU")}), 8000)
    out, _ = play(stream, packetise(G711("PCMU"), pcm, 160))
    assert {len(out) % 160} == {0}
    assert snr(pcm, out, 2000) > 30
    assert stream.statistics().frames_decoded == len(pcm) // 160


def test_g722_resampled_to_a_48k_device():
    pcm = tone(1000, 16000, 16000 * 2)
    stream = ReceiveStream(PayloadTypes({9: G722()}), 48000)
    out, _ = play(stream, packetise(G722(), pcm, 320, pt=9))
    assert len(out) % 960 == 0
    levels = tone_levels(out[48000:96000], 48000, [1000, 3000])
    assert levels[1000] > 5000 and levels[3000] < levels[1000] / 100


def test_opus_loss_uses_fec():
    pcm = speech(16000)[:16000 * 5]
    packets = packetise(Opus(16000), pcm, 320, pt=111)
    drop = set(random.Random(1).sample(range(10, len(packets) - 5), len(packets) // 10))
    stream = ReceiveStream(PayloadTypes({111: Opus(16000)}), 16000)
    out, _ = play(stream, packets, drop=drop)
    stats = stream.statistics()
    assert stats.buffer.lost == len(drop)
    assert stats.frames_fec >= len(drop) * 0.8
    assert snr(pcm, out, 4000) > 5


def test_sender_ptime_30ms_read_in_20ms_frames():
    pcm = speech(8000)[:8000 * 3]
    stream = ReceiveStream(PayloadTypes({8: G711("PCMA")}), 8000, ptime=0.02)
    out, _ = play(stream, packetise(G711("PCMA"), pcm, 240, pt=8), spacing=0.03)
    assert snr(pcm, out, 2000) > 30


def test_comfort_noise_fills_the_silence():
    codec = G711("PCMU")
    talk = packetise(codec, tone(300, 8000, 1600), 160)
    cn = BufferedPacket(len(talk), 1000 + 1600, 13, bytes([40]))
    after = [BufferedPacket(len(talk) + 1 + i, 1000 + 1600 + 160 * (25 + i), 0,
                            codec.encode(tone(300, 8000, 160))) for i in range(5)]
    stream = ReceiveStream(PayloadTypes({0: G711("PCMU")}, comfort_noise=13), 8000)
    arrivals = [*talk, cn]
    out = []
    for tick in range(60):
        now = tick * 0.02
        if tick < len(arrivals):
            stream.receive(arrivals[tick], now)
        if tick - 35 in range(len(after)):
            stream.receive(after[tick - 35], now)
        out.append(stream.read(now))
    quiet = np.concatenate(out[18:32])
    assert abs(dbov(quiet) - 40) <= 1
    assert stream.statistics().frames_comfort_noise > 10
    assert stream.statistics().buffer.lost == 0


def test_telephone_events_bypass_the_buffer():
    sender = TelephoneEventSender(8000, 160)
    sender.queue("5")
    stream = ReceiveStream(PayloadTypes({0: G711("PCMU")}, telephone_event=101), 8000)
    events = []
    seq = 0
    while sender.busy:
        for packet in sender.next_packets(seq * 160) or []:
            events += stream.receive(BufferedPacket(seq, packet.timestamp, 101, packet.payload),
                                     seq * 0.02)
            seq += 1
    assert events == [TelephoneEventStarted("5", 0), TelephoneEventEnded("5", 0, 0.1)]


def test_garbage_is_counted_not_raised():
    stream = ReceiveStream(PayloadTypes({111: Opus(48000)}), 48000)
    good = packetise(Opus(48000), speech(16000)[:16000].repeat(3), 960, pt=111)
    bad = [BufferedPacket(p.sequence, p.timestamp, p.payload_type,
                          b"\xff\xff" if i == 10 else p.payload) for i, p in enumerate(good)]
    bad.append(BufferedPacket(999, 5, 77, b"\x00"))  # a payload type nobody negotiated
    out, _ = play(stream, bad)
    assert len(out) % 960 == 0
    assert stream.statistics().decode_errors >= 2


def test_needs_an_audio_codec():
    with pytest.raises(ValueError, match="audio"):
        ReceiveStream(PayloadTypes({}), 8000)
