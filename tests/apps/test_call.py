"""``sipperc call``: the Caller against in-process responders, RFC 3263 server location through
a real DNS server on 127.0.0.1 (NAPTR, SRV, A), failover, the outbound proxy, CLI errors."""

from __future__ import annotations

import argparse
import io
import os
import socket
import sys

import pytest
from twisted.internet import defer, protocol, reactor, utils
from twisted.names import dns
from twisted.trial import unittest

from sipperc import cli
from sipperc.apps.call import Caller, Dialer, _route, add_arguments
from sipperc.apps.call_media import CallMedia
from sipperc.apps.responder import Responder
from sipperc.apps.sip_endpoint import ToolError, start_agent
from sipperc.cli import ExitCode, main
from sipperc.sip.message import Request
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.user_agent_events import IncomingCall
from tests.sip.dns_zone import serve_zone


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
        assert lines[0].startswith("trying 127.0.0.1:") and lines[0].endswith("/udp")
        assert lines[1] == "ringing (180 Ringing)"
        assert lines[2] == "answered (200 OK) codec=opus/48000 media=plain"
        assert lines[3].startswith("ended: local-bye after 0.2")

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


class _BlackHole(protocol.DatagramProtocol):
    """A UDP port that takes every datagram and answers none: a server that is down."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagramReceived(self, datagram: bytes, addr: object) -> None:
        self.received.append(datagram)


def _closed_tcp_port() -> int:
    """A TCP port on 127.0.0.1 with nobody listening: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocatedCallTests(unittest.TestCase):
    """The whole command (Dialer) against a real DNS server and real responders on 127.0.0.1."""

    timeout = 20

    def responder(self, reply: int = 200, transport: str = "udp") -> tuple[int, list[Request]]:
        """A responder answering ``reply``; its port and the INVITEs it got."""
        media = CallMedia("127.0.0.1", rtp=False, reactor=reactor)
        responder = Responder(media, reply=reply, reactor=reactor)
        invites: list[Request] = []

        def on_event(event: object) -> None:
            if isinstance(event, IncomingCall):
                invites.append(event.request)
            responder(event)

        agent = start_agent([TransportAddress(transport, "127.0.0.1", 0)], media.engine_for,
                            user="echo", on_event=on_event, reactor=reactor)
        responder.agent = agent
        self.addCleanup(agent.stop)
        return agent.address(transport).port, invites

    def black_hole(self) -> tuple[int, _BlackHole]:
        hole = _BlackHole()
        port = reactor.listenUDP(0, hole, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port, hole

    def zone(self, records: dict[str, list]) -> str:
        """Serve ``records`` (zone example.test) on 127.0.0.1; the --dns-server value."""
        port, stop = serve_zone("example.test", records)
        self.addCleanup(stop)
        return f"127.0.0.1:{port}"

    def dial(self, *argv: str) -> tuple[defer.Deferred, io.StringIO, io.StringIO]:
        """Run ``sipperc call ARGV`` in this reactor; fires with the exit status."""
        done: defer.Deferred = defer.Deferred()
        out, err = io.StringIO(), io.StringIO()
        dialer = Dialer(options(*argv, "--no-media", "--duration", "0.1"),
                        done=done.callback, reactor=reactor, out=out, err=err)
        self.addCleanup(dialer.shutdown)
        dialer.start()
        return done.addTimeout(15, reactor), out, err

    @defer.inlineCallbacks
    def test_naptr_chooses_the_transport_and_srv_the_order_with_503_failover(self):
        busy_port, busy = self.responder(reply=503, transport="tcp")
        good_port, good = self.responder(transport="tcp")
        _, wrong = self.responder(transport="udp")
        dns_server = self.zone({
            # NAPTR: TCP only (RFC 3263 §4.1), though a UDP SRV exists too.
            "example.test": [dns.Record_NAPTR(10, 50, b"S", b"SIP+D2T", b"",
                                              b"_sip._tcp.example.test")],
            "_sip._tcp.example.test": [dns.Record_SRV(20, 0, good_port, b"b.example.test"),
                                       dns.Record_SRV(10, 0, busy_port, b"a.example.test")],
            "_sip._udp.example.test": [dns.Record_SRV(0, 0, 5060, b"a.example.test")],
            "a.example.test": [dns.Record_A("127.0.0.1")],
            "b.example.test": [dns.Record_A("127.0.0.1")],
        })
        done, out, err = self.dial("sip:alice@example.test", "--dns-server", dns_server)
        assert (yield done) == ExitCode.OK, err.getvalue()
        lines = out.getvalue().splitlines()
        found_by = "(SRV _sip._tcp.example.test from NAPTR example.test)"
        assert lines[:4] == [
            "locating example.test in DNS (RFC 3263)",
            f"trying 127.0.0.1:{busy_port}/tcp {found_by}",
            f"127.0.0.1:{busy_port}/tcp failed (503): trying the next server",
            f"trying 127.0.0.1:{good_port}/tcp {found_by}",
        ]
        assert "answered (200 OK)" in lines[4]
        assert len(busy) == 1 and len(good) == 1 and not wrong
        assert str(good[0].uri) == "sip:alice@example.test"
        assert busy[0].call_id == good[0].call_id  # §4.3: the same request, a new transaction
        assert busy[0].top_via.branch != good[0].top_via.branch

    @defer.inlineCallbacks
    def test_a_silent_server_is_left_after_failover_after(self):
        hole_port, hole = self.black_hole()
        good_port, good = self.responder(transport="udp")
        dns_server = self.zone({  # no NAPTR: SRV per transport, UDP first (§4.1)
            "_sip._udp.example.test": [dns.Record_SRV(10, 0, hole_port, b"a.example.test"),
                                       dns.Record_SRV(20, 0, good_port, b"a.example.test")],
            "a.example.test": [dns.Record_A("127.0.0.1")],
        })
        started = reactor.seconds()
        done, out, _ = self.dial("sip:alice@example.test", "--dns-server", dns_server,
                                 "--failover-after", "0.6")
        assert (yield done) == ExitCode.OK
        lines = out.getvalue().splitlines()
        assert lines[1:4] == [
            f"trying 127.0.0.1:{hole_port}/udp (SRV _sip._udp.example.test)",
            f"127.0.0.1:{hole_port}/udp did not answer (408): trying the next server",
            f"trying 127.0.0.1:{good_port}/udp (SRV _sip._udp.example.test)",
        ]
        assert len(hole.received) == 2  # sent at 0 and 0.5 s (Timer A), left at 0.6 s
        assert len(good) == 1 and reactor.seconds() - started < 5

    @defer.inlineCallbacks
    def test_a_refused_tcp_connection_moves_on_at_once(self):
        closed = _closed_tcp_port()
        good_port, good = self.responder(transport="tcp")
        dns_server = self.zone({
            "_sip._tcp.example.test": [dns.Record_SRV(10, 0, closed, b"a.example.test"),
                                       dns.Record_SRV(20, 0, good_port, b"a.example.test")],
            "a.example.test": [dns.Record_A("127.0.0.1")],
        })
        done, out, _ = self.dial("sip:alice@example.test", "--dns-server", dns_server,
                                 "--transport", "tcp")
        assert (yield done) == ExitCode.OK
        lines = out.getvalue().splitlines()
        assert lines[2] == f"127.0.0.1:{closed}/tcp failed (503): trying the next server"
        assert len(good) == 1 and str(good[0].uri) == "sip:alice@example.test;transport=tcp"

    @defer.inlineCallbacks
    def test_an_explicit_port_skips_naptr_and_srv(self):
        _, decoy = self.responder(reply=503)
        good_port, good = self.responder()
        dns_server = self.zone({
            "_sip._udp.example.test": [dns.Record_SRV(0, 0, 1, b"example.test")],
            "example.test": [dns.Record_A("127.0.0.1")],
        })
        done, out, _ = self.dial(f"sip:alice@example.test:{good_port}",
                                 "--dns-server", dns_server)
        assert (yield done) == ExitCode.OK
        assert out.getvalue().splitlines()[1] == (
            f"trying 127.0.0.1:{good_port}/udp (A example.test)")
        assert len(good) == 1 and not decoy

    @defer.inlineCallbacks
    def test_the_outbound_proxy_gets_the_call_with_a_loose_route_and_the_callee_uri(self):
        proxy_port, proxy = self.responder()
        dns_server = self.zone({
            "_sip._udp.proxy.example.test": [
                dns.Record_SRV(0, 0, proxy_port, b"edge.example.test")],
            "edge.example.test": [dns.Record_A("127.0.0.1")],
        })
        done, out, _ = self.dial("sip:bob@elsewhere.invalid", "--dns-server", dns_server,
                                 "--proxy", "sip:proxy.example.test")
        assert (yield done) == ExitCode.OK
        assert out.getvalue().splitlines()[:2] == [
            "locating proxy.example.test in DNS (RFC 3263)",
            f"trying 127.0.0.1:{proxy_port}/udp "
            "(outbound proxy, SRV _sip._udp.proxy.example.test)"]
        (invite,) = proxy
        assert str(invite.uri) == "sip:bob@elsewhere.invalid"  # RFC 3261 §8.1.2
        assert invite.get_all("Route") == ["<sip:proxy.example.test;lr>"]

    @defer.inlineCallbacks
    def test_a_name_that_does_not_resolve_exits_69_saying_what_was_tried(self):
        dns_server = self.zone({"other.example.test": [dns.Record_A("127.0.0.1")]})
        done, out, err = self.dial("sip:alice@missing.example.test", "--dns-server",
                                   dns_server)
        assert (yield done) == ExitCode.UNAVAILABLE
        message = err.getvalue()
        assert "no SIP server found for missing.example.test" in message
        for tried in ("NAPTR missing.example.test", "SRV _sip._udp.missing.example.test",
                      "SRV _sip._tcp.missing.example.test", "A missing.example.test",
                      "AAAA missing.example.test"):
            assert tried in message
        assert out.getvalue() == "locating missing.example.test in DNS (RFC 3263)\n"

    @defer.inlineCallbacks
    def test_the_command_line_reports_a_missing_name_with_exit_69(self):
        dns_server = self.zone({})
        code_out_err = yield utils.getProcessOutputAndValue(
            sys.executable, ["-m", "sipperc", "call", "sip:alice@nowhere.example.test",
                             "--dns-server", dns_server], env=os.environ)
        out, err, code = code_out_err
        assert code == ExitCode.UNAVAILABLE and b"trying" not in out
        assert b"no SIP server found for nowhere.example.test" in err
        assert b"NAPTR nowhere.example.test: no such name" in err


def options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_route_adds_the_transport_and_the_proxy_loose_routes():
    route = _route(options("sip:bob@127.0.0.1:5070", "--transport", "tcp"))
    assert str(route.request_uri) == "sip:bob@127.0.0.1:5070;transport=tcp"
    assert route.first_hop is route.request_uri and route.transports == ("tcp",)
    proxied = _route(options("sip:bob@example.com", "--proxy", "sip:proxy.example.net"))
    assert str(proxied.first_hop) == "sip:proxy.example.net;lr"
    assert str(proxied.request_uri) == "sip:bob@example.com"
    assert proxied.transports == ("udp", "tcp", "tls")  # RFC 3263 §4.1 chooses
    assert _route(options("sip:bob@example.com"),
                  TransportAddress("tcp", "127.0.0.1", 0)).transports == ("tcp",)


@pytest.mark.parametrize(("argv", "words"), [
    (["bob@127.0.0.1"], "not a SIP URI"),
    (["tel:+15551234"], "sip: or sips:"),
    (["sip:bob@127.0.0.1;transport=udp", "--transport", "tcp"], "contradicts"),
    (["sip:bob@127.0.0.1;transport=sctp"], "not udp, tcp or tls"),
    (["sip:bob@example.com", "--proxy", "mailto:x@y"], "--proxy"),
])
def test_bad_routes_are_usage_errors(argv, words):
    with pytest.raises(ToolError) as info:
        _route(options(*argv))
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
    assert "RFC 3263" in out and "--proxy" in out and "--dns-server" in out
    assert "trying 192.0.2.1:5060/udp (SRV _sip._udp.example.com)" in out


@pytest.mark.parametrize(("argv", "words"), [
    (["--dns-server", "dns.example"], "must be an IP address"),
    (["--dns-server", "127.0.0.1:x"], "expected HOST[:PORT]"),
    (["--dns-server", "127.0.0.1:70000"], "out of range"),
    (["--failover-after", "0"], "--failover-after must be > 0"),
])
def test_bad_location_options_are_usage_errors(capsys, no_global_logging, argv, words):
    assert main(["call", "sip:bob@example.com", *argv]) == ExitCode.USAGE
    assert words in capsys.readouterr().err
