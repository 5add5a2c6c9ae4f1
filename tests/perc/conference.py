"""A whole PERC conference on 127.0.0.1 for the tests: Key Distributor, Media Distributor,
a focus standing in for the SIP call processing, and participants playing tones.

Everything runs on the real reactor with real sockets on ports the OS picks. The Key and Media
Distributors are the real servers (``KeyServer``, ``DistributorServer``) either in this process
(:class:`InProcessConference`) or, in the process-level tests, as child processes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from sipperc.apps.distributor import DistributorConfig, DistributorServer
from sipperc.apps.keyserver import KeyServer, KeyServerConfig
from sipperc.apps.serving import SocketAddress
from sipperc.dtls import Fingerprint, Identity
from sipperc.media.negotiated import NegotiatedFormat, NegotiatedMedia
from sipperc.media.tone import ToneSource
from sipperc.perc.focus_interface import Accepted, Refused
from sipperc.perc.focus_service import FocusInterfaceClient
from sipperc.perc.key_distributor import ParticipantAnnouncement
from sipperc.perc.media_distributor import RoomConfig
from sipperc.perc.participant import Participant, PercSessionParameters
from sipperc.perc.participant_endpoint import ParticipantEndpoint
from sipperc.perc.policy import ConferenceIdentity, ConferencePolicy, RekeyPolicy
from sipperc.perc.switching import SwitchingConfig
from sipperc.perc.tunnel_service import ReconnectBackoff
from sipperc.perc.tunnel_tls import MutualTLS, PeerTrust
from tests.media.audio_checks import tone_levels
from tests.media.lossy_network import RecordingSink
from tests.perc.certs import make_identity

ROOM = "design-review"
ROOM_NAME = "Design review"
RATE = 8000
FREQUENCIES = (440.0, 620.0, 860.0, 1180.0, 1520.0, 1860.0, 2240.0)


def pcmu() -> NegotiatedMedia:
    return NegotiatedMedia([NegotiatedFormat(0, "PCMU", 8000)], 0.02)


def tls_id() -> bytes:
    return secrets.token_urlsafe(18).encode()


def wait(seconds):
    return deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def until(predicate, timeout=10.0, step=0.05):
    """Poll ``predicate`` on the reactor until it holds; fail after ``timeout`` seconds."""
    waited = 0.0
    while not predicate():
        if waited >= timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        yield wait(step)
        waited += step


class Servers:
    """Certificates and TLS settings for the Key Distributor, Media Distributor and focus."""

    def __init__(self):
        self.kd_tunnel = make_identity("kd-tunnel")
        self.md = make_identity("media-distributor")
        self.kd_focus = make_identity("kd-focus")
        self.focus = make_identity("focus")
        self.conference = Identity.generate(ROOM_NAME)

    def kd_tunnel_tls(self):
        return MutualTLS(self.kd_tunnel.credentials(), PeerTrust(fingerprints=(
            self.md.fingerprint,)))

    def md_tls(self):
        return MutualTLS(self.md.credentials(), PeerTrust(fingerprints=(
            self.kd_tunnel.fingerprint,)))

    def kd_focus_tls(self):
        return MutualTLS(self.kd_focus.credentials(), PeerTrust(fingerprints=(
            self.focus.fingerprint,)))

    def focus_tls(self):
        return MutualTLS(self.focus.credentials(), PeerTrust(fingerprints=(
            self.kd_focus.fingerprint,)))

    def md_speakers_tls(self):
        """The Media Distributor's side of the talking reports (its own certificate)."""
        return MutualTLS(self.md.credentials(), PeerTrust(fingerprints=(self.focus.fingerprint,)))

    def focus_speakers_tls(self):
        """The focus's side of the talking reports."""
        return MutualTLS(self.focus.credentials(), PeerTrust(fingerprints=(self.md.fingerprint,)))

    def write_files(self, directory):
        """Certificates, keys and a conference policy file, as an operator would have them."""
        directory.mkdir(parents=True, exist_ok=True)
        for identity, stem in ((self.kd_tunnel, "kd-tunnel"), (self.md, "md"),
                               (self.kd_focus, "kd-focus"), (self.focus, "focus")):
            identity.write(directory, stem)
        cert, key = self.conference.to_pem()
        (directory / "conference.pem").write_bytes(cert)
        (directory / "conference.key").write_bytes(key)
        (directory / "conference.key").chmod(0o600)
        (directory / "conferences.yaml").write_text(
            "conferences:\n"
            f"  {ROOM}:\n"
            f"    name: {ROOM_NAME}\n"
            "    certificate: conference.pem\n"
            "    private_key: conference.key\n"
            "    admission: open\n")

    def keyserver_yaml(self, directory, tunnel_port, focus_port, *, orphan_grace=30):
        path = directory / "keyserver.yaml"
        path.write_text(
            "conferences: conferences.yaml\n"
            "state_file: kd-state.json\n"
            f"orphan_grace: {orphan_grace}\n"
            "tunnel:\n"
            f"  listen: {{host: 127.0.0.1, port: {tunnel_port}}}\n"
            "  tls:\n"
            "    certificate: kd-tunnel.pem\n"
            "    private_key: kd-tunnel.key\n"
            f"    peer: {{fingerprints: ['{self.md.fingerprint}']}}\n"
            "focus:\n"
            f"  listen: {{host: 127.0.0.1, port: {focus_port}}}\n"
            "  tls:\n"
            "    certificate: kd-focus.pem\n"
            "    private_key: kd-focus.key\n"
            f"    peer: {{fingerprints: ['{self.focus.fingerprint}']}}\n")
        return path

    def distributor_yaml(self, directory, tunnel_port, media_port, *, last_n=5,
                         statistics_interval=1, speakers_port=None):
        path = directory / "distributor.yaml"
        path.write_text(
            f"key_distributor: {{host: 127.0.0.1, port: {tunnel_port}}}\n"
            "tls:\n"
            "  certificate: md.pem\n"
            "  private_key: md.key\n"
            f"  peer: {{fingerprints: ['{self.kd_tunnel.fingerprint}']}}\n"
            "rooms:\n"
            f"  {ROOM}:\n"
            f"    listen: {{host: 127.0.0.1, port: {media_port}}}\n"
            f"    last_n: {last_n}\n"
            "rtcp_interval: 1\n"
            f"statistics_interval: {statistics_interval}\n"
            "reconnect: {initial: 0.1, maximum: 0.5}\n"
            + ("" if speakers_port is None else
               f"focus:\n  host: 127.0.0.1\n  port: {speakers_port}\n"
               "  tls:\n    certificate: md.pem\n    private_key: md.key\n"
               f"    peer: {{fingerprints: ['{self.focus.fingerprint}']}}\n"))
        return path

    def policy(self, **changes):
        values = {"room": ROOM, "identity": ConferenceIdentity(ROOM_NAME, self.conference),
                  "open": True, "rekey": RekeyPolicy(interval=None)}
        values.update(changes)
        return ConferencePolicy(**values)


