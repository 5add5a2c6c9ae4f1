"""SIPp's built-in ``uac`` against a SipService with a minimal answering TU, UDP and TCP.

Black-box check that our transactions survive a real peer's retransmissions: with SIPp
dropping packets (``-lost``) over UDP, INVITE and BYE retransmissions must be absorbed or
answered again, and the 2xx retransmitted by the TU until the ACK (RFC 3261 §13.3.1.4, RFC
6026), so that every call completes.
"""

from __future__ import annotations

import shutil
import socket

import pytest
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from sipperc.sip.transaction_effects import AckReceived, RequestReceived
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transactions import TransactionStateError
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import SipService

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (apt sip-tester) missing"),
]

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class AutoAnswer:
    """Answers INVITE and BYE with 200; retransmits each INVITE's 200 until its ACK."""

    def __init__(self, transactions: TransactionLayer) -> None:
        self.transactions = transactions
        self.unacked: dict[str, list] = {}  # Call-ID -> [transaction, 200, due, interval]
        self.calls = 0

    def handle_effect(self, effect, now):
        t = self.transactions
        if isinstance(effect, RequestReceived):
            request = effect.request
            if request.method == "INVITE":
                self.calls += 1
                contact = t.transport.listening_point(effect.source.transport).contact_uri("uas")
                ok = request.response(200, contact=f"<{contact}>", body=SDP,
                                      content_type="application/sdp")
                self.unacked[request.call_id] = [effect.transaction, ok, now + 0.5, 0.5]
                return t.send_response(effect.transaction, ok, now)
            return t.send_response(effect.transaction, request.response(200), now)
        if isinstance(effect, AckReceived):
            self.unacked.pop(effect.ack.call_id, None)
        return []

    def get_timer(self):
        return min((entry[2] for entry in self.unacked.values()), default=None)

    def handle_timer(self, now):
        effects = []
        for call_id, entry in list(self.unacked.items()):
            txn, ok, due, interval = entry
            if due > now:
                continue
            try:
                effects.extend(self.transactions.send_response(txn, ok, now))
            except TransactionStateError:  # Timer L ended it: give up (§13.3.1.4)
                del self.unacked[call_id]
                continue
            entry[3] = min(2 * interval, 4.0)
            entry[2] = now + entry[3]
        return effects


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1, for SIPp's own socket."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port


class SippUacTests(unittest.TestCase):
    timeout = 120

    def start(self, transport: str):
        transactions = TransactionLayer(transport=TransportLayer())
        service = SipService(
            transactions, [ListeningPoint(TransportAddress(transport, "127.0.0.1", 0))],
            reactor=reactor)
        tu = AutoAnswer(transactions)
        service.set_tu(tu)
        service.startService()
        self.addCleanup(service.stopService)
        return service, tu, transactions.transport.listening_point(transport).local.port

    @inlineCallbacks
    def run_sipp(self, transport: str, sipp_transport: str, calls: int, rate: int, *extra: str):
        _, tu, port = self.start(transport)
        out, err, code = yield getProcessOutputAndValue(
            shutil.which("sipp"),
            ["-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(free_port()),
             "-t", sipp_transport, "-m", str(calls), "-r", str(rate), "-d", "10",
             "-nostdin", "-timeout", "60s", "-timeout_error", "-max_retrans", "10",
             "-max_socket", "1000", *extra],
            env={"TERM": "dumb"}, reactor=reactor)
        summary = out.decode(errors="replace")[-3000:] + err.decode(errors="replace")[-1000:]
        assert code == 0, summary  # every call completed
        assert tu.calls >= calls
        return tu

    @inlineCallbacks
    def test_udp_with_packet_loss(self):
        tu = yield self.run_sipp("udp", "u1", 100, 50, "-lost", "5")
        # Lost ACKs are not retransmitted by SIPp's scenario: those 200s were retransmitted
        # until Timer L; every other call was ACKed.
        assert len(tu.unacked) < 20

    @inlineCallbacks
    def test_tcp_one_connection(self):
        tu = yield self.run_sipp("tcp", "t1", 100, 50)
        assert not tu.unacked

    @inlineCallbacks
    def test_tcp_connection_per_call(self):
        tu = yield self.run_sipp("tcp", "tn", 50, 25)
        assert not tu.unacked
