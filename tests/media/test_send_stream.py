import itertools

import numpy as np
import pytest

from sipperc.media.codecs.g711 import G711
from sipperc.media.codecs.opus import Opus
from sipperc.media.codecs.telephone_event import TelephoneEventPayload
from sipperc.media.send_stream import SendStream
from sipperc.media.tone import ToneSource


def test_numbering_marker_and_level():
    stream = SendStream(G711("PCMU"), 0, sequence=65534, timestamp=0xFFFFFF00)
    tone = ToneSource(440, 8000, level=20)
    packets = [p for _ in range(4) for p in stream.send_frame(tone.read(160))]
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [0xFFFFFF00, 0xFFFFFFA0, 0x40, 0xE0]
    assert [p.marker for p in packets] == [True, False, False, False]
    assert {p.level for p in packets} == {20} and all(p.voice for p in packets)
    assert stream.packets_sent == 4 and stream.octets_sent == 640


def test_random_initial_numbers():
    a, b = SendStream(G711("PCMU"), 0), SendStream(G711("PCMU"), 0)
    silence = np.zeros(160, dtype=np.int16)
    first_a, first_b = a.send_frame(silence)[0], b.send_frame(silence)[0]
    assert (first_a.sequence, first_a.timestamp) != (first_b.sequence, first_b.timestamp)
    assert first_a.level == 127 and not first_a.voice


def test_dtx_gap_then_marker_on_the_next_talkspurt():
    stream = SendStream(Opus(48000), 111, timestamp=0)
    talk = ToneSource(300, 48000, level=20)
    sent = []
    for frames, source in [(10, talk), (60, None), (5, talk)]:
        for _ in range(frames):
            pcm = source.read(960) if source else np.zeros(960, dtype=np.int16)
            sent.append(stream.send_frame(pcm))
    flat = [p for frame in sent for p in frame]
    assert sum(1 for frame in sent[10:70] if not frame) > 30  # DTX: nothing sent
    # A marker starts every talkspurt: the first packet, the first after each DTX gap (libopus
    # sends a comfort-noise update every 400 ms of silence) and the first of the new speech.
    for index, frame in enumerate(sent):
        for packet in frame:
            assert packet.marker == (index == 0 or not sent[index - 1])
    assert sent[70][0].marker and sent[70][0].timestamp == 70 * 960
    assert [b.sequence - a.sequence for a, b in itertools.pairwise(flat)] == [1] * (len(flat) - 1)


def test_dtmf_replaces_audio_then_audio_resumes():
    stream = SendStream(G711("PCMU"), 0, telephone_event=101, timestamp=1000)
    stream.queue_dtmf("1", duration=0.06, gap=0.0)
    tone = ToneSource(440, 8000)
    frames = [stream.send_frame(tone.read(160)) for _ in range(5)]
    types = [[p.payload_type for p in f] for f in frames]
    assert types == [[101], [101], [101, 101, 101], [0], [0]]
    assert frames[0][0].marker and frames[0][0].timestamp == 1000
    assert TelephoneEventPayload.decode(frames[2][0].payload).end
    assert frames[3][0].timestamp == 1000 + 3 * 160 and not frames[3][0].marker


def test_errors():
    with pytest.raises(ValueError, match="telephone-event"):
        SendStream(G711("PCMU"), 0).queue_dtmf("1")
    with pytest.raises(ValueError, match="160 samples"):
        SendStream(G711("PCMU"), 0).send_frame(np.zeros(100, dtype=np.int16))
