"""The PERC conference over SIP: Key Distributor, Media Distributor and SIP focus processes.

Participants (:class:`sipperc.perc.participant_call.ParticipantCall`) dial the conference URI;
the focus answers only PERC endpoints, with the Media Distributor's address and the Key
Distributor's fingerprint and tls-id, and only once the Key Distributor accepted them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from sipperc.perc.participant_call import PCMU, JoinRefusedError
from sipperc.sdp import MediaCapabilities, MediaSecurityPolicy, OfferAnswer, TransportAddress
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.user_agent import UserAgentConfig
from sipperc.sip.user_agent_events import CallEnded, ReferProgress, RequestCompleted
from tests.interop.sip_conference import SipConference
from tests.perc.conference import until, wait


def plain_phone(on_event):
    """A legacy phone: plain RTP only."""
    engine = lambda request: OfferAnswer(  # noqa: E731
        address="127.0.0.1", capabilities=[MediaCapabilities("audio", (PCMU,))],
        transports=lambda index, kind: TransportAddress("127.0.0.1", 49170),
        security=MediaSecurityPolicy.plain_only())
    return TwistedUserAgent.listen(["udp:127.0.0.1:0"], engine, UserAgentConfig(user="legacy"),
                                   on_event=on_event, reactor=reactor)


class SipConferenceTestCase(TestCase):
    """KD, MD and focus processes for each test, with ``room_lines`` added to the room."""

    timeout = 180
    room_lines = ""

    def setUp(self):
        directory = Path(self.mktemp()).resolve()
        directory.mkdir(parents=True)
        self.conference = SipConference(directory, room_lines=self.room_lines)
        self.addCleanup(self.conference.kd.kill)
        self.addCleanup(self.conference.md.kill)
        self.addCleanup(self.conference.focus.kill)
        self.addCleanup(self.conference.stop)
        return self.conference.start()


@pytest.mark.interop
class PercSipConferenceTests(SipConferenceTestCase):

    @inlineCallbacks
    def test_participants_join_over_sip_and_decrypt_each_other(self):
        conference = self.conference
        for name in ("alice", "bob", "carol"):
            yield conference.join(name)
        yield until(conference.everyone_hears_everyone, 15)

        # A phone without PERC is refused with 488 and a reason.
        ended = []
        phone = plain_phone(ended.append)
        self.addCleanup(phone.stop)
        phone.invite(conference.uri)
        yield until(lambda: any(isinstance(e, CallEnded) for e in ended), 10)
        end = next(e for e in ended if isinstance(e, CallEnded))
        assert end.status_code == 488

        # Bob leaves with BYE: the others get a new EKT key and keep hearing each other.
        spi = conference.members["alice"].participant.spi
        conference.members["bob"].call.leave()
        yield until(lambda: conference.members["alice"].participant.spi != spi, 10)
        conference.clear()
        yield until(lambda: conference.members["alice"].hears(conference.members["carol"])
                    and conference.members["carol"].hears(conference.members["alice"]), 10)


MODERATED = ('    pin: "2468"\n    pin_attempts: 2\n    max_participants: 3\n'
             "    moderators: [sip:alice@127.0.0.1]\n")


@pytest.mark.interop
class PercSipModerationTests(SipConferenceTestCase):
    room_lines = MODERATED

    @inlineCallbacks
    def refused(self, name, uri):
        try:
            yield self.conference.join(name, uri=uri)
        except JoinRefusedError as refusal:
            return refusal.status
        raise AssertionError(f"{name} was let in")

    def focus_said(self, text):
        return text in self.conference.focus.log.read_text()

    @inlineCallbacks
    def test_roster_pin_size_lock_and_kick(self):
        conference = self.conference
        with_pin = conference.uri + ";pin=2468"
        watcher = conference.member("watcher")
        watcher.call.watch_roster(conference.uri)
        yield until(lambda: watcher.call.roster.state is not None, 10)
        assert watcher.call.roster.entities == set()

        # Joins, each seen by the subscriber (partial NOTIFYs, versions in order).
        for name in ("alice", "bob"):
            yield conference.join(name, uri=with_pin)
        yield until(lambda: watcher.call.roster.entities == {"sip:alice@127.0.0.1",
                                                             "sip:bob@127.0.0.1"}, 10)

        # PINs: missing and wrong are refused; two wrong ones shut the caller out.
        assert (yield self.refused("eve", conference.uri)) == 403
        assert (yield self.refused("eve", conference.uri + ";pin=1111")) == 403
        assert (yield self.refused("eve", conference.uri + ";pin=2222")) == 403
        assert (yield self.refused("eve", with_pin)) == 403
        assert self.focus_said("Too Many Wrong PINs")

        # The third participant fills the room; the fourth gets 486.
        yield conference.join("carol", uri=with_pin)
        assert (yield self.refused("dave", with_pin)) == 486
        assert self.focus_said("Conference Full (3 Participants)")
        yield until(conference.everyone_hears_everyone, 15)
        roster = watcher.call.roster.state
        assert roster.user_count == 3 and roster.display_text == "Design review"
        assert roster.user("sip:carol@127.0.0.1").display_text == "Carol"

        # The moderator removes Bob: BYE to him, withdrawn at the KD, which rekeys the others.
        alice, bob, carol = (conference.members[n] for n in ("alice", "bob", "carol"))
        spi = alice.participant.spi
        alice.call.moderate(conference.uri, "kick sip:bob@127.0.0.1")
        yield until(lambda: bob.call.ended is not None, 10)
        assert bob.call.ended.reason.value == "remote-bye"
        yield until(lambda: alice.participant.spi != spi and carol.participant.spi != spi, 10)
        yield until(lambda: "sip:bob@127.0.0.1" not in watcher.call.roster.entities, 10)
        conference.clear()
        yield until(lambda: alice.hears(carol) and carol.hears(alice), 10)

        # Locked: newcomers are refused; a non-moderator cannot unlock; the moderator can.
        alice.call.moderate(conference.uri, "lock")
        yield until(lambda: watcher.call.roster.state.locked is True, 10)
        assert (yield self.refused("dave", with_pin)) == 403
        assert self.focus_said("Conference Locked")
        carol.call.moderate(conference.uri, "unlock")
        yield until(lambda: self.focus_said("non-moderator"), 10)
        assert watcher.call.roster.state.locked is True
        alice.call.moderate(conference.uri, "unlock")
        yield until(lambda: watcher.call.roster.state.locked is False, 10)
        conference.members.pop("dave").call.stop()
        yield conference.join("dave", uri=with_pin)
        yield until(lambda: watcher.call.roster.entities == {
            "sip:alice@127.0.0.1", "sip:carol@127.0.0.1", "sip:dave@127.0.0.1"}, 10)
        yield until(conference.everyone_hears_everyone, 15)

        # Carol mutes herself (re-INVITE, recvonly): the roster says so, nobody hears her, she
        # still hears the others; unmuted, she is heard again.
        def muted(entity):
            user = watcher.call.roster.state.user(entity)
            return user is not None and user.muted

        def talking(entity):
            user = watcher.call.roster.state.user(entity)
            return user is not None and user.talking

        # Talking (the Media Distributor's report, by tls-id, to the focus; RFC 4575 extension
        # element): everyone plays a tone, so everyone talks; muted, Carol stops talking once
        # the hangover passed, and the others still talk.
        yield until(lambda: all(talking(f"sip:{n}@127.0.0.1") for n in ("alice", "carol",
                                                                          "dave")), 10)
        carol.call.set_muted(True)
        yield until(lambda: muted("sip:carol@127.0.0.1"), 10)
        yield until(lambda: not talking("sip:carol@127.0.0.1"), 10)
        assert talking("sip:alice@127.0.0.1") and talking("sip:dave@127.0.0.1")
        yield wait(1.0)  # what was in flight and the receivers' concealment die away
        conference.clear()
        yield until(lambda: carol.hears(alice), 10)
        assert not alice.hears(carol)
        carol.call.set_muted(False)
        yield until(lambda: not muted("sip:carol@127.0.0.1"), 10)
        yield until(lambda: talking("sip:carol@127.0.0.1"), 10)
        conference.clear()
        yield until(lambda: alice.hears(carol), 10)

        # Leaving is seen too.
        carol.call.leave()
        yield until(lambda: "sip:carol@127.0.0.1" not in watcher.call.roster.entities, 10)
        assert watcher.call.roster.state.user_count == 2

        # A REFER to the conference URI outside any dialog (RFC 4579 §5.5): from Dave, who
        # is no moderator, 403 and nobody is called; from the moderator, the focus dials
        # Erin out (no PIN for a dial-out), she is keyed and everyone hears everyone.
        dave = conference.members["dave"]
        erin = conference.member("erin")
        dave.call.add_participant(erin.call.uri, conference.uri)
        yield until(lambda: refer_status(dave) is not None, 10)
        assert refer_status(dave) == 403
        assert self.focus_said("Only A Moderator May Add Participants")
        refer = alice.call.add_participant(erin.call.uri, conference.uri)
        yield until(lambda: erin.participant is not None and erin.participant.keyed, 10)
        yield until(lambda: [e.status.status_code for e in alice.events if isinstance(
            e, ReferProgress) and e.subscription == refer][-1:] == [200], 10)
        assert erin.call.call is not None and dave.call.call is not None
        yield until(lambda: watcher.call.roster.state.user_count == 3, 10)
        conference.clear()
        yield until(conference.everyone_hears_everyone, 15)


def refer_status(member):
    """The final status of the member's last REFER, once it came."""
    done = [e.status_code for e in member.events
            if isinstance(e, RequestCompleted) and e.request.method == "REFER"]
    return done[-1] if done else None


