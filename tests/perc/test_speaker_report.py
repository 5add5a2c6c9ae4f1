"""Talking reports from the Media Distributor to the focus: the codec and the receiver."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.perc.speaker_report import (
    SpeakerHello,
    SpeakerReportError,
    SpeakerReportReceiver,
    Talking,
    decode_speaker_body,
    encode_speaker_message,
)

TLS_ID = b"T" * 24
HELLO = encode_speaker_message(SpeakerHello(distributor_name="md-1"))


def test_the_wire_form_is_tunnel_framing_with_the_documented_fields():
    hello = bytes([1, 0, 6, 0, 4]) + b"md-1"
    assert hello == HELLO
    talking = encode_speaker_message(Talking("room", TLS_ID, True))
    assert talking == bytes([2, 0, 31, 4]) + b"room" + bytes([24]) + TLS_ID + bytes([1])


@given(st.text(min_size=1, max_size=16), st.binary(min_size=20, max_size=255), st.booleans())
def test_talking_round_trips(room, tls_id, talking):
    message = Talking(room, tls_id, talking)
    wire = encode_speaker_message(message)
    assert decode_speaker_body(wire[0], wire[3:]) == message


def test_the_receiver_reports_in_order_across_split_reads_and_remembers_who_talks():
    receiver = SpeakerReportReceiver()
    stream = HELLO + b"".join(encode_speaker_message(m) for m in (
        Talking("room", TLS_ID, True), Talking("room", b"U" * 20, True),
        Talking("room", TLS_ID, False)))
    reports = []
    for index in range(0, len(stream), 7):
        reports += receiver.receive_data(stream[index:index + 7])
    assert [(r.tls_id, r.talking) for r in reports] == [
        (TLS_ID, True), (b"U" * 20, True), (TLS_ID, False)]
    assert receiver.hello == SpeakerHello(0, "md-1")
    assert receiver.talking == {("room", b"U" * 20)}


@pytest.mark.parametrize(("stream", "problem"), [
    (encode_speaker_message(Talking("room", TLS_ID, True)), "first message must be Hello"),
    (encode_speaker_message(SpeakerHello(version=1)), "version 1"),
    (HELLO + HELLO, "Hello sent twice"),
    (HELLO + bytes([9, 0, 0]), "unknown message type 9"),
    (HELLO + bytes([2, 0, 9, 4]) + b"room" + bytes([3]) + b"abc", "tls_id"),
    (HELLO + bytes([2, 0, 31, 4]) + b"room" + bytes([24]) + TLS_ID + bytes([2]), "not 0 or 1"),
    (HELLO + bytes([2, 0, 32, 4]) + b"room" + bytes([24]) + TLS_ID + bytes([1, 0]),
     "trailing"),
    (HELLO + bytes([2, 0, 8, 4]) + b"\xff\xfe\xfd\xfc" + bytes([0, 1, 0]), "UTF-8"),
])
def test_bad_streams_are_refused_naming_the_problem(stream, problem):
    with pytest.raises(SpeakerReportError, match=problem):
        SpeakerReportReceiver().receive_data(stream)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_another_error(data):
    with contextlib.suppress(SpeakerReportError):
        SpeakerReportReceiver().receive_data(HELLO + data)


def test_what_cannot_be_sent_is_refused_before_it_is():
    with pytest.raises(ValueError, match="tls_id"):
        encode_speaker_message(Talking("room", b"short", True))
