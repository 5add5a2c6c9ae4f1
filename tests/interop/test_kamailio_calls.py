"""Two sipperc phones register with a real Kamailio 5.6 and call each other through it.

Kamailio is registrar and record-routing stateful proxy (``tests/interop/kamailio.py``) with
SHA-256 digest: 401 for REGISTER, 407 for INVITE; our ``DigestClient`` answers both (only
for Kamailio's realm and address). Each phone sends every request outside a dialog to
Kamailio (outbound proxy); the callee is found in Kamailio's location table. In both
directions over UDP, and once over TCP, with the BYE from either side, a test asserts what a
user notices (the call is established, each side hears the other's speech, the hang-up ends
the call on both phones with 200 to the BYE) and that the route set is honoured: the ACK and
the BYE carry a Route naming Kamailio's Record-Route, are sent to Kamailio, and Kamailio
relays them by ``loose_route``. Then pjsua2 registers as a third subscriber (MD5 digest
answered by PJSIP) and calls a sipperc phone through Kamailio, and is called by it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from twisted.internet import defer, reactor, task, utils
from twisted.names import dns
from twisted.trial import unittest

from sipperc.media.wav_file import read_wav
from sipperc.sip import Request
from sipperc.sip import headers as h
from sipperc.sip.digest import DigestAccount, DigestChallenge, DigestClient
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallEnded,
    EndReason,
    IncomingCall,
)
from tests.interop.kamailio import Kamailio, KamailioUser
from tests.interop.pjsua2_peer import Pjsua2Phone, require_pjsua2
from tests.interop.sipperc_phone import SipperPhone
from tests.media.audio_checks import AUDIO, heard_in_loop, speech
from tests.sip.dns_zone import serve_zone

pytestmark = pytest.mark.interop

DOMAIN = "sipperc.test"
SPEECH = AUDIO / "speech-8k.wav"
USERS = {
    "alice": KamailioUser("alice", "Circle of Life", auth_user="alice-auth"),
    "bob": KamailioUser("bob", "Zebra Crossing"),
    "carol": KamailioUser("carol", "Pine Needles", auth_user="carol-pjsua"),
}


class KamailioHarness(unittest.TestCase):
    """A Kamailio per test, our phones registered with it on demand, call checks."""

    timeout = 30
    talk = 2.0
    algorithm = "SHA-256"
    start_kamailio: Any

    @pytest.fixture(autouse=True)
    def _kamailio(self, kamailio):
        self.start_kamailio = kamailio

    def setUp(self) -> None:
        self.directory = Path(self.mktemp()).resolve()
        self.server: Kamailio = self.start_kamailio(
            users=list(USERS.values()), algorithm=self.algorithm, domain=DOMAIN)
        self.phones: dict[str, SipperPhone] = {}

    @defer.inlineCallbacks
    def register_phones(self, transport: str, names: tuple[str, ...] = ("alice", "bob")):
        """Our phones listening on ``transport``, registered with Kamailio over it."""
        host, port = self.server.address
        self.proxy = TransportAddress(transport, host, port)
        suffix = "" if transport == "udp" else f";transport={transport}"
        for name in names:
            user = USERS[name]
            # Challenges are answered for Kamailio only: its realm, and the hosts requests
            # go to (the registrar's domain for REGISTER, the proxy's address otherwise).
            digest = DigestClient([DigestAccount(user.username, user.password,
                                                 servers=(DOMAIN, host), realm=DOMAIN)])
            phone = SipperPhone.start(name, self.directory / name,
                                      [f"{transport}:127.0.0.1:0"], digest=digest,
                                      domain=DOMAIN,
                                      outbound_proxy=f"sip:{host}:{port}{suffix};lr",
                                      play=SPEECH)
            self.addCleanup(phone.stop)
            self.phones[name] = phone
            yield phone.register(self.proxy, f"sip:{name}@{DOMAIN}", digest, DOMAIN)

    def sleep(self, seconds: float) -> defer.Deferred[None]:
        return task.deferLater(reactor, seconds, lambda: None)

    @defer.inlineCallbacks
    def call_through_kamailio(self, caller_name: str, callee_name: str, hangup_by: str,
                              transport: str = "udp"):
        yield self.register_phones(transport)
        caller, callee = self.phones[caller_name], self.phones[callee_name]
        call = caller.call(f"sip:{callee_name}@{DOMAIN}")
        incoming = yield callee.wait(IncomingCall)
        answered = yield caller.wait(CallAnswered, where=lambda e: e.call == call)
        callee_answered = yield callee.wait(CallAnswered)
        assert callee_answered.call == incoming.call
        call_id = call.call_id

        # Kamailio challenged the INVITE (407) and relayed the one with our credentials.
        invite_responses = [r.status_code for r in caller.messages("in", "INVITE", call_id)]
        assert invite_responses[0] == 407 and invite_responses[-1] == 200, invite_responses
        challenge = DigestChallenge.parse(
            caller.messages("in", "INVITE", call_id)[0].first(h.PROXY_AUTHENTICATE))
        assert challenge.algorithm.value == self.algorithm and challenge.realm == DOMAIN
        invites = caller.messages("out", "INVITE", call_id)
        assert "Proxy-Authorization" not in invites[0] and "Proxy-Authorization" in invites[-1]
        assert len(self.server.routed("initial", "INVITE", call_id)) == 1
        # It arrived through the proxy (over TCP on a connection Kamailio opened, from a port
        # of its own), which record-routed it.
        source = incoming.source
        assert source is not None and (source.transport, source.host) == (
            transport, self.proxy.host)
        assert transport != "udp" or source == self.proxy
        record_route = incoming.request.get("Record-Route")
        assert record_route and f"sip:{self.proxy.host}:{self.proxy.port}" in record_route

        yield caller.talk(call, self.talk)
        yield callee.talk(incoming.call, self.talk)
        ender = self.phones[hangup_by]
        other = callee if ender is caller else caller
        ender_call = call if ender is caller else incoming.call
        ended_here = ender.wait(CallEnded)
        ended_there = other.wait(CallEnded)
        ender.hangup(ender_call)
        assert (yield ended_here).reason is EndReason.LOCAL_BYE
        assert (yield ended_there).reason is EndReason.REMOTE_BYE
        bye_response = yield ender.final_response("BYE", call_id)
        assert bye_response.status_code == 200

        # The route set: the ACK (caller) and the BYE (whoever hung up) went to Kamailio
        # with a Route naming its Record-Route, and Kamailio relayed them by loose_route.
        self.assert_routed(caller, "ACK", call_id, callee)
        self.assert_routed(ender, "BYE", call_id, other)
        assert len(self.server.routed("loose_route", "ACK", call_id)) == 1
        assert len(self.server.routed("loose_route", "BYE", call_id)) == 1

        # What each user heard: the other's speech (G.711 in 20 ms blocks, >= 0.8 s of it
        # compared, >= 30 dB median, 60% of the blocks >= 30 dB).
        for phone in (caller, callee):
            (media,) = phone.media.values()
            assert media.started.codec == "PCMU/8000"
            assert media.started.remote[0] == "127.0.0.1"  # media flows phone to phone
            heard, _ = read_wav(media.recording)
            snrs = heard_in_loop(speech(8000), heard[2400:-2000])
            assert len(snrs) >= 40 and np.median(snrs) >= 30 and np.mean(snrs >= 30) >= 0.6, (
                phone.name, snrs.round(1))
            print(f"\n{transport}: {phone.name} heard the other: median SNR "
                  f"{np.median(snrs):.1f} dB, {np.mean(snrs >= 30):.0%} of blocks >= 30 dB")
        return answered

    def assert_routed(self, phone: SipperPhone, method: str, call_id: str,
                      peer: SipperPhone) -> None:
        # In the dialog only: the ACK to the 407 is hop-by-hop, part of the INVITE's
        # transaction (RFC 3261 §17.1.1.3), and goes where that INVITE went.
        sent = [(m, where) for way, m, where in phone.service.wire
                if way == "out" and isinstance(m, Request) and m.method == method
                and m.call_id == call_id and m.to.tag == self.remote_tag(phone, call_id)]
        assert sent, f"{phone.name} sent no {method}"
        for request, destination in sent:
            assert destination == self.proxy, (method, destination)
            route = request.get("Route")
            assert route and f"sip:{self.proxy.host}:{self.proxy.port}" in route, route
            assert ";lr" in route and (self.proxy.transport == "udp"
                                       or f"transport={self.proxy.transport}" in route), route
            # Loose routing (RFC 3261 §12.2.1.1): the Request-URI is the peer's Contact.
            contact = peer.uri(self.proxy.transport)
            assert str(request.uri) == contact, (str(request.uri), contact)

    @staticmethod
    def remote_tag(phone: SipperPhone, call_id: str) -> str | None:
        """The peer's tag in the dialog ``call_id`` (from the 200 to the INVITE, or the
        From of the INVITE that came in)."""
        for way, message, _ in phone.service.wire:
            if message.call_id != call_id:
                continue
            if way == "in" and isinstance(message, Request) and message.method == "INVITE":
                return message.from_.tag
            if way == "in" and not isinstance(message, Request) and \
                    message.status_code == 200 and message.cseq.method == "INVITE":
                return message.to.tag
        return None



class KamailioCallTests(KamailioHarness):
    """Two sipperc phones calling each other through Kamailio (SHA-256 digest)."""

    def test_alice_calls_bob_and_hangs_up(self):
        return self.call_through_kamailio("alice", "bob", hangup_by="alice")

    def test_bob_calls_alice_and_alice_hangs_up(self):
        return self.call_through_kamailio("bob", "alice", hangup_by="alice")

    def test_alice_calls_bob_over_tcp_and_bob_hangs_up(self):
        return self.call_through_kamailio("alice", "bob", hangup_by="bob", transport="tcp")


class KamailioPjsua2Tests(KamailioHarness):
    """A sipperc phone and pjsua2, both subscribers of Kamailio (MD5 digest), call each other
    through it: the peer in the dialog is another stack, the route set the same Kamailio's."""

    algorithm = "MD5"

    @defer.inlineCallbacks
    def with_pjsua2(self):
        require_pjsua2()
        yield self.register_phones("udp", names=("alice",))
        host, port = self.server.address
        carol = USERS["carol"]
        pjsua = yield Pjsua2Phone.start({
            "transports": ["udp"], "codecs": ["PCMU/8000/1"], "play": str(SPEECH),
            "register": {"aor": f"sip:carol@{DOMAIN}", "registrar": f"sip:{host}:{port}",
                         "proxy": f"sip:{host}:{port};lr", "realm": DOMAIN,
                         "username": carol.username, "password": carol.password},
        }, self.directory / "pjsua.log")
        self.addCleanup(pjsua.kill)
        registered = yield pjsua.wait("registration")
        assert registered["code"] == 200, registered
        return pjsua

    @defer.inlineCallbacks
    def test_sipperc_calls_pjsua2_through_kamailio(self):
        pjsua = yield self.with_pjsua2()
        alice = self.phones["alice"]
        call = alice.call(f"sip:carol@{DOMAIN}")
        yield alice.wait(CallAnswered, where=lambda e: e.call == call)
        yield pjsua.wait("state", state="CONFIRMED")
        assert len(self.server.routed("initial", "INVITE", call.call_id)) == 1
        yield self.sleep(0.5)
        alice.hangup(call)
        assert (yield pjsua.wait("state", state="DISCONNECTED"))["code"] == 200
        assert (yield alice.final_response("BYE", call.call_id)).status_code == 200
        assert len(self.server.routed("loose_route", "ACK", call.call_id)) == 1
        assert len(self.server.routed("loose_route", "BYE", call.call_id)) == 1
        assert (yield pjsua.quit()) == 0

    @defer.inlineCallbacks
    def test_pjsua2_calls_sipperc_through_kamailio(self):
        pjsua = yield self.with_pjsua2()
        alice = self.phones["alice"]
        pjsua.call(f"sip:alice@{DOMAIN}")
        incoming = yield alice.wait(IncomingCall)
        yield alice.wait(CallAnswered)
        yield pjsua.wait("state", state="CONFIRMED")
        call_id = incoming.call.call_id
        assert incoming.source == self.proxy and incoming.request.get("Record-Route")
        yield self.sleep(0.5)
        pjsua.hangup()
        assert (yield alice.wait(CallEnded)).reason is EndReason.REMOTE_BYE
        assert (yield pjsua.wait("state", state="DISCONNECTED"))["code"] == 200
        assert len(self.server.routed("loose_route", "BYE", call_id)) == 1
        assert (yield pjsua.quit()) == 0


