"""SipService over real sockets on 127.0.0.1: UDP, TCP (reuse, keepalive, idle), TLS."""

from __future__ import annotations

import pathlib
import socket

from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest

from sipperc.sip import Request
from sipperc.sip.transaction_effects import (
    RequestReceived,
    ResponseReceived,
    TransactionTimeout,
    TransportFailure,
)
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import SipService, TlsConfig
from tests.perc.certs import make_identity
from tests.sip.corpus import TORTURE_NAMES, torture


class AnsweringTU:
    """Answers every request 200 (INVITE with a To tag); records everything."""

    def __init__(self, transactions: TransactionLayer, code: int = 200) -> None:
        self.transactions = transactions
        self.code = code
        self.effects: list = []
        self.waiters: list = []

    def handle_effect(self, effect, now):
        self.effects.append(effect)
        for kind, d in list(self.waiters):
            if isinstance(effect, kind):
                self.waiters.remove((kind, d))
                d.callback(effect)
        if isinstance(effect, RequestReceived) and effect.request.method != "ACK":
            response = effect.request.response(self.code, to_tag="uas1")
            return self.transactions.send_response(effect.transaction, response, now)
        return []

    def get_timer(self):
        return None

    def handle_timer(self, now):
        return []

    def wait(self, kind, timeout=5.0):
        d = defer.Deferred()
        self.waiters.append((kind, d))
        return d.addTimeout(timeout, reactor)


def options(uri="sip:bob@127.0.0.1", body=b""):
    return Request.build(
        "OPTIONS", uri, from_="<sip:alice@127.0.0.1>;tag=a1", to="<sip:bob@127.0.0.1>",
        call_id=f"c{id(body)}", cseq=1, body=body,
        content_type="text/plain" if body else None,
    )


