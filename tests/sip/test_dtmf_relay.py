import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.sip.dtmf_relay import KEYS, DtmfRelay, DtmfRelayError


def test_reads_what_phones_send():
    assert DtmfRelay.parse(b"Signal=5\r\nDuration=160\r\n") == DtmfRelay("5", 160)
    assert DtmfRelay.parse(b"signal= #\nduration = 100\n") == DtmfRelay("#", 100)
    assert DtmfRelay.parse(b"Signal=11\r\nDuration=80\r\n") == DtmfRelay("#", 80)
    assert DtmfRelay.parse(b"Signal=16\r\n") == DtmfRelay("!", 250)
    assert DtmfRelay.parse(b"Signal=a\r\nDuration=100\r\nFoo=bar\r\n\r\n").signal == "A"


def test_writes_the_usual_form():
    assert bytes(DtmfRelay("*", 120)) == b"Signal=*\r\nDuration=120\r\n"


@pytest.mark.parametrize(("body", "problem"), [
    (b"Duration=100\r\n", "no Signal"),
    (b"Signal=X\r\n", "not a DTMF key"),
    (b"Signal=1\r\nDuration=-5\r\n", "not a number"),
    (b"Signal=1\r\nDuration=0\r\n", "outside"),
    (b"Signal=\xff\r\n", "not ASCII"),
])
def test_bad_bodies_say_why(body, problem):
    with pytest.raises(DtmfRelayError, match=problem):
        DtmfRelay.parse(body)


@given(st.sampled_from(sorted(KEYS)), st.integers(1, 60_000))
def test_round_trip(signal, duration):
    relay = DtmfRelay(signal, duration)
    assert DtmfRelay.parse(bytes(relay)) == relay


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_the_layer_error(body):
    with contextlib.suppress(DtmfRelayError):
        DtmfRelay.parse(body)