class ToneListener:
    """What a test member hears: a recording per source, and whether a source's tone is in it.

    Members play a tone each (``frequency``); ``hears`` is how the proofs check that a stream
    was decrypted and decoded as the right sender's.
    """

    sinks: dict

    def sink_for(self, ssrc):
        sink = self.sinks[ssrc] = RecordingSink(RATE)
        return sink

    def heard(self, ssrc, seconds=0.6):
        """The last ``seconds`` of audio decoded from ``ssrc``."""
        sink = self.sinks.get(ssrc)
        if sink is None or not sink.frames:
            return np.zeros(0, dtype=np.int16)
        audio = sink.audio()
        return audio[-int(seconds * RATE):]

    def hears(self, other, seconds=0.6) -> bool:
        """True if the recent audio from ``other`` is its tone (and not another's)."""
        if other.participant is None:
            return False
        audio = self.heard(other.ssrc, seconds)
        if len(audio) < int(seconds * RATE):
            return False
        levels = tone_levels(audio, RATE, list(FREQUENCIES))
        return (levels[other.frequency] > 1000
                and max(v for f, v in levels.items() if f != other.frequency)
                < levels[other.frequency] / 10)

    def clear(self):
        for sink in self.sinks.values():
            sink.frames.clear()


@dataclass
class Member(ToneListener):
    """One participant of the test conference."""

    name: str
    frequency: float
    identity: Identity
    participant: Participant
    endpoint: ParticipantEndpoint
    port: object
    events: list = field(default_factory=list)
    sinks: dict = field(default_factory=dict)
    accepted: Accepted | None = None

    @property
    def ssrc(self):
        return self.participant.ssrc


