"""The offer/answer engine against a real baresip, over UDP on 127.0.0.1.

Both directions: sipperc offers (plain, SDES, DTLS-SRTP, and the PERC offer, which baresip must
answer as ordinary DTLS-SRTP because it ignores ``a=sipperc-perc``) and baresip answers; then
baresip offers and sipperc answers. Media proves the negotiation: SDES keys must decrypt
baresip's SRTP in libsrtp, and the DTLS-SRTP fingerprints must let sipperc's DTLS handshake with
baresip complete (each side checks the other's certificate against the SDP).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pylibsrtp
import pytest

from sipperc.dtls import ConnectionClosed, DtlsConnection, HandshakeComplete, Identity
from sipperc.sdp import (
    Answer,
    Codec,
    DtlsIdentity,
    DtlsRole,
    DtlsSrtp,
    MediaCapabilities,
    MediaSecurityPolicy,
    NegotiatedSession,
    NegotiatedStream,
    OfferAnswer,
    SdesSrtp,
    SecurityMechanism,
    SessionDescription,
    TransportAddress,
    parse_sdp,
)
from sipperc.srtp import Profile
from tests.interop.kamailio import free_port

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("baresip") is None, reason="baresip is not installed"),
]

HOST = "127.0.0.1"
AUDIO_FILE = Path(__file__).parents[2] / "audio" / "speech-8k.wav"
CAPABILITIES = [MediaCapabilities("audio", (
    Codec("PCMU", 8000, payload_type=0), Codec("telephone-event", 8000, fmtp="0-15")),
    ptime=20, rtcp_mux=False)]
LIBSRTP = {
    Profile.AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    Profile.AES_CM_128_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    Profile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    Profile.AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.settimeout(0.2)
    return sock


@contextlib.contextmanager
def baresip(tmp_path: Path, mediaenc: str | None, dial: str | None = None
            ) -> Iterator[tuple[int, Path]]:
    """Run baresip headless (answering automatically, or dialling ``dial``)."""
    port = free_port()
    conf = tmp_path / "baresip"
    conf.mkdir()
    (conf / "config").write_text(
        f"sip_listen {HOST}:{port}\nnet_interface {HOST}\n"
        f"audio_source aufile,{AUDIO_FILE}\naudio_player aubridge,nil\n"
        "module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n"
        "module aubridge.so\nmodule srtp.so\nmodule dtls_srtp.so\n"
        "module_app account.so\nmodule_app menu.so\n")
    params = ";regint=0;answermode=auto" + (f";mediaenc={mediaenc}" if mediaenc else "")
    (conf / "accounts").write_text(f"<sip:bob@{HOST}:{port}>{params}\n")
    command = ["baresip", "-f", str(conf), "-t", "20"]
    if dial:
        command += ["-e", f"/dial {dial}"]
    log = tmp_path / "baresip.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        yield port, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Signalling:
    """Just enough SIP over one UDP socket to carry offers and answers to baresip."""

    def __init__(self) -> None:
        self.sock = udp_socket()
        self.port = self.sock.getsockname()[1]
        self.call_id = uuid.uuid4().hex

    def close(self) -> None:
        self.sock.close()

    def receive(self, predicate, timeout: float = 8.0) -> tuple[str, tuple[str, int]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            text = data.decode()
            if predicate(text):
                return text, peer
        raise AssertionError("no matching SIP message from baresip")

    def request(self, method: str, target: int, cseq: int, body: str = "",
                to_tag: str = "") -> str:
        head = (f"{method} sip:bob@{HOST}:{target} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{self.port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:alice@{HOST}>;tag=sipperc\r\n"
                f"To: <sip:bob@{HOST}:{target}>{to_tag}\r\nCall-ID: {self.call_id}\r\n"
                f"CSeq: {cseq} {method}\r\nContact: <sip:alice@{HOST}:{self.port}>\r\n")
        if body:
            head += "Content-Type: application/sdp\r\n"
        message = f"{head}Content-Length: {len(body.encode())}\r\n\r\n{body}"
        self.sock.sendto(message.encode(), (HOST, target))
        return message

    def invite(self, target: int, offer: SessionDescription) -> tuple[str, SessionDescription]:
        """INVITE with ``offer``; returns the To tag and the answer in the 200 OK."""
        self.request("INVITE", target, 1, str(offer))
        response, _ = self.receive(lambda t: t.startswith("SIP/2.0 200") and "INVITE" in
                                   t.split("CSeq:")[1].split("\r\n")[0])
        to_tag = re.search(r"^To:.*(;tag=[^;\r\n]+)", response, re.M | re.I)
        assert to_tag is not None
        self.request("ACK", target, 1, to_tag=to_tag.group(1))
        return to_tag.group(1), parse_sdp(response.split("\r\n\r\n", 1)[1])

    def bye(self, target: int, to_tag: str) -> None:
        self.request("BYE", target, 2, to_tag=to_tag)


def engine(policy: MediaSecurityPolicy, media: socket.socket, identity: Identity,
           role: DtlsRole = DtlsRole.CLIENT) -> OfferAnswer:
    port = media.getsockname()[1]
    return OfferAnswer(address=HOST, capabilities=CAPABILITIES, security=policy,
                       transports=lambda index, kind: TransportAddress(HOST, port),
                       dtls_identity=DtlsIdentity.of_certificate(identity.certificate_der),
                       dtls_answer_role=role)


def first_packet(media: socket.socket, kind: range, timeout: float = 8.0
                 ) -> tuple[bytes, tuple[str, int]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data, peer = media.recvfrom(2048)
        except TimeoutError:
            continue
        if data and data[0] in kind and (kind != RTP or data[1] & 0x7F < 72):
            return data, peer
    raise AssertionError("no packet of the expected kind from baresip")


RTP = range(128, 192)  # RFC 7983: the first byte of RTP/RTCP
DTLS = range(20, 64)  # RFC 7983: the first byte of a DTLS record


def check_sdes(stream: NegotiatedStream, media: socket.socket) -> None:
    security = stream.security
    assert isinstance(security, SdesSrtp)
    packet, _ = first_packet(media, RTP)
    key = security.remote_key
    session = pylibsrtp.Session(pylibsrtp.Policy(
        key=key.master_key + key.master_salt, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
        srtp_profile=LIBSRTP[key.profile]))
    rtp = session.unprotect(packet)
    assert rtp[1] & 0x7F in {c.receive_payload_type for c in stream.codecs}


def check_dtls(stream: NegotiatedStream, media: socket.socket, identity: Identity) -> None:
    security = stream.security
    assert isinstance(security, DtlsSrtp)
    connection = DtlsConnection(
        security.role.value, identity, security.profiles,
        [f.certificate_fingerprint for f in security.remote_fingerprints],
        local_tls_id=security.local_tls_id.value,
        remote_tls_id=security.remote_tls_id.value if security.remote_tls_id else None)
    peer = (stream.remote_address, stream.remote_port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = time.monotonic()
        for datagram in connection.datagrams_to_send(now):
            media.sendto(datagram, peer)
        while (event := connection.next_event()) is not None:
            if isinstance(event, HandshakeComplete):
                assert event.srtp_profile in security.profiles
                return
            if isinstance(event, ConnectionClosed):
                raise AssertionError(f"DTLS with baresip failed: {event.reason}")
        try:
            data, source = media.recvfrom(4096)
        except TimeoutError:
            connection.handle_timer(time.monotonic())
            continue
        if data and data[0] in DTLS:
            peer = source
            connection.receive_datagram(data, time.monotonic())
    raise AssertionError("the DTLS handshake with baresip did not complete")


OFFERS = [
    ("plain", None, MediaSecurityPolicy.plain_only()),
    ("sdes", "srtp-mand", MediaSecurityPolicy(
        SecurityMechanism.SDES, frozenset({SecurityMechanism.SDES}))),
    ("dtls", "dtls_srtp", MediaSecurityPolicy.encrypted()),
    ("perc", "dtls_srtp", MediaSecurityPolicy(SecurityMechanism.PERC, frozenset(
        {SecurityMechanism.PERC, SecurityMechanism.DTLS_SRTP}))),
]


@pytest.mark.parametrize(("name", "mediaenc", "policy"), OFFERS, ids=[o[0] for o in OFFERS])
def test_baresip_answers_our_offer(tmp_path, name, mediaenc, policy):
    identity = Identity.generate()
    media = udp_socket()
    sip = Signalling()
    ours = engine(policy, media, identity)
    try:
        with baresip(tmp_path, mediaenc) as (port, _log):
            offer = ours.create_offer()
            if name == "perc":
                assert offer.media[0].perc is not None
            to_tag, answer = sip.invite(port, offer)
            result = ours.receive_answer(answer)
            assert isinstance(result, NegotiatedSession), result
            (stream,) = result.streams
            assert stream.accepted and stream.codecs[0].name == "PCMU"
            if name == "plain":
                packet, _ = first_packet(media, RTP)
                assert packet[1] & 0x7F == 0
            elif name == "sdes":
                check_sdes(stream, media)
            else:
                # baresip ignores the PERC marker and answers ordinary DTLS-SRTP.
                assert answer.media[0].perc is None
                assert stream.security.mechanism is SecurityMechanism.DTLS_SRTP
                check_dtls(stream, media, identity)
            sip.bye(port, to_tag)
    finally:
        sip.close()
        media.close()


ANSWERS = [
    pytest.param("srtp-mand", DtlsRole.CLIENT, id="sdes"),
    pytest.param("dtls_srtp", DtlsRole.SERVER, id="dtls-passive"),
    # baresip 1.0's DTLS server has an RSA certificate: sipperc's DTLS client negotiates an
    # ECDHE_RSA suite with it.
    pytest.param("dtls_srtp", DtlsRole.CLIENT, id="dtls-active"),
]


@pytest.mark.parametrize(("mediaenc", "role"), ANSWERS)
def test_we_answer_baresips_offer(tmp_path, mediaenc, role):
    identity = Identity.generate()
    media = udp_socket()
    sip = Signalling()
    ours = engine(MediaSecurityPolicy.bridge_anything(), media, identity, role)
    try:
        with baresip(tmp_path, mediaenc, dial=f"sip:alice@{HOST}:{sip.port}"):
            invite, peer = sip.receive(lambda t: t.startswith("INVITE "))
            offer = parse_sdp(invite.split("\r\n\r\n", 1)[1])
            outcome = ours.receive_offer(offer)
            assert isinstance(outcome, Answer), outcome
            headers = invite.split("\r\n\r\n", 1)[0].split("\r\n")
            keep = [h for h in headers if h.split(":")[0].lower() in
                    ("via", "from", "call-id", "cseq")]
            to = next(h for h in headers if h.lower().startswith("to:"))
            body = str(outcome.description)
            response = "\r\n".join(
                ["SIP/2.0 200 OK", *keep, f"{to};tag=sipperc",
                 f"Contact: <sip:alice@{HOST}:{sip.port}>", "Content-Type: application/sdp",
                 f"Content-Length: {len(body)}", "", body])
            sip.sock.sendto(response.encode(), peer)
            (stream,) = outcome.negotiated.streams
            if mediaenc == "srtp-mand":
                check_sdes(stream, media)
            else:
                assert stream.security.role is role
                assert outcome.description.media[0].setup is role.setup
                check_dtls(stream, media, identity)
    finally:
        sip.close()
        media.close()
