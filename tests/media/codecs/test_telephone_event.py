import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.media.codecs.audio_codec import CodecError
from sipperc.media.codecs.telephone_event import (
    TelephoneEventEnded,
    TelephoneEventPayload,
    TelephoneEventReceiver,
    TelephoneEventSender,
    TelephoneEventStarted,
    event_code,
    event_symbol,
)


def test_payload_wire_format():
    # RFC 4733 §2.3: digit 5, end, volume 10, duration 800 ticks.
    assert TelephoneEventPayload(5, True, 10, 800).encode() == bytes([5, 0x8A, 0x03, 0x20])


@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_payload_round_trip(event, end, volume, duration):
    payload = TelephoneEventPayload(event, end, volume, duration)
    assert TelephoneEventPayload.decode(payload.encode()) == payload


def test_short_payload_rejected():
    with pytest.raises(CodecError, match="4 bytes"):
        TelephoneEventPayload.decode(b"\x01\x02")


def test_keys():
    assert [event_code(k) for k in "19*#aD"] == [1, 9, 10, 11, 12, 15]
    assert event_symbol(11) == "#" and event_symbol(16) == "flash"
    with pytest.raises(ValueError, match="DTMF"):
        event_code("x")


def test_sender_runs_one_event_then_resumes_audio():
    sender = TelephoneEventSender(8000, 160)
    sender.queue("7", duration=0.1, gap=0.04)
    frames = []
    timestamp = 1000
    while True:
        packets = sender.next_packets(timestamp)
        timestamp += 160
        if packets is None:
            break
        frames.append(packets)
    flat = [p for frame in frames for p in frame]
    assert len(frames) == 5  # 100 ms in 20 ms frames
    assert {p.timestamp for p in flat} == {1000}  # every packet carries the event start
    assert [p.marker for p in flat] == [True] + [False] * (len(flat) - 1)
    decoded = [TelephoneEventPayload.decode(p.payload) for p in flat]
    assert [d.duration for d in decoded] == [160, 320, 480, 640, 800, 800, 800]
    assert [d.end for d in decoded] == [False] * 4 + [True] * 3  # the end is sent three times
    assert sender.busy  # still in the inter-digit gap
    assert sender.next_packets(timestamp) is None
    assert not sender.busy


def test_receiver_reports_start_and_end_once_despite_repeats_and_loss():
    sender = TelephoneEventSender(8000, 160)
    sender.queue("#9", duration=0.06, gap=0.0)
    receiver = TelephoneEventReceiver(8000)
    events = []
    timestamp = 0
    while sender.busy:
        for n, packet in enumerate(sender.next_packets(timestamp) or []):
            if packet.marker:
                continue  # lose every first packet: the start is still seen
            events += receiver.receive(packet.timestamp, packet.payload)
            if n == 0 and TelephoneEventPayload.decode(packet.payload).end:
                events += receiver.receive(packet.timestamp, packet.payload)  # duplicate
        timestamp += 160
    assert events == [TelephoneEventStarted("#", 0), TelephoneEventEnded("#", 0, 0.06),
                      TelephoneEventStarted("9", 480), TelephoneEventEnded("9", 480, 0.06)]
