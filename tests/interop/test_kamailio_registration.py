"""RegistrationClient against a real Kamailio: digest (MD5 and SHA-256), 423, refresh, unregister.

The REGISTERs travel over real UDP through our SipService and transaction layer; a MESSAGE
sent through Kamailio to the AOR proves the binding is in its location table.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from sipperc.sip import Request, Response
from sipperc.sip import headers as h
from sipperc.sip.digest import DigestAccount, DigestChallenge, DigestClient, DigestCredentials
from sipperc.sip.locate import Target
from sipperc.sip.registration import (
    Registered,
    RegistrationClient,
    RegistrationFailed,
    RegistrationTU,
    Unregistered,
)
from sipperc.sip.timers import TimerConfig
from sipperc.sip.transaction_effects import (
    RequestReceived,
    ResponseReceived,
    SendMessage,
)
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import SipService
from tests.interop.kamailio import Kamailio, KamailioUser

pytestmark = pytest.mark.interop

DOMAIN = "sipperc.test"


class RecordingTU:
    """The transaction user of the test's SipService: the RegistrationTUs, plus a UAS that
    answers 200 to whatever request reaches it. Keeps every response received and every
    message sent (``wire``), and the events (``events``).
    """

    def __init__(self, layer: TransactionLayer) -> None:
        self.layer = layer
        self.registrations: list[RegistrationTU] = []
        self.events: list[object] = []
        self.wire: list[tuple[str, Request | Response]] = []

    def record(self, outputs) -> list[object]:
        outputs = list(outputs)
        for item in outputs:
            if isinstance(item, SendMessage):
                self.wire.append(("out", item.message))
            else:
                self.events.append(item)
        return outputs

    def handle_effect(self, effect, now):
        if isinstance(effect, ResponseReceived):
            self.wire.append(("in", effect.response))
            self.events.append(effect)
        if isinstance(effect, RequestReceived):
            self.events.append(effect)
            response = effect.request.response(200)
            return self.record(self.layer.send_response(effect.transaction, response, now))
        outputs: list[object] = []
        for registration in self.registrations:
            outputs.extend(registration.handle_effect(effect, now))
        return self.record(outputs)

    def get_timer(self):
        deadlines = [r.get_timer() for r in self.registrations]
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timer(self, now):
        outputs: list[object] = []
        for registration in self.registrations:
            outputs.extend(registration.handle_timer(now))
        return self.record(outputs)


class KamailioRegistrationTests(unittest.TestCase):
    timeout = 30
    start_kamailio: Callable[..., Kamailio]

    @pytest.fixture(autouse=True)
    def _kamailio(self, kamailio):
        self.start_kamailio = kamailio

    def setUp(self) -> None:
        layer = TransactionLayer(TimerConfig(t1=0.1))
        self.edge = RecordingTU(layer)
        self.service = SipService(
            layer, [ListeningPoint(TransportAddress("udp", "127.0.0.1", 0))], tu=self.edge
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        (point,) = self.service.listening_points
        self.local = point.local

    def feed(self, outputs) -> None:
        self.service.process(self.edge.record(outputs))

    @defer.inlineCallbacks
    def wait_for(self, predicate, seconds: float = 10.0):
        deadline = reactor.seconds() + seconds
        while not predicate():
            assert reactor.seconds() < deadline, self.edge.events
            yield task.deferLater(reactor, 0.02, lambda: None)

    def registration(self, server: Kamailio, user: str, auth_user: str, password: str, **kw):
        digest = DigestClient([DigestAccount(auth_user, password, servers=(DOMAIN,))])
        client = RegistrationClient(
            f"sip:{user}@{DOMAIN}",
            [f"<sip:{user}@127.0.0.1:{self.local.port}>"],
            digest=digest,
            **kw,
        )
        target = Target(TransportAddress("udp", *server.address), DOMAIN)
        tu = RegistrationTU(self.edge.layer, client, [target])
        self.edge.registrations.append(tu)
        return tu

    def message(self, user: str, sender: str = "sip:visitor@elsewhere.test") -> Request:
        """A MESSAGE to ``user``'s AOR from ``sender``."""
        serial = len(self.edge.events)
        return Request.build(
            "MESSAGE",
            f"sip:{user}@{DOMAIN}",
            from_=f"<{sender}>;tag=v{serial}",
            to=f"<sip:{user}@{DOMAIN}>",
            call_id=f"msg-{serial}@127.0.0.1",
            cseq=1,
            body=b"hello",
            content_type="text/plain",
        )

    def send_through(self, server: Kamailio, request: Request):
        """Send ``request`` to Kamailio; returns a function giving its final response."""
        txn, effects = self.edge.layer.send_request(
            request, TransportAddress("udp", *server.address), reactor.seconds()
        )
        self.feed(effects)

        def final():
            for event in self.edge.events:
                if (
                    isinstance(event, ResponseReceived)
                    and event.transaction == txn
                    and event.response.status_code >= 200
                ):
                    return event.response
            return None

        return final

    def message_through(self, server: Kamailio, user: str):
        """A MESSAGE from a foreign user (not challenged) via Kamailio to ``user``."""
        return self.send_through(server, self.message(user))

    @defer.inlineCallbacks
    def check_register_refresh_unregister(self, algorithm: str):
        server = self.start_kamailio(
            users=[KamailioUser("alice", "Circle of Life", auth_user="alice-auth")],
            algorithm=algorithm,
            min_expires=3,
            domain=DOMAIN,
        )
        tu = self.registration(server, "alice", "alice-auth", "Circle of Life", expires=2)
        self.feed(tu.start(reactor.seconds()))
        registered = lambda: [e for e in self.edge.events if isinstance(e, Registered)]  # noqa: E731
        yield self.wait_for(lambda: len(registered()) >= 1)
        first = registered()[0]
        assert first.expires == 3  # 423 Interval Too Brief raised it to Min-Expires
        responses = [m for d, m in self.edge.wire if d == "in" and isinstance(m, Response)]
        assert [r.status_code for r in responses[:3]] == [401, 423, 200]
        challenge = DigestChallenge.parse(responses[0].first(h.WWW_AUTHENTICATE))
        assert challenge.algorithm.value == algorithm and challenge.qop == ("auth",)
        registers = self._registers()
        credentials = DigestCredentials.parse(registers[1].first(h.AUTHORIZATION))
        assert credentials.username == "alice-auth" and credentials.algorithm.value == algorithm
        assert str(first.bindings[0].uri) == f"sip:alice@127.0.0.1:{self.local.port}"

        # Kamailio's location table routes a MESSAGE for the AOR to us.
        final = self.message_through(server, "alice")
        yield self.wait_for(lambda: final() is not None)
        assert final().status_code == 200
        delivered = [e.request for e in self.edge.events if isinstance(e, RequestReceived)]
        assert delivered[-1].method == "MESSAGE" and delivered[-1].body == b"hello"

        # A local user is challenged by the proxy (407); the answer goes through.
        digest = DigestClient([DigestAccount("alice-auth", "Circle of Life", servers=(DOMAIN,))])
        request = self.message("alice", sender=f"sip:alice@{DOMAIN}")
        final = self.send_through(server, request)
        yield self.wait_for(lambda: final() is not None)
        challenge = final()
        assert challenge.status_code == 407
        proxy_challenge = DigestChallenge.parse(challenge.first(h.PROXY_AUTHENTICATE))
        assert proxy_challenge.algorithm.value == algorithm
        retry = digest.answer_challenge(request, challenge, DOMAIN)
        assert retry is not None and retry.get("Proxy-Authorization")
        final = self.send_through(server, retry)
        yield self.wait_for(lambda: final() is not None)
        assert final().status_code == 200
        delivered = [e.request for e in self.edge.events if isinstance(e, RequestReceived)]
        assert delivered[-1].call_id == request.call_id
        assert "Proxy-Authorization" not in delivered[-1]  # consume_credentials()
        assert digest.answer_challenge(retry, challenge, DOMAIN) is None  # no loop

        # The refresh comes at half the 3 s, authorized up front (no new 401).
        yield self.wait_for(lambda: len(registered()) >= 2, seconds=5)
        refresh = self._registers()[-1]
        assert DigestCredentials.parse(refresh.first(h.AUTHORIZATION)).nc >= 2
        challenges = [r for r in self._responses() if r.status_code == 401]
        assert len(challenges) == 1

        self.feed(tu.stop(reactor.seconds()))
        yield self.wait_for(lambda: any(isinstance(e, Unregistered) for e in self.edge.events))
        final = self.message_through(server, "alice")
        yield self.wait_for(lambda: final() is not None)
        assert final().status_code == 404

    def _registers(self) -> list[Request]:
        return [
            m
            for d, m in self.edge.wire
            if d == "out" and isinstance(m, Request) and m.method == "REGISTER"
        ]

    def _responses(self) -> list[Response]:
        return [m for d, m in self.edge.wire if d == "in" and isinstance(m, Response)]

    def test_register_with_md5_digest(self):
        return self.check_register_refresh_unregister("MD5")

    def test_register_with_sha256_digest(self):
        return self.check_register_refresh_unregister("SHA-256")

    @defer.inlineCallbacks
    def test_wrong_password_is_not_retried_in_a_loop(self):
        server = self.start_kamailio(
            users=[KamailioUser("bob", "right")], algorithm="SHA-256", domain=DOMAIN
        )
        tu = self.registration(server, "bob", "bob", "wrong")
        self.feed(tu.start(reactor.seconds()))
        yield self.wait_for(
            lambda: any(isinstance(e, RegistrationFailed) for e in self.edge.events)
        )
        (failed,) = [e for e in self.edge.events if isinstance(e, RegistrationFailed)]
        assert failed.status == 401 and failed.retry_in is not None and failed.retry_in >= 15
        assert [r.status_code for r in self._responses()] == [401, 401]
