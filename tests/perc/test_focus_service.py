"""The focus interface over real mutual TLS: a focus client and a Key Distributor server."""

from __future__ import annotations

from twisted.internet import defer, reactor

from sipperc.dtls import Fingerprint, Identity
from sipperc.perc.focus_interface import Accepted, Refused
from sipperc.perc.focus_service import FocusInterfaceClient
from sipperc.perc.key_distributor import ParticipantAnnouncement
from sipperc.perc.tunnel_service import ReconnectBackoff
from sipperc.perc.tunnel_tls import MutualTLS, PeerTrust
from tests.perc.certs import make_identity
from tests.perc.conference import ROOM, ConferenceTestCase, tls_id, until, wait


def announcement(name, room=ROOM, identity=None):
    identity = identity or Identity.generate(name)
    return ParticipantAnnouncement(room, name, tls_id(), (Fingerprint.parse(
        identity.fingerprint),))


class FocusServiceTests(ConferenceTestCase):

    def client(self, tls=None, **kwargs):
        focus = FocusInterfaceClient.to_host(
            "127.0.0.1", self.conference.key_server.focus_port.getHost().port,
            tls or self.conference.servers.focus_tls(), reactor=reactor,
            backoff=ReconnectBackoff(0.05, 2.0, 0.2), **kwargs)
        return focus

    @defer.inlineCallbacks
    def test_announce_refuse_and_withdraw(self):
        focus = self.conference.focus
        answer = yield focus.announce(announcement("alice"))
        assert isinstance(answer, Accepted)
        assert answer.key_distributor_fingerprint == Fingerprint.parse(
            self.conference.servers.conference.fingerprint)
        assert len(answer.key_distributor_tls_id) >= 20
        refused = yield focus.announce(announcement("bob", room="no-such-room"))
        assert isinstance(refused, Refused) and "no conference" in refused.reason
        yield focus.withdraw(ROOM, "alice")
        assert (ROOM, "alice") not in focus.accepted

    @defer.inlineCallbacks
    def test_announcements_wait_for_the_connection_and_survive_reconnects(self):
        focus = self.client()
        answered = focus.announce(announcement("carol"))  # before any connection
        focus.startService()
        self.addCleanup(focus.stopService)
        first = yield answered
        assert isinstance(first, Accepted)
        reannounced = []
        focus.on_reannounced = lambda key, accepted: reannounced.append(key)
        focus._protocol.transport.loseConnection()
        yield until(lambda: not focus.connected, 5)
        yield until(lambda: focus.connected, 5)
        yield wait(0.2)
        # The same Key Distributor still knows the announcement: the same tls-id, no re-INVITE.
        assert focus.accepted[(ROOM, "carol")] == first
        assert reannounced == []

    @defer.inlineCallbacks
    def test_a_focus_with_an_unpinned_certificate_is_never_welcomed(self):
        stranger = make_identity("stranger-focus")
        tls = MutualTLS(stranger.credentials(), PeerTrust(
            fingerprints=(self.conference.servers.kd_focus.fingerprint,)))
        focus = self.client(tls)
        focus.startService()
        self.addCleanup(focus.stopService)
        yield wait(1.0)
        assert not focus.connected
