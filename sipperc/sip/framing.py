"""Finding message boundaries: stream framing for TCP/TLS, datagram parsing for UDP.

On a stream (RFC 3261 §18.3) a message ends ``Content-Length`` octets after the blank line,
so the header is mandatory there; CRLFs between messages are keepalives (RFC 5626 §4.4.1: a
double CRLF "ping" is answered by a single CRLF "pong"). A datagram holds exactly one message
(§18.1.1), or a keepalive. Both enforce size limits so a peer cannot make us buffer without
bound. Sans-I/O: bytes in, frames and events out; the transport decides what to do with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipperc.sip import grammar
from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import header_key
from sipperc.sip.message import (
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_HEADER_SIZE,
    DEFAULT_URI_SCHEMES,
    Request,
    Response,
    parse_message,
)

__all__ = ["KeepAlive", "StreamFramer", "parse_datagram"]


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A CRLF keepalive (RFC 5626 §4.4.1).

    ``ping`` for CRLFCRLF (answer with one CRLF), otherwise a pong.
    """

    ping: bool


class StreamFramer:
    """Cuts a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3).

    :meth:`feed` returns complete messages (as bytes, for :func:`parse_message`) and
    keepalives. A stream whose framing is lost (no or bad Content-Length, header section or
    body over the limits) raises :class:`SipParseError`; the connection must then be closed,
    as nothing after that point can be delimited.
    """

    __slots__ = ("_buffer", "expect_pongs", "max_body_size", "max_header_size")

    def __init__(
        self,
        *,
        expect_pongs: bool = False,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self._buffer = bytearray()
        self.expect_pongs = expect_pongs
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned as a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | KeepAlive]:
        """Add received octets; return every frame they complete, in order.

        The side that sends keepalive pings (RFC 5626 §4.4.1: the flow's client) sets
        ``expect_pongs``: each CRLF it receives is reported as a pong at once. Otherwise a
        CRLFCRLF is a ping, and a lone CRLF before a message is ignored (RFC 3261 §7.5).
        """
        buf = self._buffer
        buf += data
        frames: list[bytes | KeepAlive] = []
        while buf:
            if buf.startswith(b"\r\n"):
                if self.expect_pongs:
                    frames.append(KeepAlive(ping=False))
                    del buf[:2]
                elif buf.startswith(b"\r\n\r\n"):
                    frames.append(KeepAlive(ping=True))
                    del buf[:4]
                elif len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                    break  # maybe the start of a ping
                else:
                    del buf[:2]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_header_size:
                    raise SipParseError(513, "Message Too Large")
                break
            if end > self.max_header_size:
                raise SipParseError(513, "Message Too Large")
            length = self._content_length(bytes(buf[:end]))
            if length > self.max_body_size:
                raise SipParseError(413, "Request Entity Too Large")
            total = end + 4 + length
            if len(buf) < total:
                break
            frames.append(bytes(buf[:total]))
            del buf[:total]
        return frames

    @staticmethod
    def _content_length(head: bytes) -> int:
        """The Content-Length of a header section (mandatory on streams, RFC 3261 §18.3)."""
        found: int | None = None
        lines = head.decode("utf-8", "surrogateescape").split("\r\n")
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or header_key(name.rstrip(" \t")) != "content-length":
                continue
            value = value.strip(" \t")
            if found is not None or grammar.DIGITS.fullmatch(value) is None:
                raise SipParseError(400, "Bad Content-Length header", header="Content-Length")
            found = int(value)
        if found is None:
            raise SipParseError(400, "Missing Content-Length header", header="Content-Length")
        return found


def parse_datagram(
    data: bytes,
    *,
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    uri_schemes: frozenset[str] = DEFAULT_URI_SCHEMES,
) -> Request | Response | KeepAlive:
    """Parse one UDP datagram: a message (RFC 3261 §18.1.1) or a CRLF keepalive.

    Octets after Content-Length are ignored.
    """
    if not data.strip(b"\r\n"):
        return KeepAlive(ping=data.startswith(b"\r\n\r\n"))
    return parse_message(
        data,
        max_header_size=max_header_size,
        max_body_size=max_body_size,
        uri_schemes=uri_schemes,
    )
