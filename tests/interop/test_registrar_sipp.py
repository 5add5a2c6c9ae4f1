"""SIPp registers with our registrar through our DigestServer: a third-party digest client.

SIPp 3.6 computes MD5 digests (``[authentication]``, qop=auth with nc and cnonce), so the
server side of our digest code meets an implementation that is not ours.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from twisted.internet import defer, reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from sipperc.sip.digest import DigestAlgorithm, DigestServer
from sipperc.sip.registrar import Registrar, RegistrarTU
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import SipService
from tests.interop.kamailio import free_port

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed"),
]

DOMAIN = "sipperc.test"

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="REGISTER with digest, then {second}">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:{user}@{domain}>;tag=[pid]SIPpTag[call_number]
      To: <sip:{user}@{domain}>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Expires: 300
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:{user}@{domain}>;tag=[pid]SIPpTag[call_number]
      To: <sip:{user}@{domain}>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Expires: 300
      [authentication username={auth_user} password={password}]
      Content-Length: 0

    ]]>
  </send>
  <recv response="{expected}"/>
</scenario>
"""


class SippRegistersWithUs(unittest.TestCase):
    timeout = 30
    directory: Path

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    def setUp(self) -> None:
        # SIPp's [authentication] keyword ends a value at a space: no spaces here.
        passwords = {"alice-auth": "CircleOfLife"}
        self.server = DigestServer(
            DOMAIN,
            passwords.get,
            b"sipp interop secret, 32 bytes!!!",
            algorithms=(DigestAlgorithm.MD5,),
        )
        self.registrar = Registrar(
            [DOMAIN], digest=self.server, may_register=lambda user, aor: user == "alice-auth"
        )
        layer = TransactionLayer()
        self.service = SipService(
            layer,
            [ListeningPoint(TransportAddress("udp", "127.0.0.1", 0))],
            tu=RegistrarTU(layer, self.registrar),
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        (point,) = self.service.listening_points
        self.port = point.local.port

    @defer.inlineCallbacks
    def sipp(self, password: str, expected: int):
        directory = self.directory
        scenario = directory / "register.xml"
        scenario.write_text(
            SCENARIO.format(
                domain=DOMAIN,
                user="alice",
                auth_user="alice-auth",
                password=password,
                expected=expected,
                second="expect a final response",
            )
        )
        sipp_port = free_port()
        arguments = [
            "-sf", str(scenario),
            "-m", "1",
            "-i", "127.0.0.1",
            "-p", str(sipp_port),
            "-timeout", "15s",
            "-timeout_error",
            "-nostdin",
            f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        out, err, code = yield getProcessOutputAndValue(
            shutil.which("sipp"),
            arguments,
            path=str(directory),
            reactor=reactor,
        )
        return code, out + err, sipp_port

    @defer.inlineCallbacks
    def test_sipp_answers_our_md5_challenge_and_is_registered(self):
        code, output, sipp_port = yield self.sipp("CircleOfLife", 200)
        assert code == 0, output.decode(errors="replace")[-2000:]
        (binding,) = self.registrar.location.lookup(f"sip:alice@{DOMAIN}", reactor.seconds())
        assert str(binding.uri) == f"sip:alice@127.0.0.1:{sipp_port}"
        assert binding.source == TransportAddress("udp", "127.0.0.1", sipp_port)

    @defer.inlineCallbacks
    def test_sipp_with_a_wrong_password_is_challenged_again(self):
        code, output, _ = yield self.sipp("not the password", 401)
        assert code == 0, output.decode(errors="replace")[-2000:]
        assert self.registrar.location.lookup(f"sip:alice@{DOMAIN}", reactor.seconds()) == ()
