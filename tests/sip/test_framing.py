import pytest

from sipperc.sip import KeepAlive, SipParseError, StreamFramer, parse_datagram, parse_message
from tests.sip.corpus import INVITE, torture


def test_stream_framing_byte_by_byte_with_keepalives():
    stream = b"\r\n\r\n" + INVITE + INVITE + b"\r\n" + torture("esc01")
    framer = StreamFramer()
    frames: list[bytes | KeepAlive] = []
    for i in range(len(stream)):
        frames += framer.feed(stream[i : i + 1])
    assert frames == [KeepAlive(ping=True), INVITE, INVITE, torture("esc01")]
    assert framer.buffered == 0
    client = StreamFramer(expect_pongs=True)  # the side that pings sees each CRLF as a pong
    assert client.feed(b"\r\n") == [KeepAlive(ping=False)]
    assert client.feed(INVITE) == [INVITE]
    assert parse_message(frames[1]) == parse_message(INVITE)  # type: ignore[arg-type]


def test_stream_framing_needs_a_valid_content_length():
    for bad in (
        b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n",
        b"OPTIONS sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nab",
        b"OPTIONS sip:a SIP/2.0\r\nContent-Length: -5\r\n\r\n",
    ):
        with pytest.raises(SipParseError) as info:
            StreamFramer().feed(bad)
        assert info.value.status_code == 400 and info.value.header == "Content-Length"


def test_stream_limits():
    with pytest.raises(SipParseError) as info:
        StreamFramer(max_header_size=64).feed(b"X" * 65)
    assert info.value.status_code == 513
    with pytest.raises(SipParseError) as info:
        StreamFramer(max_body_size=4).feed(INVITE)
    assert info.value.status_code == 413
    framer = StreamFramer()
    assert framer.feed(INVITE[:-1]) == [] and framer.feed(INVITE[-1:]) == [INVITE]


def test_datagrams():
    assert parse_datagram(b"\r\n\r\n") == KeepAlive(ping=True)
    assert parse_datagram(b"\r\n") == KeepAlive(ping=False)
    assert parse_datagram(torture("dblreq")).method == "REGISTER"  # type: ignore[union-attr]
    with pytest.raises(SipParseError):
        parse_datagram(torture("clerr"))
