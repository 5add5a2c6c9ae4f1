"""The responder's call handling in-process (a plain user agent calls it), and its CLI errors."""

from __future__ import annotations

import socket

import pytest
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from sipperc import cli
from sipperc.apps.call_media import CallMedia
from sipperc.apps.responder import Responder
from sipperc.apps.sip_endpoint import start_agent
from sipperc.cli import ExitCode, main
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallEnded,
    CallProgress,
    EndReason,
)
from tests.apps.sip_agents import plain_agent


class ResponderTests(unittest.TestCase):
    def responder(self, **options) -> tuple[Responder, str]:
        media = CallMedia("127.0.0.1", rtp=options.pop("echo", False), reactor=reactor)
        responder = Responder(media, reactor=reactor, echo=media.rtp, **options)
        agent = start_agent([TransportAddress("udp", "127.0.0.1", 0)], media.engine_for,
                            user="echo", on_event=responder, reactor=reactor)
        responder.agent = agent
        self.addCleanup(agent.stop)
        self.addCleanup(media.stop_all)
        self.records: list[dict] = []

        def observe(event):
            if event.get("log_namespace") == "sipperc.responder":
                self.records.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        return responder, agent.uri("echo")

    @defer.inlineCallbacks
    def test_answers_and_logs_one_record_per_call(self):
        responder, uri = self.responder()
        alice, events = plain_agent(self)
        answered = events.wait(CallAnswered)
        call = alice.invite(uri)
        event = yield answered
        assert event.negotiated.accepted_streams[0].remote_port == 9  # no media: discard port
        ended = events.wait(CallEnded)
        alice.hangup(call)
        yield ended
        yield deferLater(reactor, 0.05, lambda: None)
        (record,) = [r for r in self.records if r["log_format"] == "call ended"]
        assert record["call_id"] == call.call_id
        assert record["outcome"] == "remote-bye" and record["codec"] == "PCMU/8000"
        assert record["from"].startswith("sip:alice@") and record["to"] == uri
        assert record["transport"].startswith("udp:127.0.0.1:")
        assert responder.calls == {} and responder.ended == 1

    @defer.inlineCallbacks
    def test_rings_then_refuses_with_the_chosen_code(self):
        _, uri = self.responder(reply=486, answer_after=0.1)
        alice, events = plain_agent(self)
        ended = events.wait(CallEnded)
        alice.invite(uri)
        event = yield ended
        assert [p.status_code for p in events.of(CallProgress)][-1] == 180
        assert event.reason is EndReason.REJECTED and event.status_code == 486

    @defer.inlineCallbacks
    def test_a_call_cancelled_while_ringing_leaves_no_pending_answer(self):
        responder, uri = self.responder(answer_after=30)
        alice, events = plain_agent(self)
        ringing = events.wait(CallProgress)
        call = alice.invite(uri)
        while (yield ringing).status_code != 180:
            ringing = events.wait(CallProgress)
        ended = events.wait(CallEnded)
        alice.hangup(call)
        assert (yield ended).reason is EndReason.CANCELLED
        yield deferLater(reactor, 0.05, lambda: None)
        assert responder.calls == {}
        assert not [c for c in reactor.getDelayedCalls() if c.func == responder._decide]
        (record,) = [r for r in self.records if r["log_format"] == "call ended"]
        assert record["outcome"] == "cancelled" and record["status"] == 487

    @defer.inlineCallbacks
    def test_shutdown_hangs_up_calls_still_up(self):
        responder, uri = self.responder()
        alice, events = plain_agent(self)
        answered = events.wait(CallAnswered)
        alice.invite(uri)
        yield answered
        ended = events.wait(CallEnded)
        responder.hang_up_all()
        assert (yield ended).reason is EndReason.REMOTE_BYE
        (record,) = [r for r in self.records if r["log_format"] == "call ended"]
        assert record["outcome"] == "shutdown" and record["status"] is None
        assert responder.calls == {}

    @defer.inlineCallbacks
    def test_shutdown_refuses_calls_still_ringing_with_503_and_records_them(self):
        responder, uri = self.responder(answer_after=30)
        alice, events = plain_agent(self)
        ringing = events.wait(CallProgress)
        alice.invite(uri)
        while (yield ringing).status_code != 180:
            ringing = events.wait(CallProgress)
        ended = events.wait(CallEnded)
        responder.hang_up_all()
        event = yield ended
        assert event.reason is EndReason.REJECTED and event.status_code == 503
        (record,) = [r for r in self.records if r["log_format"] == "call ended"]
        assert (record["outcome"], record["status"], record["duration"]) == ("shutdown", 503, 0)
        assert not [c for c in reactor.getDelayedCalls() if c.func == responder._decide]

    @defer.inlineCallbacks
    def test_echo_media_sends_the_callers_audio_back(self):
        _, uri = self.responder(echo=True)
        caller_media = CallMedia("127.0.0.1", rtp=True, reactor=reactor)
        self.addCleanup(caller_media.stop_all)
        alice, events = plain_agent(self)
        answered = events.wait(CallAnswered)
        call = alice.invite(uri, offer_answer=caller_media.engine("call"))
        event = yield answered
        from sipperc.media.tone import ToneSource  # noqa: PLC0415

        def audio(rate):
            from sipperc.media.null_device import NullSink  # noqa: PLC0415
            return ToneSource(440.0, rate), NullSink(rate)

        caller_media.start("call", event.negotiated, audio)

        def echoed_packets():
            stats = caller_media.statistics("call")
            return sum(r.packets_received for r in stats.receive) if stats else 0
        # Wait for the echo rather than a fixed time: a busy machine delays both ends alike.
        for _ in range(100):
            if echoed_packets() > 5:
                break
            yield deferLater(reactor, 0.05, lambda: None)
        stats = caller_media.statistics("call")
        assert stats is not None and stats.send.packets_sent > 5
        (echoed,) = stats.receive
        assert echoed.packets_received > 5 and echoed.ssrc != stats.send.ssrc
        ended = events.wait(CallEnded)
        alice.hangup(call)
        yield ended


@pytest.fixture
def no_global_logging(monkeypatch):
    monkeypatch.setattr(cli, "start_logging", lambda *args: None)


def test_bad_listen_address_is_a_usage_error(capsys, no_global_logging):
    assert main(["responder", "--listen", "udp:localhost:x"]) == ExitCode.USAGE
    assert "--listen" in capsys.readouterr().err


def test_tls_listener_without_certificate_is_a_usage_error(capsys, no_global_logging):
    assert main(["responder", "--listen", "tls:127.0.0.1:0"]) == ExitCode.USAGE
    assert "--certificate" in capsys.readouterr().err


def test_port_in_use_is_unavailable(capsys, no_global_logging):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert main(["responder", "--listen", f"udp:127.0.0.1:{port}"]) == ExitCode.UNAVAILABLE
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_reply_code_is_checked(capsys):
    with pytest.raises(SystemExit) as info:
        main(["responder", "--reply", "180"])
    assert info.value.code == ExitCode.USAGE
    assert "give 200 to answer" in capsys.readouterr().err


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["responder", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--echo-media" in out and "call records" in out
