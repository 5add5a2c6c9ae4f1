"""The tunnel over real TLS on 127.0.0.1, and the reconnect back-off on a Clock."""

import uuid

import pytest
from twisted.internet import defer, reactor
from twisted.internet.error import ConnectionLost, ConnectionRefusedError
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest

from sipperc.perc import tunnel_service
from sipperc.perc.tunnel_messages import MediaKeys, TunneledDtls, new_association_id
from sipperc.perc.tunnel_service import (
    ReconnectBackoff,
    TunnelClientService,
    listen_for_tunnels,
)
from sipperc.perc.tunnel_tls import MutualTLS, PeerTrust
from sipperc.srtp import Profile
from tests.perc.certs import make_identity, pinned_pair

DOUBLE_128 = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
DOUBLE_256 = Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM


class RecordingHandler:
    """A Media or Key Distributor application that records what its tunnels report."""

    def __init__(self):
        self.opened = []
        self.messages = []
        self.closed = []
        self._waiters = []

    def tunnel_opened(self, tunnel):
        self.opened.append(tunnel)
        self._wake()

    def tunnel_message(self, tunnel, message):
        self.messages.append((tunnel, message))
        self._wake()

    def tunnel_closed(self, tunnel, closed):
        self.closed.append((tunnel, closed))
        self._wake()

    def _wake(self):
        waiters, self._waiters = self._waiters, []
        for predicate, waiter in waiters:
            if predicate():
                waiter.callback(None)
            else:
                self._waiters.append((predicate, waiter))

    def until(self, predicate, timeout=5.0):
        """A Deferred that fires when predicate() holds, or fails after timeout seconds."""
        if predicate():
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._waiters.append((predicate, waiter))
        return waiter.addTimeout(timeout, reactor)


def hop_keys(association):
    return MediaKeys(association, DOUBLE_128.dtls_id, b"\x11" * 16, b"\x22" * 16, b"\x33" * 12,
                     b"\x44" * 12)


class RealTLSTunnelTests(unittest.TestCase):
    timeout = 20

    def listen(self, tls, handler, port=0, supported_versions=(0,)):
        d = listen_for_tunnels(port, tls, handler, interface="127.0.0.1", reactor=reactor,
                               supported_versions=supported_versions)

        def started(listening):
            self.addCleanup(listening.stopListening)
            return listening
        return d.addCallback(started)

    def client(self, tls, port, handler, profiles=(DOUBLE_128, DOUBLE_256), backoff=None):
        service = TunnelClientService.to_host(
            "127.0.0.1", port, tls, profiles, handler, reactor=reactor,
            backoff=backoff or ReconnectBackoff(initial=0.05, maximum=0.2, jitter=0))
        service.startService()
        self.addCleanup(service.stopService)
        return service

    @defer.inlineCallbacks
    def test_messages_flow_both_ways_over_mutual_tls(self):
        md_tls, kd_tls, md_id, kd_id = pinned_pair()
        kd, md = RecordingHandler(), RecordingHandler()
        listening = yield self.listen(kd_tls, kd)
        self.client(md_tls, listening.getHost().port, md)
        yield kd.until(lambda: kd.opened)
        yield md.until(lambda: md.opened)
        kd_tunnel = kd.opened[0]
        assert kd_tunnel.connection.profiles.profiles == (DOUBLE_128, DOUBLE_256)
        assert kd_tunnel.peer_fingerprint == md_id.fingerprint
        assert md.opened[0].peer_fingerprint == kd_id.fingerprint

        association = new_association_id()
        md.opened[0].send(TunneledDtls(association, b"\x16\xfe\xfd hello"))
        yield kd.until(lambda: kd.messages)
        assert kd.messages[0][1] == TunneledDtls(association, b"\x16\xfe\xfd hello")
        kd_tunnel.send(hop_keys(association))
        yield md.until(lambda: md.messages)
        assert md.messages[0][1] == hop_keys(association)

    @defer.inlineCallbacks
    def test_reconnects_and_resends_supported_profiles_after_kd_restart(self):
        md_tls, kd_tls, _, _ = pinned_pair()
        kd, md = RecordingHandler(), RecordingHandler()
        listening = yield self.listen(kd_tls, kd)
        port = listening.getHost().port
        self.client(md_tls, port, md)
        yield kd.until(lambda: len(kd.opened) == 1)
        # The KD goes away: stop listening and drop the connection.
        yield listening.stopListening()
        kd.opened[0].transport.loseConnection()
        yield md.until(lambda: md.closed)
        yield deferLater(reactor, 0.3, lambda: None)  # a few refused attempts
        # The KD comes back on the same port: the MD finds it and opens with SupportedProfiles.
        kd_again = RecordingHandler()
        yield self.listen(kd_tls, kd_again, port)
        yield kd_again.until(lambda: kd_again.opened, timeout=5)
        assert kd_again.opened[0].connection.profiles.profiles == (DOUBLE_128, DOUBLE_256)
        yield md.until(lambda: len(md.opened) == 2)

    @defer.inlineCallbacks
    def test_kd_refuses_an_unpinned_media_distributor(self):
        _, kd_tls, _, kd_id = pinned_pair()
        stranger = make_identity("media-distributor")
        stranger_tls = MutualTLS(stranger.credentials(),
                                 PeerTrust(fingerprints=(kd_id.fingerprint,)))
        kd, md = RecordingHandler(), RecordingHandler()
        listening = yield self.listen(kd_tls, kd)
        self.client(stranger_tls, listening.getHost().port, md)
        yield md.until(lambda: len(md.closed) >= 2)
        assert kd.opened == [] and kd.messages == []
        self.flushLoggedErrors()

    @defer.inlineCallbacks
    def test_unsupported_version_makes_the_md_retry_with_the_kd_version(self):
        md_tls, kd_tls, _, _ = pinned_pair()
        self.patch(tunnel_service, "SUPPORTED_VERSIONS", (0, 1))
        kd, md = RecordingHandler(), RecordingHandler()
        listening = yield self.listen(kd_tls, kd, supported_versions=(1,))
        service = self.client(md_tls, listening.getHost().port, md)
        yield kd.until(lambda: kd.opened)
        assert service.version == 1
        assert kd.opened[0].connection.profiles.version == 1
        assert [c.error for _, c in kd.closed] == [True]  # the version-0 attempt

    @defer.inlineCallbacks
    def test_md_gives_up_when_the_kd_speaks_no_version_it_knows(self):
        md_tls, kd_tls, _, _ = pinned_pair()
        kd, md = RecordingHandler(), RecordingHandler()
        listening = yield self.listen(kd_tls, kd, supported_versions=(5,))
        service = self.client(md_tls, listening.getHost().port, md)
        yield md.until(lambda: service.gave_up is not None)
        assert "highest tunnel version is 5" in service.gave_up
        assert not service.running
        self.flushLoggedErrors()


