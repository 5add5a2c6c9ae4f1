"""The RFC 4475 torture corpus replayed bit-exact at a running ``sipperc responder``.

Over UDP (one datagram each) and TCP (one connection each), every message of
/work/shared/corpora/rfc4475/ is sent to the responder process. Where the parser refuses a
request (RFC 4475 §3.1.2, and the missing/repeated mandatory fields of §3.3), the answer must
be the parser's own status (400, 416, 505...) sent where RFC 3261 §18.2.2 says; where no
answer can be sent (no usable Via, a response, a stream whose framing is lost) nothing may
come back. Two application-layer cases are checked too: an unknown required extension gets
420 (§3.3.5, ``bext01``) and an unknown body type 415 (§3.3.7, ``invut``). After the whole
corpus the responder must still answer an OPTIONS 200, and exit 0 on SIGTERM.

UDP answers go to the source address and the Via sent-by port (no ``rport`` in these
messages, mostly 5060): the test sends from a random 127.0.0.x address and listens on that
address at the port the answer is due, so it never needs 127.0.0.1:5060.
"""

from __future__ import annotations

import random
import socket
import time

import pytest

from sipperc.sip.errors import SipParseError
from sipperc.sip.framing import StreamFramer, parse_datagram
from sipperc.sip.message import Request, parse_message
from sipperc.sip.transport import TransportLayer
from sipperc.sip.transport_address import TransportAddress
from tests.interop.sip_tools import SIPP, ResponderProcess
from tests.sip.corpus import TORTURE_NAMES, torture

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(SIPP is None, reason="SIPp (apt sip-tester) missing"),
]

APPLICATION_LAYER = {"bext01": 420, "invut": 415}
QUIET = 0.3  # seconds without an answer that count as "nothing came back"


def expected_answer(data: bytes, source: TransportAddress) -> tuple[int | None, int | None]:
    """(status, destination port) the stack's parser verdict calls for; None: no answer."""
    try:
        message = parse_datagram(data) if source.transport == "udp" else parse_message(data)
    except SipParseError as error:
        answer = TransportLayer().error_response(error, source)
        if answer is None:
            return None, None
        return answer.message.status_code, answer.destination.port  # type: ignore[union-attr]
    if not isinstance(message, Request) or message.method == "ACK":
        return None, None  # responses and stray ACKs are dropped
    top = message.top_via
    return 0, TransportLayer.response_destination(top, source).port  # 0: any answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def responder():
    # One per transport: the corpus's requests would otherwise match the server transactions
    # the other transport's run left (RFC 3261 §17.2.3 matching ignores the transport).
    with ResponderProcess() as process:
        yield process


def udp_exchange(port: int, data: bytes, answer_port: int | None,
                 expect: bool) -> list[bytes]:
    """Send ``data`` from a random 127.0.0.x; what comes back to its answer port."""
    host = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        sender.bind((host, 0))
        listener.bind((host, answer_port or 0))
        source = sender if answer_port in (None, sender.getsockname()[1]) else listener
        sender.sendto(data, ("127.0.0.1", port))
        return collect(listener, sender, source, expect=expect)


def collect(*sockets: socket.socket, expect: bool) -> list[bytes]:
    """What arrives: up to the first final answer when one is expected (at most 5 s), else
    whatever comes within :data:`QUIET` seconds."""
    answers: list[bytes] = []
    for s in sockets:
        s.settimeout(0.02)
    deadline = time.monotonic() + (5.0 if expect else QUIET)
    while time.monotonic() < deadline:
        for s in sockets:
            try:
                answers.append(s.recv(65536))
            except TimeoutError:
                continue
            if expect and status_of(answers[-1]) >= 200:
                return answers
    return answers


def tcp_exchange(port: int, data: bytes, expect: bool) -> tuple[list[bytes], bool]:
    """Send ``data`` on a new connection; the answers, and whether the responder closed it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(data)
        framer = StreamFramer()
        answers: list[bytes] = []
        connection.settimeout(5.0 if expect else QUIET)
        closed = False
        while not (expect and any(status_of(a) >= 200 for a in answers)):
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            answers += [f for f in framer.feed(chunk) if isinstance(f, bytes)]
        return answers, closed


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_every_torture_message_then_options(responder, transport):
    port = responder.port(transport)
    checked = 0
    for name in TORTURE_NAMES:
        data = torture(name)
        if transport == "udp":
            status, answer_port = expected_answer(
                data, TransportAddress("udp", "127.0.0.2", 40000))  # sender port: rport only
            status = APPLICATION_LAYER.get(name, status)
            answers = udp_exchange(port, data, answer_port, expect=bool(status))
            closed = False
        else:
            framer = StreamFramer()
            try:
                frames = framer.feed(data)
            except SipParseError:
                frames = None  # framing lost: the responder closes, answering nothing
            if not frames:
                answers, _ = tcp_exchange(port, data, expect=False)
                assert answers == [], (name, answers)
                continue
            status, _ = expected_answer(frames[0], TransportAddress("tcp", "127.0.0.2", 1))
            status = APPLICATION_LAYER.get(name, status)
            answers, closed = tcp_exchange(port, data, expect=bool(status))
        finals = [a for a in answers if status_of(a) >= 200]
        if status is None:
            assert answers == [], (name, transport, answers)
        elif status:
            assert [status_of(a) for a in finals][:1] == [status], (name, transport, answers)
            checked += 1
        else:
            assert not closed, name  # a valid request: the connection stays up
    # The corpus's invalid requests really were answered (over TCP, the four whose
    # Content-Length breaks the framing close the connection instead, RFC 3261 §18.3).
    assert checked >= (20 if transport == "udp" else 16)
    # Still serving: an OPTIONS gets 200.
    options = (
        "OPTIONS sip:responder@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:9;branch=z9hG4bKafter{transport};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:torture@127.0.0.1>;tag=t1\r\n"
        "To: <sip:responder@127.0.0.1>\r\nCall-ID: after-torture\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n").encode()
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.bind(("127.0.0.1", 0))
            client.sendto(options, ("127.0.0.1", port))
            answers = collect(client, expect=True)
    else:
        answers, _ = tcp_exchange(port, options, expect=True)
    assert [status_of(a) for a in answers] == [200]