class ServiceTests(unittest.TestCase):
    def make(self, *addresses, tls=None, **kwargs):
        transactions = TransactionLayer(transport=TransportLayer())
        service = SipService(
            transactions, [ListeningPoint(TransportAddress.parse(a)) for a in addresses],
            tls=tls, reactor=reactor, **kwargs)
        tu = AnsweringTU(transactions)
        service.set_tu(tu)
        service.startService()
        self.addCleanup(service.stopService)
        return service, tu

    def address(self, service, transport):
        return service.transactions.transport.listening_point(transport).local

    @defer.inlineCallbacks
    def test_udp_request_and_response(self):
        a, tu_a = self.make("udp:127.0.0.1:0")
        b, tu_b = self.make("udp:127.0.0.1:0")
        assert self.address(b, "udp").port != 0
        _, effects = a.transactions.send_request(options(), self.address(b, "udp"), a.now())
        waiting = tu_a.wait(ResponseReceived)
        a.process(effects)
        got = yield waiting
        assert got.response.status_code == 200
        (request,) = [e for e in tu_b.effects if isinstance(e, RequestReceived)]
        assert request.source == self.address(a, "udp")

    @defer.inlineCallbacks
    def test_tcp_reuses_the_connection_both_ways(self):
        a, tu_a = self.make("tcp:127.0.0.1:0")
        b, tu_b = self.make("tcp:127.0.0.1:0")
        for _ in range(2):
            _, effects = a.transactions.send_request(options(), self.address(b, "tcp"), a.now())
            waiting = tu_a.wait(ResponseReceived)
            a.process(effects)
            yield waiting
        # B answers over the connection A opened, and B's own request to A's source goes
        # over it too: one connection in all.
        inbound = [e.source for e in tu_b.effects if isinstance(e, RequestReceived)]
        assert len(set(inbound)) == 1
        _, effects = b.transactions.send_request(options(), inbound[0], b.now())
        waiting = tu_b.wait(ResponseReceived)
        b.process(effects)
        yield waiting
        assert len({id(c) for c in a._connections.values()}) == 1
        assert len({id(c) for c in b._connections.values()}) == 1

    @defer.inlineCallbacks
    def test_large_udp_request_goes_over_tcp(self):
        a, tu_a = self.make("udp:127.0.0.1:0", "tcp:127.0.0.1:0")
        b, tu_b = self.make("udp:127.0.0.1:0", "tcp:127.0.0.1:0")
        port = self.address(b, "tcp").port
        # RFC 3261 §18.1.1: same address and port, moved to TCP (B's TCP port here).
        target = TransportAddress("udp", "127.0.0.1", port)
        _, effects = a.transactions.send_request(options(body=b"x" * 1500), target, a.now())
        waiting = tu_a.wait(ResponseReceived)
        a.process(effects)
        yield waiting
        (request,) = [e for e in tu_b.effects if isinstance(e, RequestReceived)]
        assert request.source.transport == "tcp" and len(request.request.body) == 1500

    @defer.inlineCallbacks
    def test_malformed_datagram_is_answered_and_the_service_keeps_serving(self):
        b, _ = self.make("udp:127.0.0.1:0")
        target = self.address(b, "udp")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        port = sock.getsockname()[1]
        bad = (
            "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKm1\r\n"
            "Max-Forwards: lots\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: m1\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        good = bad.replace(b"lots", b"70").replace(b"m1", b"m2")
        for datagram in (bad, b"\x00\xff garbage", good):
            sock.sendto(datagram, (target.host, target.port))
        answers = []
        for _ in range(50):
            yield deferLater(reactor, 0.02, lambda: None)
            try:
                while True:
                    answers.append(sock.recv(65535))
            except BlockingIOError:
                pass
            if len(answers) >= 2:
                break
        assert [a.split(b" ", 2)[1] for a in answers] == [b"400", b"200"]

    @defer.inlineCallbacks
    def test_unreachable_tcp_peer_is_a_transport_failure(self):
        a, tu_a = self.make("tcp:127.0.0.1:0")
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        txn, effects = a.transactions.send_request(
            options(), TransportAddress("tcp", "127.0.0.1", port), a.now())
        waiting = tu_a.wait(TransportFailure)
        a.process(effects)
        failure = yield waiting
        assert failure.transaction == txn

    @defer.inlineCallbacks
    def test_idle_connections_close_and_keepalive_keeps_them(self):
        a, tu_a = self.make("tcp:127.0.0.1:0", idle_timeout=10.0, keepalive_interval=0.05)
        b, _ = self.make("tcp:127.0.0.1:0", idle_timeout=0.3)
        _, effects = a.transactions.send_request(options(), self.address(b, "tcp"), a.now())
        waiting = tu_a.wait(ResponseReceived)
        a.process(effects)
        yield waiting
        yield deferLater(reactor, 0.6, lambda: None)
        assert b._connections  # pings (answered with pongs) kept it alive
        a.keepalive_interval = None
        for connection in a._connections.values():
            connection._keepalive.cancel()
        yield deferLater(reactor, 0.8, lambda: None)
        assert not b._connections and not a._connections

    @defer.inlineCallbacks
    def test_stopping_waits_until_open_connections_are_closed(self):
        a = SipService(TransactionLayer(transport=TransportLayer()),
                       [ListeningPoint(TransportAddress("tcp", "127.0.0.1", 0))],
                       reactor=reactor, keepalive_interval=30.0)
        tu_a = AnsweringTU(a.transactions)
        a.set_tu(tu_a)
        a.startService()
        b, _ = self.make("tcp:127.0.0.1:0")
        _, effects = a.transactions.send_request(options(), self.address(b, "tcp"), a.now())
        waiting = tu_a.wait(ResponseReceived)
        a.process(effects)
        yield waiting
        (connection,) = set(a._connections.values())
        # The Deferred fires only once the connection is gone, with its idle check and
        # keepalive timers: a test (or a twistd shutdown) waiting for it finds nothing left.
        yield a.stopService()
        assert connection.closed.called and not a._connections
        mine = [c for c in reactor.getDelayedCalls()
                if getattr(c.func, "__self__", None) in (a, connection)]
        assert mine == []

    @defer.inlineCallbacks
    def test_tls_with_verification_against_a_ca(self):
        directory = pathlib.Path(self.mktemp())
        directory.mkdir()
        ca = make_identity("Test CA", ca=True)
        server = make_identity("sip.test", issuer=ca, dns_names=("sip.test",))
        cert, key = server.write(directory, "server")
        ca_cert, _ = ca.write(directory, "ca")
        b, tu_b = self.make("tls:127.0.0.1:0", tls=TlsConfig(certificate=cert, private_key=key))
        # Clients without a certificate of their own: TLS connections out only.
        good, tu_good = self.make("tls:127.0.0.1:5999", tls=TlsConfig(trust=ca_cert))
        _, effects = good.transactions.send_request(
            options("sips:bob@sip.test"), self.address(b, "tls"), good.now())
        waiting = tu_good.wait(ResponseReceived)
        good.process(effects)
        got = yield waiting
        assert got.response.status_code == 200
        # Verification is on by default: a client trusting only the platform CAs refuses.
        bad, tu_bad = self.make("tls:127.0.0.1:5999", tls=TlsConfig())
        _, effects = bad.transactions.send_request(
            options("sips:bob@sip.test"), self.address(b, "tls"), bad.now())
        waiting = tu_bad.wait(TransportFailure)
        bad.process(effects)
        yield waiting
        # The wrong name fails too, even with the right CA (on a new connection: an open one
        # to the same address is reused, RFC 3261 §18.3).
        other, tu_other = self.make("tls:127.0.0.1:5999", tls=TlsConfig(trust=ca_cert))
        _, effects = other.transactions.send_request(
            options("sips:bob@other.test"), self.address(b, "tls"), other.now())
        waiting = tu_other.wait(TransportFailure)
        other.process(effects)
        yield waiting
        assert not [e for e in tu_b.effects if isinstance(e, RequestReceived)][1:]

    def test_timeouts_reach_the_tu_through_the_single_timer(self):
        clock = Clock()
        transactions = TransactionLayer(transport=TransportLayer(
            [ListeningPoint(TransportAddress("udp", "127.0.0.1", 5060))]))
        service = SipService(transactions, [], reactor=clock)
        tu = AnsweringTU(transactions)
        service.set_tu(tu)
        sent = []
        service._send = lambda effect, now: sent.append(now)
        txn, effects = transactions.send_request(
            options(), TransportAddress("udp", "127.0.0.2", 5060), 0.0)
        service.process(effects)
        for _ in range(70):
            clock.advance(0.5)
        assert sent == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        assert [e for e in tu.effects if isinstance(e, TransactionTimeout)] == [
            TransactionTimeout(txn)]
        assert len(clock.getDelayedCalls()) == 0


class TortureTests(unittest.TestCase):
    """The RFC 4475 corpus through the edge: everything answered or dropped, nothing raised."""

    def test_every_torture_message_over_udp_and_tcp_then_a_good_request(self):
        for transport in ("udp", "tcp"):
            transactions = TransactionLayer(transport=TransportLayer(
                [ListeningPoint(TransportAddress(transport, "127.0.0.1", 5060))]))
            service = SipService(transactions, [], reactor=Clock())
            service.set_tu(AnsweringTU(transactions))
            sent = []
            service._send = lambda effect, now, sent=sent: sent.append(effect)
            source = TransportAddress(transport, "192.0.2.1", 5060)
            for name in TORTURE_NAMES:
                service.receive_bytes(torture(name), source)
            codes = {e.message.status_code for e in sent if hasattr(e.message, "status_code")}
            assert {200, 400, 505} <= codes, codes
            sent.clear()
            good = options()
            good = good.prepend("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKafter")
            service.receive_bytes(bytes(good), source)
            assert [e.message.status_code for e in sent] == [200]


class FailingTU(AnsweringTU):
    def handle_effect(self, effect, now):
        if isinstance(effect, RequestReceived) and effect.request.call_id == "boom":
            raise RuntimeError("handler bug")
        return super().handle_effect(effect, now)


class RobustnessTests(unittest.TestCase):
    def test_a_failing_tu_is_logged_and_the_service_keeps_serving(self):
        transactions = TransactionLayer(transport=TransportLayer(
            [ListeningPoint(TransportAddress("udp", "127.0.0.1", 5060))]))
        service = SipService(transactions, [], reactor=Clock())
        service.set_tu(FailingTU(transactions))
        sent = []
        service._send = lambda effect, now: sent.append(effect)
        source = TransportAddress("udp", "192.0.2.1", 5060)
        boom = Request.build(
            "OPTIONS", "sip:bob@127.0.0.1", from_="<sip:a@x>;tag=1", to="<sip:b@y>",
            call_id="boom", cseq=1, via="SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKboom")
        service.receive_bytes(bytes(boom), source)
        assert len(self.flushLoggedErrors(RuntimeError)) == 1
        good = options().prepend("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKgood")
        service.receive_bytes(bytes(good), source)
        assert [e.message.status_code for e in sent] == [200]


class StopTests(unittest.TestCase):
    def test_stopping_leaves_no_delayed_call_even_when_effects_come_later(self):
        # A TCP connection closing after stopService reports its lost messages through
        # process(): that must not arm the timer again.
        clock = Clock()
        transactions = TransactionLayer(transport=TransportLayer())
        service = SipService(
            transactions, [ListeningPoint(TransportAddress("udp", "127.0.0.1", 0))],
            reactor=reactor)
        service.set_tu(AnsweringTU(transactions))
        service.startService()
        service.reactor = clock  # sockets on the real reactor, the timer on the test clock
        service._send = lambda effect, now: None
        _, effects = transactions.send_request(
            options(), TransportAddress("udp", "127.0.0.2", 5060), 0.0)
        service.process(effects)
        assert len(clock.getDelayedCalls()) == 1
        stopped = service.stopService()
        assert clock.getDelayedCalls() == []
        _, effects = transactions.send_request(
            options(), TransportAddress("udp", "127.0.0.2", 5060), 0.0)
        service.process(effects)
        assert clock.getDelayedCalls() == []
        return stopped
