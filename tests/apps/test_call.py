"""``sipperc call``: the Caller against an in-process responder, target parsing, CLI errors."""

from __future__ import annotations

import argparse
import io

import pytest
from twisted.internet import defer, reactor
from twisted.trial import unittest

from sipperc import cli
from sipperc.apps.call import Caller, _target
from sipperc.apps.call_media import CallMedia
from sipperc.apps.responder import Responder
from sipperc.apps.sip_endpoint import ToolError, start_agent
from sipperc.cli import ExitCode, main
from sipperc.sip.transport_address import TransportAddress


class CallerTests(unittest.TestCase):
    def callee(self, **options) -> str:
        media = CallMedia("127.0.0.1", rtp=False, reactor=reactor)
        responder = Responder(media, reactor=reactor, **options)
        agent = start_agent([TransportAddress("udp", "127.0.0.1", 0)], media.engine_for,
                            user="echo", on_event=responder, reactor=reactor)
        responder.agent = agent
        self.addCleanup(agent.stop)
        return agent.uri("echo")

    def place(self, uri: str, **options) -> tuple[defer.Deferred, io.StringIO]:
        done: defer.Deferred = defer.Deferred()
        out = io.StringIO()
        media = CallMedia("127.0.0.1", rtp=False, reactor=reactor)
        caller = Caller(media, duration=options.pop("duration", 0.2), play=None,
                        timeout=options.pop("timeout", 5.0), done=done.callback,
                        reactor=reactor, out=out)
        agent = start_agent([TransportAddress("udp", "127.0.0.1", 0)], media.engine_for,
                            user="alice", on_event=caller, reactor=reactor)
        self.addCleanup(agent.stop)
        caller.place(agent, uri)
        return done.addTimeout(10, reactor), out

    @defer.inlineCallbacks
    def test_answered_call_exits_0_and_reports_its_progress(self):
        done, out = self.place(self.callee(answer_after=0.1))
        assert (yield done) == ExitCode.OK
        lines = out.getvalue().splitlines()
        assert lines[0] == "ringing (180 Ringing)"
        assert lines[1] == "answered (200 OK) codec=opus/48000 media=plain"
        assert lines[2].startswith("ended: local-bye after 0.2")

    @defer.inlineCallbacks
    def test_refused_call_exits_1_with_the_status(self):
        done, out = self.place(self.callee(reply=603))
        assert (yield done) == 1
        assert out.getvalue().splitlines()[-1] == "ended: rejected 603"

    @defer.inlineCallbacks
    def test_unanswered_call_is_cancelled_at_the_timeout(self):
        done, out = self.place(self.callee(answer_after=30), timeout=0.3)
        assert (yield done) == 1
        lines = out.getvalue().splitlines()
        assert "no answer after 0.3 s: cancelling" in lines
        assert lines[-1] == "ended: cancelled 487"


def args(uri: str, transport: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(uri=uri, transport=transport)


def test_target_adds_the_transport_and_finds_the_first_hop():
    uri, hop = _target(args("sip:bob@127.0.0.1:5070", "tcp"))
    assert uri == "sip:bob@127.0.0.1:5070;transport=tcp"
    assert hop == TransportAddress("tcp", "127.0.0.1", 5070)
    assert _target(args("sips:bob@127.0.0.1"))[1] == TransportAddress("tls", "127.0.0.1", 5061)


@pytest.mark.parametrize(("uri", "transport", "words"), [
    ("bob@127.0.0.1", None, "not a SIP URI"),
    ("tel:+15551234", None, "sip: or sips:"),
    ("sip:bob@127.0.0.1;transport=udp", "tcp", "contradicts"),
])
def test_bad_targets_are_usage_errors(uri, transport, words):
    with pytest.raises(ToolError) as info:
        _target(args(uri, transport))
    assert info.value.exit_code == ExitCode.USAGE and words in str(info.value)


@pytest.fixture
def no_global_logging(monkeypatch):
    monkeypatch.setattr(cli, "start_logging", lambda *args: None)


def test_username_without_password_is_a_usage_error(capsys, no_global_logging):
    assert main(["call", "sip:bob@127.0.0.1", "--username", "bob"]) == ExitCode.USAGE
    assert "--username and --password go together" in capsys.readouterr().err


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["call", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--password" in out and "exit status" in out
