"""A PERC conference joined over SIP: Key Distributor, Media Distributor and SIP focus as
processes (``sipperc keyserver|distributor|focus``), participants as ParticipantCall objects.

Shared by the SIP conference proof (tests/interop/test_perc_sip_conference.py).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from twisted.internet import defer, reactor

from sipperc.apps.server_process import ServerExitedError, ServerProcess, free_port
from sipperc.dtls import Identity
from sipperc.media.tone import ToneSource
from sipperc.perc.participant_call import PCMU, TELEPHONE_EVENT, ParticipantCall
from tests.perc.conference import (
    FREQUENCIES,
    RATE,
    ROOM,
    ROOM_NAME,
    Servers,
    ToneListener,
    until,
)

KD_READY = "listening for focus connections"
MD_READY = "tunnel TLS established"
FOCUS_READY = "SIP focus listening"


def focus_yaml(servers: Servers, directory: Path, *, sip_port: int, focus_port: int,
               media_port: int, room_lines: str = "", speakers_port: int | None = None) -> Path:
    """A focus configuration for the test room (extra room settings in ``room_lines``).

    With ``speakers_port`` it takes the Media Distributor's talking reports there.
    """
    path = directory / "focus.yaml"
    path.write_text(
        "sip:\n"
        f"  listen: [udp:127.0.0.1:{sip_port}]\n"
        "  domain: 127.0.0.1\n"
        "key_distributor:\n"
        f"  host: 127.0.0.1\n  port: {focus_port}\n"
        "  tls:\n"
        "    certificate: focus.pem\n"
        "    private_key: focus.key\n"
        f"    peer: {{fingerprints: ['{servers.kd_focus.fingerprint}']}}\n"
        + ("" if speakers_port is None else
           "media_distributors:\n"
           f"  listen: {{host: 127.0.0.1, port: {speakers_port}}}\n"
           "  tls:\n    certificate: focus.pem\n    private_key: focus.key\n"
           f"    peer: {{fingerprints: ['{servers.md.fingerprint}']}}\n")
        + "announce_timeout: 5\n"
        "codecs: [PCMU, telephone-event]\n"
        "rooms:\n"
        f"  {ROOM}:\n"
        f"    name: {ROOM_NAME}\n"
        f"    media_distributor: {{host: 127.0.0.1, port: {media_port}}}\n"
        + room_lines)
    return path


@dataclass
class SipMember(ToneListener):
    """One participant joining over SIP, playing its own tone, recording every source."""

    name: str
    frequency: float
    call: ParticipantCall
    sinks: dict = field(default_factory=dict)
    events: list = field(default_factory=list)

    @property
    def participant(self):
        return self.call.participant

    @property
    def ssrc(self):
        return self.call.participant.ssrc


class SipConference:
    """KD, MD and focus processes on 127.0.0.1 ports, and the members joined over SIP."""

    def __init__(self, directory: Path, *, room_lines: str = "", last_n: int = 6):
        self.directory = directory
        self.servers = Servers()
        self.servers.write_files(directory)
        self.tunnel_port, self.focus_port = free_port(), free_port()
        self.room_lines, self.last_n = room_lines, last_n
        kd_config = self.servers.keyserver_yaml(directory, self.tunnel_port, self.focus_port)
        self.kd = ServerProcess("keyserver", ["-m", "sipperc", "--log-format", "json",
                                              "keyserver", "--config", str(kd_config)],
                                directory / "keyserver.log")
        self.md = ServerProcess("distributor", ["-m", "sipperc", "--log-format", "json",
                                                "distributor", "--config",
                                                str(directory / "distributor.yaml")],
                                directory / "distributor.log")
        self.focus = ServerProcess("focus", ["-m", "sipperc", "--log-format", "json",
                                             "focus", "--config", str(directory / "focus.yaml")],
                                   directory / "focus.log")
        self._pick_ports()
        self.members: dict[str, SipMember] = {}

    def _pick_ports(self):
        """UDP ports for the Media Distributor and the focus's SIP, and their configurations."""
        self.media_port = free_port(socket.SOCK_DGRAM)
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.speakers_port = free_port()
        self.servers.distributor_yaml(self.directory, self.tunnel_port, self.media_port,
                                      last_n=self.last_n, speakers_port=self.speakers_port)
        focus_yaml(self.servers, self.directory, sip_port=self.sip_port,
                   focus_port=self.focus_port, media_port=self.media_port,
                   room_lines=self.room_lines, speakers_port=self.speakers_port)
        self.uri = f"sip:{ROOM}@127.0.0.1:{self.sip_port}"

    @defer.inlineCallbacks
    def start(self, attempts=3):
        self.kd.start()
        yield until(lambda: self.kd.ready(KD_READY), 30)
        for attempt in range(attempts):
            self.md.start()
            self.focus.start()
            try:
                yield until(lambda: self.md.ready(MD_READY), 30)
                yield until(lambda: self.focus.ready(FOCUS_READY), 30)
                break
            except ServerExitedError as error:
                # A port picked free was taken meanwhile (parallel tests): pick others.
                if "already in use" not in str(error) or attempt == attempts - 1:
                    raise
                self.md.kill()
                self.focus.kill()
                self._pick_ports()
        yield until(lambda: self.kd.ready("focus connected"), 30)

    def member(self, name: str, *, frequency: float | None = None,
               identity: Identity | None = None) -> SipMember:
        """A participant, started (listening) but not in the conference."""
        frequency = frequency or FREQUENCIES[len(self.members) % len(FREQUENCIES)]
        member = SipMember(name, frequency, None)  # type: ignore[arg-type]
        member.call = ParticipantCall(
            identity or Identity.generate(name), ToneSource(frequency, RATE, level=15),
            source_sink=member.sink_for, user=name, display_name=name.title(),
            codecs=(PCMU, TELEPHONE_EVENT), reactor=reactor, on_event=member.events.append,
            audit_keys=True)
        member.call.start()
        self.members[name] = member
        return member

    @defer.inlineCallbacks
    def join(self, name: str, *, uri: str | None = None, **kwargs):
        member = self.members.get(name) or self.member(name, **kwargs)
        yield member.call.join(uri or self.uri)
        return member

    def in_call(self):
        return [m for m in self.members.values()
                if m.call.call is not None and m.participant is not None]

    def everyone_hears_everyone(self):
        members = self.in_call()
        return all(a.hears(b) for a in members for b in members if a is not b)

    def who_hears_whom(self):
        members = self.in_call()
        return {(a.name, b.name): a.hears(b) for a in members for b in members if a is not b}

    def clear(self):
        for member in self.members.values():
            member.clear()

    @defer.inlineCallbacks
    def stop(self):
        for member in list(self.members.values()):
            yield member.call.stop()
        self.members.clear()


__all__ = ["FREQUENCIES", "SipConference", "SipMember", "focus_yaml"]