class FailingEndpoint:
    """A client endpoint whose every connection attempt is refused, counting attempts."""

    def __init__(self, clock):
        self.clock = clock
        self.attempts = []

    def connect(self, factory):
        self.attempts.append(self.clock.seconds())
        return defer.fail(ConnectionRefusedError())


def test_backoff_policy_grows_exponentially_to_the_cap():
    backoff = ReconnectBackoff(initial=0.5, factor=2, maximum=10, jitter=0)
    assert [backoff(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert backoff(10_000) == 10


def test_backoff_jitter_stays_within_its_fraction():
    backoff = ReconnectBackoff(initial=1, factor=2, maximum=8, jitter=0.25, random=lambda: 1.0)
    assert backoff(1) == 1.25 and backoff(5) == 10.0
    with pytest.raises(ValueError, match="jitter"):
        ReconnectBackoff(jitter=2)
    with pytest.raises(ValueError, match="initial"):
        ReconnectBackoff(initial=0)


def next_call(clock):
    clock.advance(min(call.getTime() for call in clock.getDelayedCalls()) - clock.seconds())


def test_service_retries_on_the_backoff_schedule():
    clock = Clock()
    endpoint = FailingEndpoint(clock)
    service = TunnelClientService(
        endpoint, [DOUBLE_128], RecordingHandler(), clock=clock,
        backoff=ReconnectBackoff(initial=0.5, factor=2, maximum=4, jitter=0))
    service.startService()
    for _ in range(7):
        next_call(clock)
    assert endpoint.attempts == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5]
    service.stopService()
    assert clock.getDelayedCalls() == []


class TLSLikeTransport(StringTransport):
    def getPeerCertificate(self):
        return None


class ShortLivedEndpoint:
    """Connects at once; the test decides when the 'TLS handshake' completes and when the
    connection dies, as a KD that refuses the MD's certificate after TLS 1.3 completes would."""

    def __init__(self, clock):
        self.clock = clock
        self.attempts = []
        self.protocols = []

    def connect(self, factory):
        self.attempts.append(self.clock.seconds())
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(TLSLikeTransport())
        self.protocols.append(protocol)
        return defer.succeed(protocol)


def test_connections_that_die_young_keep_the_backoff_growing():
    clock = Clock()
    endpoint = ShortLivedEndpoint(clock)
    handler = RecordingHandler()
    service = TunnelClientService(
        endpoint, [DOUBLE_128], handler, clock=clock, healthy_after=5,
        backoff=ReconnectBackoff(initial=1, factor=2, maximum=60, jitter=0))
    service.startService()
    for _ in range(4):
        protocol = endpoint.protocols[-1]
        # SupportedProfiles went out first on every connection.
        assert protocol.transport.value() == bytes.fromhex("01000500000200 09".replace(" ", ""))
        protocol.handshakeCompleted()
        clock.advance(0.1)
        protocol.connectionLost(Failure(ConnectionLost("alert: certificate unknown")))
        next_call(clock)
    assert endpoint.attempts == pytest.approx([0, 0.1 + 1, 1.2 + 2, 3.3 + 4, 7.4 + 8])
    assert len(handler.opened) == 4 and len(handler.closed) == 4
    # A connection that stays up long enough resets the streak.
    protocol = endpoint.protocols[-1]
    protocol.handshakeCompleted()
    clock.advance(6)
    protocol.connectionLost(Failure(ConnectionLost("KD restarted")))
    next_call(clock)
    assert endpoint.attempts[-1] - endpoint.attempts[-2] == pytest.approx(6 + 1)
    service.stopService()


def test_association_ids_used_on_the_wire_are_uuid4():
    assert new_association_id().version == 4
    assert isinstance(new_association_id(), uuid.UUID)


def test_service_needs_profiles():
    with pytest.raises(ValueError, match="at least one profile"):
        TunnelClientService(FailingEndpoint(Clock()), [], RecordingHandler(), clock=Clock())
