"""The participant's Twisted edge: real UDP, the audio clock, per-source outputs."""

from __future__ import annotations

from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol

from sipperc.perc.participant import AssociationEstablished, EKTKeyInstalled
from tests.perc.conference import ConferenceTestCase, until, wait


class ParticipantEndpointTests(ConferenceTestCase):

    @defer.inlineCallbacks
    def test_each_remote_source_gets_its_own_sink_and_leave_closes_everything(self):
        conference = self.conference
        a = yield conference.join("alice")
        b = yield conference.join("bob")
        c = yield conference.join("carol")
        yield until(conference.everyone_hears_everyone, 10)
        assert set(a.sinks) == {b.ssrc, c.ssrc}
        assert [type(e) for e in a.events[:2]] == [AssociationEstablished, EKTKeyInstalled]
        assert a.endpoint.remote == conference.media_distributor
        frames = len(a.sinks[b.ssrc].frames)
        yield wait(0.2)
        assert 7 <= len(a.sinks[b.ssrc].frames) - frames <= 13  # one frame per 20 ms tick
        yield conference.leave("alice")
        assert a.participant.closed and a.endpoint.participant.get_timer() is None

    @defer.inlineCallbacks
    def test_datagrams_from_anyone_but_the_media_distributor_are_ignored(self):
        conference = self.conference
        a = yield conference.join("alice")
        yield until(lambda: a.participant.keyed, 10)
        before = a.participant.statistics().media.discarded_rtp
        stranger = reactor.listenUDP(0, DatagramProtocol(), interface="127.0.0.1")
        self.addCleanup(stranger.stopListening)
        stranger.write(b"\x80" * 60, ("127.0.0.1", a.port.getHost().port))
        yield wait(0.2)
        assert a.participant.statistics().media.discarded_rtp == before
