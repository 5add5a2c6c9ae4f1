import numpy as np

from sipperc.media.codecs.g711 import G711
from sipperc.media.conference_receiver import ConferenceReceiver, SourceLevel
from sipperc.media.jitter_buffer import BufferedPacket
from sipperc.media.receive_stream import PayloadTypes
from sipperc.media.tone import ToneSource
from tests.media.audio_checks import tone_levels

TONES = {0x1111: 400.0, 0x2222: 900.0, 0x3333: 1500.0}


def payload_types():
    return PayloadTypes({0: G711("PCMU")})


def run(receiver, seconds, senders, start=0, levels=None):
    encoders = {ssrc: G711("PCMU") for ssrc in senders}
    out = []
    for tick in range(start, start + int(seconds / 0.02)):
        now = tick * 0.02
        for ssrc, source in senders.items():
            payload = encoders[ssrc].encode(source.read(160))
            level = levels(ssrc) if levels else None
            receiver.receive(ssrc, BufferedPacket(tick & 0xFFFF, tick * 160, 0, payload), now,
                             level)
        out.append(receiver.read(now))
    return np.concatenate(out)


def test_every_source_is_decoded_and_mixed():
    receiver = ConferenceReceiver(payload_types, 8000)
    senders = {ssrc: ToneSource(f, 8000, level=20) for ssrc, f in TONES.items()}
    mixed = run(receiver, 2.0, senders)
    levels = tone_levels(mixed[4000:], 8000, [*TONES.values(), 2500.0])
    for f in TONES.values():
        assert levels[f] > 2000
    assert levels[2500.0] < 100
    assert set(receiver.streams) == set(TONES)


def test_speakers_from_decoded_levels_and_from_rfc6464_levels():
    receiver = ConferenceReceiver(payload_types, 8000)
    senders = {0x1111: ToneSource(400, 8000, level=15), 0x2222: ToneSource(900, 8000, level=80)}
    run(receiver, 1.0, senders)
    assert receiver.speaking(1.0).speaking == (0x1111,)
    # A Media Distributor's view: the header extension's level wins over the audio.
    header = ConferenceReceiver(payload_types, 8000)
    run(header, 1.0, senders, levels=lambda ssrc: SourceLevel(10 if ssrc == 0x2222 else 90, True))
    assert header.speaking(1.0).speaking == (0x2222,)


def test_silent_sources_time_out_and_bye_removes():
    receiver = ConferenceReceiver(payload_types, 8000, timeout=1.0)
    run(receiver, 0.5, {0x1111: ToneSource(400, 8000), 0x2222: ToneSource(900, 8000)})
    run(receiver, 2.0, {0x1111: ToneSource(400, 8000)}, start=25)
    assert set(receiver.streams) == {0x1111}
    receiver.remove(0x1111)
    assert receiver.streams == {}
    assert not receiver.read(3.0).any()
