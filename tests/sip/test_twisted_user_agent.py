"""Two user agents over real sockets on 127.0.0.1 (UDP, and TCP), on the global reactor."""

from __future__ import annotations

from twisted.internet import defer, reactor
from twisted.trial import unittest

from sipperc.sdp import Direction
from sipperc.sip.dtmf_relay import DtmfRelay
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.user_agent import UserAgent, UserAgentConfig
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallAttempt,
    CallEnded,
    CallProgress,
    CallUpdated,
    EndReason,
    IncomingCall,
    InfoReceived,
    MessageReceived,
    RequestCompleted,
)
from tests.sip.ua_harness import PLAIN, engines


class Recorder:
    """Collects one agent's events and lets a test wait for the next of a kind."""

    def __init__(self, on=None):
        self.events = []
        self.waiters = []
        self.on = on or {}

    def __call__(self, event):
        self.events.append(event)
        for kind, d in list(self.waiters):
            if isinstance(event, kind):
                self.waiters.remove((kind, d))
                # On the next turn: the test resumes outside the edge's processing.
                reactor.callLater(0, d.callback, event)
        action = self.on.get(type(event))
        if action is not None:
            action(event)

    def wait(self, kind, timeout=5.0):
        d = defer.Deferred()
        self.waiters.append((kind, d))
        return d.addTimeout(timeout, reactor)


class OverSocketsTests(unittest.TestCase):
    def agent(self, name, transport="udp", on=None):
        recorder = Recorder(on)
        agent = TwistedUserAgent.listen(
            [f"{transport}:127.0.0.1:0"], engines("127.0.0.1"),
            UserAgentConfig(user=name, session=PLAIN), on_event=recorder, reactor=reactor)
        self.addCleanup(agent.stop)
        return agent, recorder

    @defer.inlineCallbacks
    def test_basic_call_auto_answered_over_udp(self):
        bob, bob_events = self.agent("bob")
        bob_events.on[IncomingCall] = lambda e: (bob.ringing(e.call), bob.answer(e.call))
        alice, alice_events = self.agent("alice")
        answered = alice_events.wait(CallAnswered)
        call = alice.invite(bob.uri())
        event = yield answered
        assert event.call == call
        stream = event.negotiated.accepted_streams[0]
        assert stream.remote_address == "127.0.0.1" and stream.codecs[0].name == "PCMU"
        assert [type(e) for e in alice_events.events[:3]] == [
            CallAttempt, CallProgress, CallAnswered]
        assert alice_events.events[0] == CallAttempt(call, bob.address())
        ended = bob_events.wait(CallEnded)
        alice.hangup(call)
        bye = yield ended
        assert bye.reason is EndReason.REMOTE_BYE
        assert isinstance(alice.ua, UserAgent) and alice.ua.calls == ()

    @defer.inlineCallbacks
    def test_reject_over_udp(self):
        bob, bob_events = self.agent("bob")
        bob_events.on[IncomingCall] = lambda e: bob.reject(e.call, 603)
        alice, alice_events = self.agent("alice")
        ended = alice_events.wait(CallEnded)
        alice.invite(bob.uri())
        event = yield ended
        assert event.reason is EndReason.REJECTED and event.status_code == 603

    @defer.inlineCallbacks
    def test_cancel_over_udp(self):
        bob, bob_events = self.agent("bob")
        bob_events.on[IncomingCall] = lambda e: bob.ringing(e.call)
        alice, alice_events = self.agent("alice")
        ringing = alice_events.wait(CallProgress)
        call = alice.invite(bob.uri())
        yield ringing
        ended = alice_events.wait(CallEnded)
        bob_ended = bob_events.wait(CallEnded)
        alice.hangup(call)
        event = yield ended
        assert event.reason is EndReason.CANCELLED and event.status_code == 487
        assert (yield bob_ended).reason is EndReason.CANCELLED

    @defer.inlineCallbacks
    def test_hold_dtmf_and_message_over_udp(self):
        bob, bob_events = self.agent("bob")
        bob_events.on[IncomingCall] = lambda e: bob.answer(e.call)
        alice, alice_events = self.agent("alice")
        answered = alice_events.wait(CallAnswered)
        call = alice.invite(bob.uri())
        yield answered
        updated = bob_events.wait(CallUpdated)
        alice.hold(call)
        assert (yield updated).negotiated.streams[0].direction is Direction.RECVONLY
        info = bob_events.wait(InfoReceived)
        alice.send_dtmf(call, "#", 120)
        assert (yield info).dtmf == DtmfRelay("#", 120)
        message = bob_events.wait(MessageReceived)
        done = alice_events.wait(RequestCompleted)
        alice.send_message(bob.uri(), b"out of dialog")
        assert (yield message).body == b"out of dialog"
        assert (yield done).status_code in (200, 202)
        ended = bob_events.wait(CallEnded)
        alice.hangup(call)
        yield ended

    @defer.inlineCallbacks
    def test_basic_call_over_tcp(self):
        bob, bob_events = self.agent("bob", "tcp")
        bob_events.on[IncomingCall] = lambda e: bob.answer(e.call)
        alice, alice_events = self.agent("alice", "tcp")
        answered = alice_events.wait(CallAnswered)
        call = alice.invite(bob.uri(transport="tcp"))
        yield answered
        ended = bob_events.wait(CallEnded)
        alice.hangup(call)
        assert (yield ended).reason is EndReason.REMOTE_BYE