class CallCommandThroughKamailioTests(KamailioHarness):
    """``sipperc call --proxy`` (the CLI, as a process): the outbound proxy is found in DNS
    (RFC 3263: NAPTR, SRV, A from a DNS server of the test) and is this Kamailio, which
    finds the callee in its location table and relays the call."""

    @defer.inlineCallbacks
    def test_call_command_reaches_bob_through_the_outbound_proxy_found_in_dns(self):
        yield self.register_phones("udp", names=("bob",))
        host, port = self.server.address
        dns_port, stop_dns = serve_zone(DOMAIN, {
            f"outbound.{DOMAIN}": [dns.Record_NAPTR(10, 50, b"S", b"SIP+D2U", b"",
                                                    f"_sip._udp.outbound.{DOMAIN}".encode())],
            f"_sip._udp.outbound.{DOMAIN}": [dns.Record_SRV(0, 0, port, f"edge.{DOMAIN}")],
            f"edge.{DOMAIN}": [dns.Record_A(host)],
        })
        self.addCleanup(stop_dns)
        out, err, code = yield utils.getProcessOutputAndValue(
            sys.executable, ["-m", "sipperc", "call", f"sip:bob@{DOMAIN}", "--no-media",
                             "--duration", "0.3", "--proxy", f"sip:outbound.{DOMAIN}",
                             "--dns-server", f"127.0.0.1:{dns_port}"], env=os.environ)
        progress = out.decode().splitlines()
        assert code == 0, err.decode(errors="replace")[-2000:]
        assert progress[0] == f"locating outbound.{DOMAIN} in DNS (RFC 3263)"
        assert progress[1] == (f"trying {host}:{port}/udp (outbound proxy, SRV "
                               f"_sip._udp.outbound.{DOMAIN} from NAPTR outbound.{DOMAIN})")
        assert any(line.startswith("answered (200 OK)") for line in progress)
        bob = self.phones["bob"]
        incoming = yield bob.wait(IncomingCall)
        assert incoming.source == self.proxy and incoming.request.get("Record-Route")
        assert str(incoming.callee.uri) == f"sip:bob@{DOMAIN}"  # the To the caller wrote
        call_id = incoming.call.call_id
        assert len(self.server.routed("initial", "INVITE", call_id)) == 1
        assert len(self.server.routed("loose_route", "BYE", call_id)) == 1
