"""Talking reports: the Media Distributor tells the SIP focus who is talking (sans-I/O).

The focus shows who is talking in the RFC 4575 roster, but only the Media Distributor hears
it: it picks the speakers from the RFC 6464 audio levels (:mod:`sipperc.perc.switching`,
whose :class:`~sipperc.perc.switching.TalkingChanged` has the selection's hysteresis). This
small protocol of ours carries that one fact from the Media Distributor to the focus.

Trust and what each side learns. An endpoint is named by its ``a=tls-id`` (RFC 8842), which
its DTLS ClientHello carries as ``external_session_id`` (RFC 8844 §4.3) through the Media
Distributor, and which the focus announced to the Key Distributor from the endpoint's SDP: a
random public value, no key. The Media Distributor learns no SIP identity, the focus no media
address; a NAT between endpoint and Media Distributor changes nothing. No message carries key
material. A malicious Media Distributor can only make someone appear (not) to talk, which
it can do anyway by (not) forwarding their media.

Transport. TLS 1.3 over TCP, both sides authenticated (:mod:`sipperc.perc.tunnel_tls`), the
focus listening, each Media Distributor connecting with reconnect back-off. Framing as RFC 9185
``TunnelMessage`` (one octet type, two octets body length, body in the RFC 8446 §3
presentation language)::

    Hello(1)   { uint8 version; opaque distributor_name<0..255>; }   /* first, always */
    Talking(2) { opaque room<1..64>; opaque tls_id<20..255>; uint8 talking; /* 0 or 1 */ }

The version is 0. After Hello the Media Distributor sends ``Talking(1)`` for every endpoint
talking now (the state, not only later changes), then each change. When the connection drops,
the focus takes everyone that connection reported as no longer talking. Malformed input, an
unknown type or version, or anything before Hello ends the connection with a
:class:`SpeakerReportError` naming what was wrong.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipperc.dtls.alert import DecodeError
from sipperc.dtls.presentation import Reader, vector
from sipperc.perc.tunnel_messages import TunnelMessageReader

SPEAKER_REPORT_VERSION = 0


class SpeakerReportError(Exception):
    """Bytes that are not a well-formed talking report, or one out of order."""


class SpeakerMessageType(enum.IntEnum):
    """Message types of the talking reports."""

    HELLO = 1
    TALKING = 2


@dataclass(frozen=True, slots=True)
class SpeakerHello:
    """The Media Distributor's first message on every connection."""

    version: int = SPEAKER_REPORT_VERSION
    distributor_name: str = ""


@dataclass(frozen=True, slots=True)
class Talking:
    """The endpoint with ``a=tls-id`` ``tls_id`` in ``room`` is (not) talking now."""

    room: str
    tls_id: bytes
    talking: bool


SpeakerMessage = SpeakerHello | Talking


def encode_speaker_message(message: SpeakerMessage) -> bytes:
    """The wire form of one message: type, body length, body."""
    if isinstance(message, SpeakerHello):
        kind = SpeakerMessageType.HELLO
        body = bytes([message.version]) + vector(1, message.distributor_name.encode())
    else:
        if not 1 <= len(message.room.encode()) <= 64 or not 20 <= len(message.tls_id) <= 255:
            raise ValueError("Talking: room is 1-64 octets, tls_id 20-255")
        kind = SpeakerMessageType.TALKING
        body = (vector(1, message.room.encode()) + vector(1, message.tls_id)
                + bytes([message.talking]))
    return bytes([kind]) + len(body).to_bytes(2, "big") + body


def decode_speaker_body(code: int, body: bytes) -> SpeakerMessage:
    """One message from its type code and body; SpeakerReportError naming the fault."""
    try:
        kind = SpeakerMessageType(code)
    except ValueError:
        raise SpeakerReportError(f"unknown message type {code}") from None
    r = Reader(body)
    try:
        message: SpeakerMessage
        if kind is SpeakerMessageType.HELLO:
            version = r.uint(1, "version")
            message = SpeakerHello(version, r.vector(1, "distributor_name", 0, 255).decode())
        else:
            room = r.vector(1, "room", 1, 64).decode()
            tls_id = r.vector(1, "tls_id", 20, 255)
            talking = r.uint(1, "talking")
            if talking > 1:
                raise DecodeError(f"talking is {talking}, not 0 or 1")
            message = Talking(room, tls_id, bool(talking))
        r.end("body")
    except DecodeError as exc:
        raise SpeakerReportError(f"{kind.name}: {exc.message}") from None
    except UnicodeDecodeError:
        raise SpeakerReportError(f"{kind.name}: a name that is not UTF-8") from None
    return message


class SpeakerReportReceiver:
    """The focus's side of one connection: bytes in, :class:`Talking` reports out.

    :meth:`receive_data` raises :class:`SpeakerReportError` on anything malformed or out of
    order (the edge closes the connection). :attr:`talking` is what this connection says is
    talking now, so the edge can take it all back when the connection drops.
    """

    def __init__(self) -> None:
        self._reader = TunnelMessageReader()
        self.hello: SpeakerHello | None = None
        self.talking: set[tuple[str, bytes]] = set()

    def receive_data(self, data: bytes) -> list[Talking]:
        """Feed what TLS delivered; the complete reports, in order."""
        self._reader.feed(data)
        reports: list[Talking] = []
        for frame in self._reader.frames():
            message = decode_speaker_body(frame.msg_type, frame.body)
            if self.hello is None:
                if not isinstance(message, SpeakerHello):
                    raise SpeakerReportError("the first message must be Hello")
                if message.version != SPEAKER_REPORT_VERSION:
                    raise SpeakerReportError(f"version {message.version} is not supported")
                self.hello = message
                continue
            if not isinstance(message, Talking):
                raise SpeakerReportError("Hello sent twice")
            key = (message.room, message.tls_id)
            if message.talking:
                self.talking.add(key)
            else:
                self.talking.discard(key)
            reports.append(message)
        return reports


__all__ = ["SPEAKER_REPORT_VERSION", "SpeakerHello", "SpeakerMessage", "SpeakerMessageType",
           "SpeakerReportError", "SpeakerReportReceiver", "Talking", "decode_speaker_body",
           "encode_speaker_message"]
