"""A PERC conference entirely in memory, on simulated time: the sans-I/O cores wired together.

The Key Distributor's key logic and associations, the Media Distributor core and participant
cores exchange their datagrams and tunnel messages through queues; time advances in 20 ms
frames, and every core's timer is honoured. Nothing touches a socket, so scenarios are exact
and fast, and the test sees everything a colluding Media Distributor would see
(:attr:`MemoryConference.md_inbound`: every datagram the Media Distributor received).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from sipperc.dtls import Fingerprint, Identity
from sipperc.media.tone import ToneSource
from sipperc.perc.key_distributor import (
    AnnouncementAccepted,
    KeyDistributor,
    ParticipantAnnouncement,
)
from sipperc.perc.key_distributor_associations import KeyDistributorAssociations, ToTunnel
from sipperc.perc.media_distributor import MediaDistributor, RoomConfig, ToKeyDistributor
from sipperc.perc.participant import Participant, PercSessionParameters
from sipperc.perc.policy import (
    DOUBLE_PROFILES,
    ConferenceIdentity,
    ConferencePolicy,
    RekeyPolicy,
)
from sipperc.perc.switching import SwitchingConfig
from sipperc.perc.tunnel_messages import SupportedProfiles
from tests.media.audio_checks import tone_levels
from tests.perc.conference import FREQUENCIES, RATE, ROOM, ROOM_NAME, pcmu, tls_id

MD_ADDRESS = ("192.0.2.1", 40000)
MD_TUNNEL_PEER = Fingerprint.parse("sha-256 " + ":".join(["AB"] * 32))
KD_IDENTITY = Identity.generate(ROOM_NAME)
FRAME = 0.02


def policy(**changes) -> ConferencePolicy:
    values = {"room": ROOM, "identity": ConferenceIdentity(ROOM_NAME, KD_IDENTITY),
              "open": True, "rekey": RekeyPolicy(interval=None)}
    values.update(changes)
    return ConferencePolicy(**values)


@dataclass
class Peer:
    """A participant core with its address, tone and what it decoded per source."""

    name: str
    address: tuple[str, int]
    participant: Participant
    tone: ToneSource
    frequency: float
    identity: Identity
    heard: dict[int, list[np.ndarray]] = field(default_factory=dict)
    events: list = field(default_factory=list)
    sending: bool = True

    @property
    def ssrc(self) -> int:
        return self.participant.ssrc

    def audio_from(self, ssrc: int, frames: int = 25) -> np.ndarray:
        chunks = self.heard.get(ssrc, [])[-frames:]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def hears(self, other: Peer, frames: int = 25) -> bool:
        audio = self.audio_from(other.ssrc, frames)
        if len(audio) < frames * 160:
            return False
        levels = tone_levels(audio, RATE, list(FREQUENCIES))
        strongest = max(levels, key=lambda f: levels[f])
        return strongest == other.frequency and levels[strongest] > 1000

    def decoded_frames(self, ssrc: int) -> int:
        """Frames of ``ssrc`` that held sound (not silence or concealment of nothing)."""
        return sum(1 for chunk in self.heard.get(ssrc, []) if np.abs(chunk).max() > 300)


class MemoryConference:
    """Key Distributor, Media Distributor and participants wired through in-memory queues."""

    def __init__(self, *, last_n: int = 5, silence_timeout: float = 15.0,
                 orphan_grace: float = 30.0, conference_policy: ConferencePolicy | None = None,
                 rtcp_interval: float = 1.0) -> None:
        self.now = 1000.0
        self.policy = conference_policy or policy()
        self.key_distributor = KeyDistributor({ROOM: self.policy}, self.now)
        self.kd = KeyDistributorAssociations(self.key_distributor, orphan_grace=orphan_grace)
        self.room = RoomConfig(ROOM, SwitchingConfig(last_n=last_n,
                                                     silence_timeout=silence_timeout))
        self.rtcp_interval = rtcp_interval
        self.md = self._new_md()
        self.tunnel = 0
        self.kd_actions: list = []
        self.md_events: list = []
        self.md_inbound: list[tuple[tuple[str, int], bytes, float]] = []
        self.tunnel_log: list = []
        self.peers: dict[str, Peer] = {}
        self._by_address: dict[tuple[str, int], Peer] = {}
        self._queue: deque = deque()
        self._added = 0
        self.connect_tunnel()

    def _new_md(self) -> MediaDistributor:
        return MediaDistributor({ROOM: self.room}, DOUBLE_PROFILES, now=self.now,
                                rtcp_interval=self.rtcp_interval)

    # -- the tunnel -------------------------------------------------------------------------------

    def connect_tunnel(self, peer: Fingerprint = MD_TUNNEL_PEER) -> None:
        self.tunnel += 1
        self.md.tunnel_up()
        self._kd_outputs(self.kd.tunnel_opened(self.tunnel, peer,
                                               SupportedProfiles.of(DOUBLE_PROFILES), self.now))
        self.pump()

    def drop_tunnel(self) -> None:
        self.md.tunnel_down()
        self._kd_outputs(self.kd.tunnel_closed(self.tunnel, self.now))
        self.pump()

    def restart_md(self) -> None:
        """The Media Distributor process dies and comes back: all its state is gone."""
        self.drop_tunnel()
        self.md = self._new_md()
        self.connect_tunnel()

    # -- participants ---------------------------------------------------------------------------

    def announce(self, name: str, identity: Identity, local_tls_id: bytes,
                 fingerprint: str | None = None) -> AnnouncementAccepted:
        result = self.key_distributor.announce(ParticipantAnnouncement(
            ROOM, name, local_tls_id, (Fingerprint.parse(fingerprint or identity.fingerprint),)),
            self.now)
        assert isinstance(result, AnnouncementAccepted), result
        return result

    def add(self, name: str, *, identity: Identity | None = None,
            announced_fingerprint: str | None = None, start: bool = True, **kwargs) -> Peer:
        identity = identity or Identity.generate(name)
        local = tls_id()
        accepted = self.announce(name, identity, local, announced_fingerprint)
        session = PercSessionParameters(MD_ADDRESS, (accepted.key_distributor_fingerprint,),
                                        accepted.key_distributor_tls_id, local)
        kwargs.setdefault("audit_keys", True)
        participant = Participant(identity, session, pcmu(), now=self.now, **kwargs)
        index = self._added
        self._added += 1
        frequency = FREQUENCIES[index % len(FREQUENCIES)]
        peer = Peer(name, (f"198.51.100.{index + 1}", 5000 + index), participant,
                    ToneSource(frequency, RATE, level=15), frequency, identity)
        self.peers[name] = peer
        self._by_address[peer.address] = peer
        if start:
            participant.start(self.now)
            self._drain(peer)
            self.pump()
        return peer

    def remove(self, name: str) -> Peer:
        peer = self.peers.pop(name)
        peer.participant.close(self.now, "bye")
        self._drain(peer)
        self.pump()
        return peer

    def silence(self, name: str) -> Peer:
        """The participant vanishes without a word (crash, network loss)."""
        peer = self.peers.pop(name)
        self._by_address.pop(peer.address)
        return peer

    # -- time -------------------------------------------------------------------------------------

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / FRAME)):
            self.step()

    def step(self) -> None:
        for peer in list(self.peers.values()):
            participant = peer.participant
            frame = peer.tone.read(160)
            if peer.sending:
                participant.send_frame(frame, self.now)
            _, each = participant.read_frames(self.now)
            for ssrc, pcm in each.items():
                peer.heard.setdefault(ssrc, []).append(pcm)
            self._drain(peer)
        self.pump()
        self.now += FRAME
        self._timers()

    def _timers(self) -> None:
        for peer in list(self.peers.values()):
            deadline = peer.participant.get_timer()
            if deadline is not None and deadline <= self.now:
                peer.participant.handle_timer(self.now)
                self._drain(peer)
        deadline = self.kd.get_timer()
        if deadline is not None and deadline <= self.now:
            self._kd_outputs(self.kd.handle_timer(self.now))
        deadline = self.md.get_timer()
        if deadline is not None and deadline <= self.now:
            self._md_outputs(self.md.handle_timer(self.now))
        self.pump()

    # -- plumbing ---------------------------------------------------------------------------------

    def _drain(self, peer: Peer) -> None:
        for datagram in peer.participant.datagrams_to_send(self.now):
            self._queue.append(("md", peer.address, datagram))
        while (event := peer.participant.next_event()) is not None:
            peer.events.append(event)

    def pump(self) -> None:
        while self._queue:
            target, address, data = self._queue.popleft()
            if target == "md":
                self.md_inbound.append((address, data, self.now))
                self._md_outputs(self.md.datagram_received(ROOM, address, data, self.now))
            elif target == "kd":
                self.tunnel_log.append(("to-kd", data))
                self._kd_outputs(self.kd.tunnel_message(self.tunnel, data, self.now))
            elif target == "md-tunnel":
                self.tunnel_log.append(("to-md", data))
                self._md_outputs(self.md.tunnel_message(data, self.now))
            else:
                peer = self._by_address.get(address)
                if peer is not None and peer.name in self.peers:
                    peer.participant.datagram_received(data, self.now)
                    self._drain(peer)

    def _md_outputs(self, outputs) -> None:
        for output in outputs:
            if type(output) is tuple:
                self._queue.append(("peer", output[1], output[2]))
            elif isinstance(output, ToKeyDistributor):
                self._queue.append(("kd", None, output.message))
            else:
                self.md_events.append(output)

    def _kd_outputs(self, outputs) -> None:
        for output in outputs:
            if isinstance(output, ToTunnel):
                if output.tunnel == self.tunnel:
                    self._queue.append(("md-tunnel", None, output.message))
            else:
                self.kd_actions.append(output)

    # -- checks -----------------------------------------------------------------------------------

    def everyone_hears_everyone(self, frames: int = 25) -> bool:
        peers = list(self.peers.values())
        return all(a.hears(b, frames) for a in peers for b in peers if a is not b)