@pytest.mark.interop
class PercSipRestartAndDialOutTests(SipConferenceTestCase):

    def spis(self):
        return {m.name: m.participant.spi for m in self.conference.in_call()}

    @inlineCallbacks
    def test_key_distributor_restart_reinvites_and_refer_dials_out(self):
        conference = self.conference
        for name in ("alice", "bob", "carol"):
            yield conference.join(name)
        yield until(conference.everyone_hears_everyone, 15)

        # The KD crashes and comes back: the focus re-INVITEs everyone (no offer), they
        # handshake with the new KD tls-id and media is keyed by the new KD within 5 s.
        before = set(self.spis().values())
        conference.kd.kill()
        yield wait(1.0)
        conference.clear()
        yield wait(0.8)
        assert conference.everyone_hears_everyone(), "media goes on without the KD"
        conference.kd.start()
        yield until(lambda: conference.kd.ready("listening for focus connections"), 30)
        back = time.monotonic()
        yield until(lambda: len(set(self.spis().values())) == 1
                    and set(self.spis().values()).isdisjoint(before), 10)
        conference.clear()
        yield until(conference.everyone_hears_everyone, 10)
        recovery = time.monotonic() - back
        assert recovery < 5.0, f"media keyed by the restarted KD after {recovery:.1f} s"
        log = conference.focus.log.read_text()
        assert log.count("re-INVITE for the Key Distributor's new tls-id") == 3
        assert {m.participant.statistics().associations for m in conference.in_call()} == {2}

        # REFER: Alice asks the focus to add Erin, who is dialled out and joins the media.
        erin = conference.member("erin")
        alice = conference.members["alice"]
        alice.call.add_participant(erin.call.uri)
        yield until(lambda: erin.participant is not None and erin.participant.keyed, 10)
        conference.clear()
        yield until(conference.everyone_hears_everyone, 15)
        progress = [e.status.status_code for e in alice.events
                    if isinstance(e, ReferProgress)]
        assert progress and progress[-1] == 200
        print(f"\nKD restart: media keyed by the new KD {recovery:.2f} s after it was back")
