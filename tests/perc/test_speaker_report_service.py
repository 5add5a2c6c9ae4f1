"""Talking reports over mutually authenticated TLS on 127.0.0.1, reconnecting."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from sipperc.perc.speaker_report_service import SpeakerReportClient, listen_for_speaker_reports
from sipperc.perc.tunnel_service import ReconnectBackoff
from sipperc.perc.tunnel_tls import MutualTLS, PeerTrust
from tests.perc.conference import Servers, make_identity, until

ALICE, BOB = b"A" * 24, b"B" * 24


class SpeakerReportServiceTests(TestCase):
    timeout = 30

    @inlineCallbacks
    def setUp(self):
        self.servers = Servers()
        self.heard = []
        self.port = yield self.listen()

    def listen(self, port=0):
        listening = listen_for_speaker_reports(
            port, self.servers.focus_speakers_tls(),
            lambda room, tls_id, talking: self.heard.append((room, tls_id, talking)),
            interface="127.0.0.1", reactor=reactor)
        listening.addCallback(lambda p: self.addCleanup(p.stopListening) or p)
        return listening

    def client(self, tls=None, port=None):
        client = SpeakerReportClient.to_host(
            "127.0.0.1", port or self.port.getHost().port,
            tls or self.servers.md_speakers_tls(), reactor=reactor,
            backoff=ReconnectBackoff(0.05, 2.0, 0.2))
        client.startService()
        self.addCleanup(client.stopService)
        return client

    @inlineCallbacks
    def test_reports_arrive_the_state_is_resent_after_a_reconnect_and_a_drop_clears_it(self):
        client = self.client()
        client.report("room", ALICE, True)  # before the connection: kept, sent on connect
        yield until(lambda: ("room", ALICE, True) in self.heard, 10)
        client.report("room", BOB, True)
        client.report("room", BOB, True)  # no change, nothing sent
        client.report("room", ALICE, False)
        yield until(lambda: len(self.heard) == 3, 10)
        assert self.heard == [("room", ALICE, True), ("room", BOB, True),
                              ("room", ALICE, False)]
        # The connection drops: what it reported talking is taken back at the focus; once
        # connected again the Media Distributor tells who talks now.
        yield client.stopService()
        yield until(lambda: ("room", BOB, False) in self.heard, 10)
        self.heard.clear()
        client.startService()
        yield until(lambda: self.heard == [("room", BOB, True)], 10)

    @inlineCallbacks
    def test_a_media_distributor_with_another_certificate_is_not_heard(self):
        stranger = make_identity("stranger")
        client = self.client(MutualTLS(stranger.credentials(), PeerTrust(
            fingerprints=(self.servers.focus.fingerprint,))))
        client.report("room", ALICE, True)
        yield until(lambda: client.connected, 10)  # TCP is up; TLS fails on the focus's side
        yield until(lambda: not client.connected, 10)
        assert self.heard == []
