"""The SIP focus in this process, against real Key and Media Distributors (in-process too).

The process-level proof is tests/interop/test_perc_sip_conference.py; here the refusals that
need no media: unknown rooms, INVITEs without an offer, a Key Distributor that refuses or
does not answer, and the local moderator command.
"""

from __future__ import annotations

import socket
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from sipperc.dtls import Identity
from sipperc.media.tone import ToneSource
from sipperc.perc.conference_room import RoomSettings
from sipperc.perc.focus_service import FocusInterfaceClient
from sipperc.perc.participant_call import PCMU, JoinRefusedError, ParticipantCall
from sipperc.perc.policy import ParticipantRule
from sipperc.perc.sip_focus import FocusSettings, SipFocus
from sipperc.perc.tunnel_service import ReconnectBackoff
from sipperc.sdp import MediaCapabilities, MediaSecurityPolicy, OfferAnswer, TransportAddress
from sipperc.sip.digest import DigestAccount, DigestClient, DigestServer
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.user_agent import UserAgentConfig
from sipperc.sip.user_agent_events import CallEnded
from tests.perc.conference import ROOM, InProcessConference, until

ALICE = Identity.generate("alice")


class SipFocusTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def setUp(self):
        directory = Path(self.mktemp()).resolve()
        directory.mkdir(parents=True)
        # A listed room: only Alice's certificate gets in.
        self.servers = InProcessConference(directory, policy_changes={
            "open": False, "participants": (ParticipantRule(identity="sip:alice@127.0.0.1"),)})
        self.addCleanup(self.servers.shutdown)
        yield self.servers.start()
        kd_port = self.servers.key_server.focus_port.getHost().port
        self.focus = self.start_focus(kd_port)
        yield until(lambda: self.focus.key_distributor.connected, 10)

    def start_focus(self, kd_port, *, announce_timeout=5.0, authentication=None):
        client = FocusInterfaceClient.to_host(
            "127.0.0.1", kd_port, self.servers.servers.focus_tls(), reactor=reactor,
            backoff=ReconnectBackoff(0.1, 2.0, 0.5))
        room = RoomSettings(ROOM, "Design review", self.servers.media_distributor)
        settings = FocusSettings(("udp:127.0.0.1:0",), "127.0.0.1", {ROOM: room},
                                 announce_timeout=announce_timeout,
                                 authentication=authentication)
        focus = SipFocus(settings, client, reactor=reactor)
        focus.start()
        self.addCleanup(focus.stop)
        return focus

    def uri(self, focus=None, room=ROOM):
        address = (focus or self.focus).agent.address()
        return f"sip:{room}@127.0.0.1:{address.port}"

    def participant(self, name, identity=None, authenticator=None):
        call = ParticipantCall(identity or Identity.generate(name),
                               ToneSource(440.0, 8000, level=15), user=name,
                               codecs=(PCMU,), reactor=reactor, authenticator=authenticator)
        call.start()
        self.addCleanup(call.stop)
        return call

    @inlineCallbacks
    def refused(self, call, uri):
        try:
            yield call.join(uri)
        except JoinRefusedError as refusal:
            return refusal.status
        raise AssertionError("let in")

    @inlineCallbacks
    def test_an_unknown_room_is_404(self):
        status = yield self.refused(self.participant("alice", ALICE),
                                    self.uri(room="no-such-room"))
        assert status == 404

    @inlineCallbacks
    def test_an_invite_without_an_offer_is_488(self):
        ended = []
        engine = lambda request: OfferAnswer(  # noqa: E731
            address="127.0.0.1", capabilities=[MediaCapabilities("audio", (PCMU,))],
            transports=lambda index, kind: TransportAddress("127.0.0.1", 49170),
            security=MediaSecurityPolicy.plain_only())
        phone = TwistedUserAgent.listen(["udp:127.0.0.1:0"], engine,
                                        UserAgentConfig(user="late"), on_event=ended.append,
                                        reactor=reactor)
        self.addCleanup(phone.stop)
        phone.invite(self.uri(), offer=False)
        yield until(lambda: any(isinstance(e, CallEnded) for e in ended), 10)
        assert next(e for e in ended if isinstance(e, CallEnded)).status_code == 488

    @inlineCallbacks
    def test_the_key_distributors_refusal_is_403_and_its_acceptance_answers(self):
        status = yield self.refused(self.participant("mallory"), self.uri())
        assert status == 403
        assert self.focus.statistics.refused == {403: 1}
        alice = self.participant("alice", ALICE)
        yield alice.join(self.uri())
        yield until(lambda: alice.participant is not None and alice.participant.keyed, 10)
        assert self.focus.rooms[ROOM].roster().user_count == 1

    @inlineCallbacks
    def test_no_answer_from_the_key_distributor_is_503(self):
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            dead_port = unused.getsockname()[1]
        focus = self.start_focus(dead_port, announce_timeout=0.5)
        status = yield self.refused(self.participant("alice", ALICE), self.uri(focus))
        assert status == 503

    @inlineCallbacks
    def test_the_local_moderator_command_locks_and_kicks(self):
        alice = self.participant("alice", ALICE)
        yield alice.join(self.uri())
        assert self.focus.moderate(ROOM, "lock") == "locked"
        status = yield self.refused(self.participant("alice2", ALICE), self.uri())
        assert status == 403
        assert self.focus.moderate(ROOM, "kick sip:alice@127.0.0.1") == "removed 1 call(s)"
        yield until(lambda: alice.ended is not None, 10)
        assert self.focus.moderate(ROOM, "dance").startswith("unknown command")


    @inlineCallbacks
    def test_the_roster_shows_one_user_with_a_device_per_call(self):
        watcher = self.participant("watcher")
        watcher.watch_roster(self.uri())
        yield until(lambda: watcher.roster.state is not None, 10)
        laptop, phone = self.participant("alice", ALICE), self.participant("alice")
        yield laptop.join(self.uri())
        yield phone.join(self.uri())

        def endpoints():
            user = watcher.roster.state.user("sip:alice@127.0.0.1")
            return 0 if user is None else len(user.endpoints)

        yield until(lambda: endpoints() == 2, 10)
        assert watcher.roster.state.user_count == 1
        phone.leave()
        yield until(lambda: endpoints() == 1, 10)
        laptop.leave()
        yield until(lambda: watcher.roster.entities == set(), 10)
        assert watcher.roster.state.version == 5  # full, two joins, two leaves (RFC 4575 §4.6)


    @inlineCallbacks
    def test_with_digest_only_authenticated_callers_get_in_as_themselves(self):
        kd_port = self.servers.key_server.focus_port.getHost().port
        focus = self.start_focus(kd_port, authentication=DigestServer(
            "conf.test", {"alice": "alice's secret"}.get, b"n" * 32))
        yield until(lambda: focus.key_distributor.connected, 10)
        account = DigestClient([DigestAccount("alice", "alice's secret", ("127.0.0.1",))])
        # No credentials: 401. Alice's credentials under another name in From: 403.
        assert (yield self.refused(self.participant("alice", ALICE), self.uri(focus))) == 401
        assert (yield self.refused(self.participant("mallory", authenticator=account),
                                   self.uri(focus))) == 403
        alice = self.participant("alice", ALICE, authenticator=account)
        yield alice.join(self.uri(focus))
        yield until(lambda: alice.participant is not None and alice.participant.keyed, 10)


    @inlineCallbacks
    def test_a_participant_leaves_and_joins_again_with_the_same_audio(self):
        alice = self.participant("alice", ALICE)
        yield alice.join(self.uri())
        yield until(lambda: alice.participant is not None and alice.participant.keyed, 10)
        first = alice.participant
        alice.leave()
        yield until(lambda: alice.call is None, 10)
        yield alice.join(self.uri())
        yield until(lambda: alice.participant is not first and alice.participant.keyed, 10)
        assert first.closed
        yield until(lambda: alice.participant.statistics().media.send.packets_sent > 10, 10)
