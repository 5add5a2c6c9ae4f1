"""The SIP tools' shared command-line handling: listening addresses, TLS options, binding."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest
from twisted.internet import defer, reactor
from twisted.trial import unittest

from sipperc.apps.sip_endpoint import (
    ToolError,
    drain,
    listen_addresses,
    start_agent,
    tls_config,
)
from sipperc.cli import ExitCode
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.user_agent_events import CallAnswered, CallEnded, EndReason, IncomingCall
from tests.apps.sip_agents import plain_agent


def test_listen_addresses_one_per_transport():
    assert listen_addresses(["udp:127.0.0.1:5070", "tcp:127.0.0.1:5070"]) == [
        TransportAddress("udp", "127.0.0.1", 5070), TransportAddress("tcp", "127.0.0.1", 5070)]


@pytest.mark.parametrize(("texts", "words"), [
    (["udp"], "expected TRANSPORT:HOST[:PORT]"),
    (["sctp:127.0.0.1:5070"], "unknown transport"),
    (["ws:127.0.0.1:80"], "udp, tcp or tls"),
    (["udp:127.0.0.1:1", "udp:127.0.0.1:2"], "one listening address per transport"),
])
def test_bad_listen_addresses_are_usage_errors(texts, words):
    with pytest.raises(ToolError) as info:
        listen_addresses(texts)
    assert info.value.exit_code == ExitCode.USAGE and words in str(info.value)


def tls_args(**values) -> argparse.Namespace:
    base = {"certificate": None, "private_key": None, "trust": None, "no_verify": False}
    return argparse.Namespace(**{**base, **values})


def test_tls_config(tmp_path: Path):
    assert tls_config(tls_args(), needs_identity=False) is None
    assert tls_config(tls_args(no_verify=True), needs_identity=False).verify is False
    with pytest.raises(ToolError, match="go together"):
        tls_config(tls_args(certificate=tmp_path / "c.pem"), needs_identity=True)
    with pytest.raises(ToolError, match="needs --certificate"):
        tls_config(tls_args(), needs_identity=True)
    with pytest.raises(ToolError, match="no such file"):
        tls_config(tls_args(certificate=tmp_path / "c", private_key=tmp_path / "k"), True)


def test_a_port_in_use_is_unavailable():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(ToolError) as info:
            start_agent([TransportAddress("udp", "127.0.0.1", port)], lambda r: None,
                        user="x", on_event=lambda e: None)
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert f"127.0.0.1:{port}" in str(info.value)


class DrainTests(unittest.TestCase):
    """A stopping tool ends its calls, then waits (a little) for their BYEs to be answered."""

    @defer.inlineCallbacks
    def call_up(self):
        bob, bob_events = plain_agent(self, "bob")
        alice, events = plain_agent(self)
        bob_events.on[IncomingCall] = lambda event: bob.answer(event.call)
        answered = bob_events.wait(CallAnswered)  # bob has the ACK
        alice.invite(bob.uri("bob"))
        yield answered
        return bob, alice, events

    @defer.inlineCallbacks
    def test_waits_for_the_answer_to_the_last_bye(self):
        bob, _, events = yield self.call_up()
        ended = events.wait(CallEnded)
        bob.shutdown()
        assert bob.ua.calls == () and bob.ua.ending  # the BYE is out, its 200 not yet in
        started = reactor.seconds()
        yield drain(bob, reactor, limit=5.0)
        assert bob.ua.ending == () and reactor.seconds() - started < 1.0
        assert (yield ended).reason is EndReason.REMOTE_BYE

    @defer.inlineCallbacks
    def test_gives_up_after_the_limit_when_nobody_answers(self):
        bob, alice, _ = yield self.call_up()
        yield alice.stop()
        bob.shutdown()
        started = reactor.seconds()
        yield drain(bob, reactor, limit=0.6)
        assert bob.ua.ending and reactor.seconds() - started >= 0.6
