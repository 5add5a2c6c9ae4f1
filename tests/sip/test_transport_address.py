import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.sip.transport_address import TransportAddress


def test_str_and_parse_round_trip_ipv4_and_ipv6():
    a = TransportAddress("udp", "192.0.2.1", 5060)
    b = TransportAddress("tls", "2001:db8::1", 5061)
    assert str(a) == "udp:192.0.2.1:5060"
    assert str(b) == "tls:[2001:db8::1]:5061"
    assert TransportAddress.parse(str(a)) == a
    assert TransportAddress.parse(str(b)) == b


def test_parse_fills_the_default_port_per_transport():
    assert TransportAddress.parse("udp:127.0.0.1").port == 5060
    assert TransportAddress.parse("TLS:127.0.0.1") == TransportAddress("tls", "127.0.0.1", 5061)
    assert TransportAddress.parse("tcp:[::1]").port == 5060


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("127.0.0.1:5060", "unknown transport"),
        ("sctp:127.0.0.1:5060", "unknown transport"),
        ("udp::::1:5060", "brackets"),
        ("udp:[::1:5060", "IPv6"),
        ("udp:127.0.0.1:50a", "not a number"),
        ("udp:127.0.0.1:70000", "outside"),
        ("udp::5060", "missing host"),
        ("udp", "expected"),
    ],
)
def test_parse_rejects_with_a_message_naming_the_problem(text, words):
    with pytest.raises(ValueError, match=words):
        TransportAddress.parse(text)


def test_constructor_validates():
    with pytest.raises(ValueError):
        TransportAddress("UDP", "127.0.0.1", 5060)
    with pytest.raises(ValueError):
        TransportAddress("udp", "[::1]", 5060)
    with pytest.raises(ValueError):
        TransportAddress("udp", "127.0.0.1", -1)


def test_reliable_and_secure():
    assert not TransportAddress("udp", "127.0.0.1", 1).reliable
    assert TransportAddress("tcp", "127.0.0.1", 1).reliable
    assert TransportAddress("tls", "127.0.0.1", 1).secure
    assert not TransportAddress("tcp", "127.0.0.1", 1).secure


def test_usable_as_a_connection_key():
    a = TransportAddress("tcp", "127.0.0.1", 5060)
    assert {a: 1}[TransportAddress("tcp", "127.0.0.1", 5060)] == 1
    assert a != TransportAddress("tls", "127.0.0.1", 5060)


@given(st.text(max_size=40))
def test_parse_accepts_or_raises_value_error_and_round_trips(text):
    try:
        address = TransportAddress.parse(text)
    except ValueError:
        return
    assert TransportAddress.parse(str(address)) == address
