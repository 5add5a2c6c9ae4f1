"""The SIP focus in this process, against real Key and Media Distributors (in-process too).

The process-level proof is tests/interop/test_perc_sip_conference.py; here the refusals that
need no media: unknown rooms, INVITEs without an offer, a Key Distributor that refuses or
does not answer, and the local moderator command; and who may add participants with a
REFER to the conference URI outside any dialog (RFC 4579 §5.5) or inside a call.
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
from sipperc.sip.user_agent_events import (
    CallEnded,
    IncomingCall,
    ReferProgress,
    RequestCompleted,
    SubscriptionEnded,
)
from tests.perc.conference import ROOM, InProcessConference, until

ALICE = Identity.generate("alice")


class FocusCase(TestCase):
    """A Key and a Media Distributor in this process, a focus on them, and participants."""

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

    def start_focus(self, kd_port, *, announce_timeout=5.0, authentication=None, **room_changes):
        client = FocusInterfaceClient.to_host(
            "127.0.0.1", kd_port, self.servers.servers.focus_tls(), reactor=reactor,
            backoff=ReconnectBackoff(0.1, 2.0, 0.5))
        room = RoomSettings(ROOM, "Design review", self.servers.media_distributor,
                            **room_changes)
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

    def participant(self, name, identity=None, authenticator=None, on_event=None):
        call = ParticipantCall(identity or Identity.generate(name),
                               ToneSource(440.0, 8000, level=15), user=name,
                               codecs=(PCMU,), reactor=reactor, authenticator=authenticator,
                               on_event=on_event)
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


class SipFocusTests(FocusCase):

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


class SipFocusReferOutsideADialogTests(FocusCase):
    """A REFER to the conference URI outside any dialog adds a participant (RFC 4579 §5.5)."""

    @inlineCallbacks
    def setUp(self):
        yield super().setUp()
        kd_port = self.servers.key_server.focus_port.getHost().port
        self.moderated = self.start_focus(kd_port, moderators=("sip:mod@127.0.0.1",))
        yield until(lambda: self.moderated.key_distributor.connected, 10)

    def refer(self, name, target, room_uri, authenticator=None):
        events = []
        requester = self.participant(name, on_event=events.append, authenticator=authenticator)
        requester.add_participant(target, room_uri)
        return events

    @staticmethod
    def status(events):
        done = [e for e in events if isinstance(e, RequestCompleted)
                and e.request.method == "REFER"]
        return done[0].status_code if done else None

    @inlineCallbacks
    def test_a_moderator_outside_the_conference_has_alice_dialled_in(self):
        called = []
        alice = self.participant("alice", ALICE, on_event=called.append)
        events = self.refer("mod", alice.uri, self.uri(self.moderated))
        yield until(lambda: any(isinstance(e, SubscriptionEnded) for e in events), 10)
        assert self.status(events) == 202
        progress = [e.status.status_code for e in events if isinstance(e, ReferProgress)]
        assert progress[0] == 100 and progress[-1] == 200
        (incoming,) = [e for e in called if isinstance(e, IncomingCall)]
        assert str(incoming.caller.uri) == f"sip:{ROOM}@127.0.0.1"
        assert self.moderated.statistics.dial_outs == 1
        # (The Key Distributor here lists sip:alice@127.0.0.1, not this contact with its
        # port: the keyed media of a dial-out is proven in the interop conference.)

    @inlineCallbacks
    def test_a_non_moderator_is_403_and_nobody_is_called(self):
        alice = self.participant("alice", ALICE)
        events = self.refer("mallory", alice.uri, self.uri(self.moderated))
        yield until(lambda: self.status(events) is not None, 10)
        assert self.status(events) == 403
        assert self.moderated.statistics.dial_outs == 0 and alice.call is None

    @inlineCallbacks
    def test_an_unknown_room_is_404(self):
        events = self.refer("mod", "sip:alice@127.0.0.1:9", self.uri(self.moderated, "nope"))
        yield until(lambda: self.status(events) is not None, 10)
        assert self.status(events) == 404

    @inlineCallbacks
    def test_without_moderators_anyone_may_add_and_a_locked_room_says_so_in_the_notify(self):
        self.focus.moderate(ROOM, "lock")
        events = self.refer("bob", "sip:alice@127.0.0.1:9", self.uri())
        yield until(lambda: any(isinstance(e, SubscriptionEnded) for e in events), 10)
        assert self.status(events) == 202
        assert [e.status.status_code for e in events if isinstance(e, ReferProgress)] == \
            [100, 403]
        assert self.focus.statistics.dial_outs == 0

    @inlineCallbacks
    def test_inside_a_call_the_same_rule_holds_a_non_moderator_gets_403_in_the_notify(self):
        events = []
        alice = self.participant("alice", ALICE, on_event=events.append)
        yield alice.join(self.uri(self.moderated))
        alice.add_participant("sip:bob@127.0.0.1:9")
        yield until(lambda: any(isinstance(e, SubscriptionEnded) for e in events), 10)
        assert [e.status.status_code for e in events if isinstance(e, ReferProgress)] == \
            [100, 403]
        assert self.moderated.statistics.dial_outs == 0

    @inlineCallbacks
    def test_with_digest_the_referrer_is_the_authenticated_moderator(self):
        kd_port = self.servers.key_server.focus_port.getHost().port
        focus = self.start_focus(kd_port, moderators=("sip:mod@127.0.0.1",),
                                 authentication=DigestServer(
                                     "conf.test", {"mod": "mod's secret"}.get, b"n" * 32))
        yield until(lambda: focus.key_distributor.connected, 10)
        account = DigestClient([DigestAccount("mod", "mod's secret", ("127.0.0.1",))])
        called = []
        alice = self.participant("alice", ALICE, on_event=called.append)
        # Unauthenticated, the REFER is challenged; the moderator's password under another
        # name in From is refused; the moderator, authenticated, gets Alice called.
        unauthenticated = self.refer("mod", alice.uri, self.uri(focus))
        impostor = self.refer("mallory", alice.uri, self.uri(focus), account)
        moderator = self.refer("mod", alice.uri, self.uri(focus), account)
        yield until(lambda: None not in map(self.status, (unauthenticated, impostor,
                                                           moderator)), 10)
        assert self.status(unauthenticated) == 401 and self.status(impostor) == 403
        assert self.status(moderator) == 202
        yield until(lambda: any(isinstance(e, IncomingCall) for e in called), 10)
        yield until(lambda: [e.status.status_code for e in moderator
                             if isinstance(e, ReferProgress)][-1:] == [200], 10)
        assert focus.statistics.dial_outs == 1


class SipFocusTalkingTests(FocusCase):
    """The Media Distributor's talking reports, mapped to calls by tls-id, in the roster."""

    @inlineCallbacks
    def test_a_report_flags_the_call_with_that_tls_id_and_only_it(self):
        watcher = self.participant("watcher")
        watcher.watch_roster(self.uri())
        alice = self.participant("alice", ALICE)
        yield alice.join(self.uri())
        entity = "sip:alice@127.0.0.1"
        yield until(lambda: watcher.roster.state.user(entity) is not None, 10)
        version = watcher.roster.state.version
        tls_id = alice.participant.session.local_tls_id
        self.focus.talking(ROOM, b"x" * 24, True)  # nobody's: nothing sent
        self.focus.talking("other-room", tls_id, True)  # not this room's: nothing sent
        self.focus.talking(ROOM, tls_id, True)
        yield until(lambda: watcher.roster.state.user(entity).talking, 10)
        assert watcher.roster.state.version == version + 1  # one partial NOTIFY
        self.focus.talking(ROOM, tls_id, True)  # no change, no NOTIFY
        self.focus.talking(ROOM, tls_id, False)
        yield until(lambda: not watcher.roster.state.user(entity).talking, 10)
        assert watcher.roster.state.version == version + 2