class Conference:
    """Participants joining through a focus client, against given KD and MD addresses."""

    def __init__(self, servers: Servers, media_distributor: tuple[str, int],
                 focus_port: int):
        self.servers = servers
        self.media_distributor = media_distributor
        self.members: dict[str, Member] = {}
        self.statuses = []
        self.reannounced = []
        self.focus = FocusInterfaceClient.to_host(
            "127.0.0.1", focus_port, servers.focus_tls(), reactor=reactor,
            backoff=ReconnectBackoff(0.1, 2.0, 0.5), on_status=self.statuses.append,
            on_reannounced=self._reannounced)

    def _reannounced(self, key, accepted):
        """What the SIP focus does after a Key Distributor restart: re-INVITE with the new
        Key Distributor tls-id, which makes the participant handshake again."""
        self.reannounced.append((key, accepted))
        member = self.members.get(key[1])
        if member is None:
            return
        session = member.participant.session
        renewed = PercSessionParameters(
            session.media_distributor, (accepted.key_distributor_fingerprint,),
            accepted.key_distributor_tls_id, session.local_tls_id)
        member.endpoint.renew_association(renewed)

    @defer.inlineCallbacks
    def join(self, name, *, identity=None, announce_identity=None, audit=True,
             hop_timeout=10.0, frequency=None):
        """Announce a participant through the focus, then start it; returns the Member."""
        identity = identity or Identity.generate(name)
        announced = announce_identity or identity
        local_tls_id = tls_id()
        answer = yield self.focus.announce(ParticipantAnnouncement(
            ROOM, name, local_tls_id, (Fingerprint.parse(announced.fingerprint),)))
        if isinstance(answer, Refused):
            raise AssertionError(f"{name} refused: {answer.reason}")
        session = PercSessionParameters(
            media_distributor=self.media_distributor,
            key_distributor_fingerprints=(answer.key_distributor_fingerprint,),
            key_distributor_tls_id=answer.key_distributor_tls_id,
            local_tls_id=local_tls_id)
        frequency = frequency or FREQUENCIES[len(self.members)]
        participant = Participant(identity, session, pcmu(), now=reactor.seconds(),
                                  audit_keys=audit, hop_timeout=hop_timeout)
        member = Member(name, frequency, identity, participant, None, None)
        member.accepted = answer
        member.endpoint = ParticipantEndpoint(
            participant, ToneSource(frequency, RATE, level=15), source_sink=member.sink_for,
            reactor=reactor, on_event=member.events.append)
        member.port = reactor.listenUDP(0, member.endpoint, interface="127.0.0.1")
        self.members[name] = member
        return member

    @defer.inlineCallbacks
    def leave(self, name):
        """The participant hangs up; the focus withdraws it (its BYE)."""
        member = self.members.pop(name)
        member.endpoint.leave("bye")
        yield member.port.stopListening()
        yield self.focus.withdraw(ROOM, name)

    def stop(self):
        stops = []
        for member in list(self.members.values()):
            member.endpoint.leave("test over")
            stops.append(member.port.stopListening())
        self.members.clear()
        return defer.DeferredList([d for d in stops if d is not None])

    def everyone_hears_everyone(self):
        members = list(self.members.values())
        return all(a.hears(b) for a in members for b in members if a is not b)

    def who_hears_whom(self):
        members = list(self.members.values())
        return {(a.name, b.name): a.hears(b) for a in members for b in members if a is not b}


class InProcessConference(Conference):
    """The Key and Media Distributors as services in this process (ports picked by the OS)."""

    def __init__(self, tmp_path, *, policy_changes=None, last_n=4, silence_timeout=15.0,
                 orphan_grace=30.0):
        self.servers = Servers()
        self.tmp_path = tmp_path
        self.policy = self.servers.policy(**(policy_changes or {}))
        self.last_n = last_n
        self.silence_timeout = silence_timeout
        self.orphan_grace = orphan_grace
        self.key_server = None
        self.distributor = None

    def key_server_config(self):
        return KeyServerConfig(
            policies={ROOM: self.policy}, state_file=self.tmp_path / "kd-state.json",
            tunnel=SocketAddress("127.0.0.1", 0), tunnel_tls=self.servers.kd_tunnel_tls(),
            focus=SocketAddress("127.0.0.1", 0), focus_tls=self.servers.kd_focus_tls(),
            orphan_grace=self.orphan_grace)

    def distributor_config(self, kd_port, md_port=0):
        room = RoomConfig(ROOM, SwitchingConfig(last_n=self.last_n,
                                                silence_timeout=self.silence_timeout))
        return DistributorConfig(SocketAddress("127.0.0.1", kd_port), self.servers.md_tls(),
                                 ((SocketAddress("127.0.0.1", md_port), room),),
                                 rtcp_interval=1.0, statistics_interval=0)

    @defer.inlineCallbacks
    def start(self):
        self.key_server = KeyServer(self.key_server_config(), reactor)
        self.key_server.startService()
        yield self.key_server.when_ready()
        kd_port = self.key_server.tunnel_port.getHost().port
        self.distributor = DistributorServer(self.distributor_config(kd_port), reactor)
        self.distributor.startService()
        yield self.distributor.when_ready()
        md_port = self.distributor.ports[ROOM].getHost().port
        Conference.__init__(self, self.servers, ("127.0.0.1", md_port),
                            self.key_server.focus_port.getHost().port)
        self.focus.startService()
        yield until(lambda: self.focus.connected and self.distributor._tunnel is not None)

    @defer.inlineCallbacks
    def shutdown(self):
        if hasattr(self, "members"):
            yield self.stop()
            yield self.focus.stopService()
        if self.distributor is not None and self.distributor.running:
            yield self.distributor.stopService()
        if self.key_server is not None and self.key_server.running:
            yield self.key_server.stopService()


class ConferenceTestCase(TestCase):
    """A trial test case with an :class:`InProcessConference` started for each test."""

    timeout = 60

    def setUp(self):
        directory = Path(self.mktemp()).resolve()
        directory.mkdir(parents=True)
        self.conference = InProcessConference(directory)
        self.addCleanup(self.conference.shutdown)
        return self.conference.start()
