"""Run a whole PERC conference on this machine and check that it kept its promise.

``sipperc demo`` (``scripts/demo`` from a checkout) makes demo certificates
(``scripts/demo-certs``) and configurations in an output directory, starts the Key Distributor,
the Media Distributor and the SIP focus as their own processes on 127.0.0.1 ports it picks,
then has participants (:class:`~sipperc.perc.participant_call.ParticipantCall`) call the
conference URI, each speaking its own voice from ``audio/voices/``. One of them hangs up
half-way and a newcomer calls in, so both rekeys (RFC 8871 §4.5.2) happen in front of you.
Every participant takes the product's path: INVITE with a PERC offer, the focus's SDP answer
with the Media Distributor's address and the Key Distributor's fingerprint and tls-id, DTLS
with the Key Distributor through the Media Distributor (RFC 9185), EKT (RFC 8870), double
SRTP (RFC 8723). While it runs it shows what each component does: servers up, each INVITE and
answer, each participant's DTLS association and EKT key epoch (SPI), the roster as the Key
Distributor keeps it and as the focus NOTIFYs it (RFC 4575), packets per second at the
participants and at the Media Distributor.

Then the verdict, which sets the exit status (0 only if every part holds):

- every participant decrypted and decoded every other one it shared the room with: each
  per-source recording matches that speaker's voice (normalised cross-correlation,
  :mod:`sipperc.media.voice_match`) and no other voice better;
- the leave and the join each made a new EKT key that every member then in the room
  installed, and that the one who had left never got;
- the roster the focus NOTIFYs showed the one who left, then not, and ends with exactly who
  is in the room;
- neither the Media Distributor nor the SIP focus ever held an end-to-end secret: every EKT
  key, shared salt, media key and derived session key the participants report is searched for
  in their memory and their logs (:mod:`sipperc.apps.leak_search`); the Key Distributor's
  log and state file are searched too (it holds keys, but never writes them);
- every server stopped cleanly when told to.

Everything it wrote stays in the output directory: ``heard/LISTENER/from-SPEAKER.wav`` (what
each participant decoded from each other one), ``heard/LISTENER/mix.wav`` (what it would play),
the servers' configurations and certificates, ``logs/``, and ``verdict.json``.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall, deferLater
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogPublisher,
)
from twisted.python.failure import Failure

from sipperc.apps.demo_verdict import (
    Presence,
    Rekey,
    Verdict,
    check_audio,
    check_exits,
    check_rekeys,
    check_roster,
    check_secrets,
)
from sipperc.apps.leak_search import conference_secrets
from sipperc.apps.server_process import JsonLogFollower, ServerExitedError, ServerProcess, free_port
from sipperc.cli import ExitCode
from sipperc.dtls import Identity
from sipperc.log import LineObserver
from sipperc.media.audio_port import AudioSink
from sipperc.media.wav_file import WavFileSink, WavFileSource
from sipperc.perc.participant import (
    AssociationEstablished,
    AssociationLost,
    EKTKeyInstalled,
    Participant,
    ParticipantKeys,
)
from sipperc.perc.participant_call import JoinRefusedError, ParticipantCall
from sipperc.sip.user_agent_events import CallEnded, NotifyReceived

CHECKOUT = Path(__file__).resolve().parents[2]
DEMO_CERTS = CHECKOUT / "scripts" / "demo-certs"
VOICES = CHECKOUT / "audio" / "voices"
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
ROOM = "design-review"
ROOM_NAME = "Design review"
KD_READY = ("listening for tunnel connections", "listening for focus connections")
MD_READY = ("tunnel TLS established",)
FOCUS_READY = ("SIP focus listening",)
PORT_ATTEMPTS = 3
MIN_PRESENCE = 3.0
"""Seconds each participant stays at least, so that its recordings can be checked."""
RECORD_RATE = 16000
"""Recordings are written at the voices' rate, whatever the codec."""


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """What to run: how many participants, for how long, where the output goes."""

    participants: int = 4
    seconds: float = 20.0
    output: Path | None = None
    refuse: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 2 <= self.participants <= len(NAMES) - 1:
            raise ValueError(f"--participants: 2 to {len(NAMES) - 1}")
        if not 8 <= self.seconds <= 3600:
            raise ValueError("--seconds: 8 to 3600")
        unknown = set(self.refuse) - set(self.names)
        if unknown:
            raise ValueError(f"--refuse: {', '.join(sorted(unknown))} would not be in this "
                             f"conference (its participants: {', '.join(self.names)})")
        if set(self.refuse) == set(self.names):
            raise ValueError("--refuse: at least one participant must be let in")

    @property
    def names(self) -> tuple[str, ...]:
        """The participants in order of arrival; the last one joins after the leave."""
        return NAMES[:self.participants + 1]

    @property
    def leaver(self) -> str:
        """Who leaves half-way: the last of the first group."""
        return self.names[self.participants - 1]

    @property
    def newcomer(self) -> str:
        """Who joins after the leave."""
        return self.names[-1]


@dataclass(eq=False)
class Attendee:
    """One participant of the demo and what happened to it."""

    name: str
    identity: Identity
    voice: Path
    call: ParticipantCall | None = None
    joined_at: float | None = None
    left_at: float | None = None
    refused: str | None = None
    spis: list[int] = field(default_factory=list)
    sent_before: int = 0
    received_before: dict[int, int] = field(default_factory=dict)

    @property
    def participant(self) -> Participant | None:
        """The media side, once the conference answered."""
        return self.call.participant if self.call is not None else None

    @property
    def active(self) -> bool:
        """In the room now: started and not gone."""
        return self.joined_at is not None and self.left_at is None

    def presence(self) -> Presence:
        """What the verdict needs to know about this participant."""
        return Presence(self.name, self.joined_at, self.left_at, self.refused,
                        tuple(self.spis))

    def packets_since_last(self) -> tuple[int, int]:
        """RTP packets sent and received since the previous call.

        Received packets are counted per remote source, since a source that left drops out
        of the statistics.
        """
        if self.participant is None:
            return 0, 0
        media = self.participant.statistics().media
        sent = media.send.packets_sent - self.sent_before
        self.sent_before = media.send.packets_sent
        received = 0
        for source in media.receive:
            received += max(0, source.packets_received
                            - self.received_before.get(source.ssrc, 0))
            self.received_before[source.ssrc] = source.packets_received
        return sent, received


class ConferenceDemo:
    """The whole demo (see the module docstring); :meth:`run` returns the :class:`Verdict`."""

    def __init__(self, plan: DemoPlan, reactor: Any, out: TextIO, output: Path) -> None:
        self.plan = plan
        self.reactor = reactor
        self.out = out
        self.output = output
        self.started = reactor.seconds()
        self.attendees = {name: Attendee(name, Identity.generate(name),
                                         VOICES / f"{name}.wav") for name in plan.names}
        self.speakers: dict[int, str] = {}
        self.servers: list[ServerProcess] = []
        self.followers: dict[str, JsonLogFollower] = {}
        self.conference_uri = ""
        self.watcher: Attendee | None = None
        self.rosters: list[tuple[str, ...]] = []
        """Each roster the watcher's NOTIFYs showed (RFC 4575), in order."""
        self.keys_held: dict[str, ParticipantKeys] = {}
        self.roster: list[str] = []
        self.rekeys: list[Rekey] = []
        self.announced_spis: set[int] = set()
        self.md_samples: list[tuple[float, int, int]] = []
        self.helpers: dict[str, int] = {}
        """Processes the servers started themselves, by what they are: their pids."""
        self.loops: list[LoopingCall] = []
        self.last_status = self.started
        self.ending = False
        self.final_members: tuple[str, ...] = ()
        self.roster_versions = 0

    # -- output ---------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """One progress line, stamped with the seconds since the start."""
        elapsed = self.reactor.seconds() - self.started
        self.out.write(f"[{elapsed:5.1f}s] {text}\n")
        self.out.flush()

    # -- the run --------------------------------------------------------------------------------

    async def run(self) -> Verdict:
        """Set up, hold the conference, check it; the servers are stopped before returning."""
        plan = self.plan
        self.say(f"PERC conference demo: {plan.participants} participants, then "
                 f"{plan.leaver} leaves and {plan.newcomer} joins; {plan.seconds:g} s; "
                 f"output in {self.output}")
        self._prepare()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._configure()
            try:
                await self._start_servers()
                break
            except ServerExitedError as error:
                # Ports are picked free, but another program may bind one before our server
                # does (sysexits 69: cannot listen): pick others.
                if error.status != ExitCode.UNAVAILABLE or attempt == PORT_ATTEMPTS:
                    raise
                self.say("a port was taken before a server bound it; picking others")
                self.stop_servers()
                self.servers.clear()
        self.loops = [LoopingCall(self._poll_logs), LoopingCall(self._status)]
        self.loops[0].clock = self.loops[1].clock = self.reactor
        self.loops[0].start(0.05)
        self.loops[1].start(max(2.0, plan.seconds / 8), now=False)

        # The schedule is relative to the start, but everyone gets at least MIN_PRESENCE
        # seconds in the room, however slow a busy machine makes the joins.
        start = self.reactor.seconds()
        for name in plan.names[:plan.participants]:
            await self._join(self.attendees[name])
            await self._sleep(0.5)
        leaver, newcomer = self.attendees[plan.leaver], self.attendees[plan.newcomer]
        await self._sleep_until(max(start + 0.4 * plan.seconds,
                                    (leaver.joined_at or start) + MIN_PRESENCE))
        await self._leave(leaver, "leaving early")
        await self._sleep_until(start + 0.55 * plan.seconds)
        await self._join(newcomer)
        await self._sleep_until(max(start + plan.seconds,
                                    (newcomer.joined_at or start) + MIN_PRESENCE))

        for loop in self.loops[1:]:
            loop.stop()
        if self.reactor.seconds() - self.last_status > 1.0:
            self._status()
        self.roster_versions = len(self.rosters)
        self.final_members = tuple(sorted(a.name.title() for a in self.attendees.values()
                                          if a.active))
        self.ending = True
        self.say("time is up: everyone hangs up")
        for attendee in self.attendees.values():
            if attendee.active:
                await self._leave(attendee, "demo over", quiet=True)
        await self._sleep(0.5)
        self._poll_logs()
        self.loops[0].stop()
        self.loops = []

        verdict = Verdict()
        presences = [a.presence() for a in self.attendees.values()]
        self.say("checking what each participant recorded against every voice")
        check_audio(verdict, presences, {a.name: a.voice for a in self.attendees.values()},
                    self.output / "heard")
        check_rekeys(verdict, presences, self.rekeys, plan.leaver, plan.newcomer)
        check_roster(verdict, self.rosters[:self.roster_versions],
                     watcher=self.watcher.name if self.watcher is not None else None,
                     in_the_room=self.final_members, leaver=plan.leaver.title(),
                     newcomer=plan.newcomer.title())
        needles = conference_secrets(self.keys_held.items())
        self.say(f"searching the Media Distributor's and the SIP focus's memory and logs for "
                 f"the {len(needles)} end-to-end secrets the participants held")
        untrusted = {"distributor": "Media Distributor", "focus": "SIP focus"}
        logs = self.output / "logs"
        check_secrets(verdict, needles, {
            **{untrusted[s.name]: s.pid for s in self.servers if s.name in untrusted},
            **self.helpers}, {
            "Media Distributor log": logs / "distributor.log",
            "SIP focus log": logs / "focus.log",
            "Key Distributor log": logs / "keyserver.log",
            "Key Distributor state file": self.output / "kd-state.json"})
        self.say("stopping the servers (SIGTERM)")
        check_exits(verdict, self.stop_servers())
        (self.output / "verdict.json").write_text(json.dumps(verdict.as_json(), indent=2) + "\n")
        return verdict

    def abort(self) -> None:
        """Interrupted (Ctrl-C, SIGTERM): participants hang up; servers are stopped after."""
        for loop in self.loops:
            if loop.running:
                loop.stop()
        for attendee in self.attendees.values():
            if attendee.active and attendee.call is not None:
                attendee.call.leave("interrupted")
                attendee.left_at = self.reactor.seconds()

    def stop_servers(self) -> list[tuple[str, int | None]]:
        """SIGTERM to every server still running, newest first; their exit statuses."""
        return [(server.name, server.stop()) for server in reversed(self.servers)]

    # -- setting up -----------------------------------------------------------------------------

    def _prepare(self) -> None:
        (self.output / "logs").mkdir(parents=True, exist_ok=True)
        (self.output / "heard").mkdir(exist_ok=True)
        if not DEMO_CERTS.exists():
            raise DemoError(f"{DEMO_CERTS} is missing: sipperc demo runs from a source checkout")
        subprocess.run([str(DEMO_CERTS), str(self.output / "certs")], check=True,  # noqa: S603
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listed = [a for a in self.attendees.values() if a.name not in self.plan.refuse]
        self.say(f"certificates: demo CA, Key Distributor, Media Distributor, focus, and the "
                 f"conference's DTLS identity CN={ROOM_NAME!r} (scripts/demo-certs); "
                 f"conference policy lists {len(listed)} participant certificates"
                 + (f", not {', '.join(self.plan.refuse)}'s" if self.plan.refuse else ""))
        entries = "".join(f"      - name: {a.name}\n"
                          f"        fingerprint: \"{a.identity.fingerprint}\"\n" for a in listed)
        (self.output / "conferences.yaml").write_text(
            "# Written by sipperc demo: configs/conferences.yaml explains every setting.\n"
            "conferences:\n"
            f"  {ROOM}:\n"
            f"    name: {ROOM_NAME}\n"
            f"    certificate: certs/{ROOM}.pem\n"
            f"    private_key: certs/{ROOM}.key\n"
            "    admission: listed\n"
            "    participants:\n" + entries +
            "    rekey: {on_join: true, on_leave: true, interval: false}\n")
        log = (self.output / "logs" / "demo.log").open("a")
        globalLogPublisher.addObserver(FilteringLogObserver(
            LineObserver(log, "text"), [LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)]))

    def _configure(self) -> None:
        """Pick free ports; write the servers' configurations for them."""
        tunnel, focus = free_port(), free_port()
        media, sip = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
        self.ports = {"tunnel": tunnel, "focus": focus, "media": media, "sip": sip}
        self.conference_uri = f"sip:{ROOM}@127.0.0.1:{sip}"
        (self.output / "keyserver.yaml").write_text(
            "# Written by sipperc demo: configs/keyserver.yaml explains every setting.\n"
            "conferences: conferences.yaml\n"
            "state_file: kd-state.json\n"
            "tunnel:\n"
            f"  listen: {{host: 127.0.0.1, port: {tunnel}}}\n"
            "  tls:\n"
            "    certificate: certs/kd-tunnel.pem\n"
            "    private_key: certs/kd-tunnel.key\n"
            "    peer: {ca: certs/demo-ca.pem, names: [md.sipperc.test]}\n"
            "focus:\n"
            f"  listen: {{host: 127.0.0.1, port: {focus}}}\n"
            "  tls:\n"
            "    certificate: certs/kd-focus.pem\n"
            "    private_key: certs/kd-focus.key\n"
            "    peer: {ca: certs/demo-ca.pem, names: [focus.sipperc.test]}\n")
        (self.output / "distributor.yaml").write_text(
            "# Written by sipperc demo: configs/distributor.yaml explains every setting.\n"
            f"key_distributor: {{host: 127.0.0.1, port: {tunnel}}}\n"
            "tls:\n"
            "  certificate: certs/md.pem\n"
            "  private_key: certs/md.key\n"
            "  peer: {ca: certs/demo-ca.pem, names: [kd.sipperc.test]}\n"
            "rooms:\n"
            f"  {ROOM}:\n"
            f"    listen: {{host: 127.0.0.1, port: {media}}}\n"
            f"    last_n: {len(self.plan.names)}\n"
            "rtcp_interval: 1\n"
            "statistics_interval: 1\n"
            "reconnect: {initial: 0.1, maximum: 1}\n")
        (self.output / "focus.yaml").write_text(
            "# Written by sipperc demo: configs/focus.yaml explains every setting.\n"
            "sip:\n"
            f"  listen: [udp:127.0.0.1:{sip}]\n"
            "  domain: 127.0.0.1\n"
            "key_distributor:\n"
            "  host: 127.0.0.1\n"
            f"  port: {focus}\n"
            "  tls:\n"
            "    certificate: certs/focus.pem\n"
            "    private_key: certs/focus.key\n"
            "    peer: {ca: certs/demo-ca.pem, names: [kd.sipperc.test]}\n"
            "codecs: [opus, PCMU, telephone-event]\n"
            "rooms:\n"
            f"  {ROOM}:\n"
            f"    name: {ROOM_NAME}\n"
            f"    media_distributor: {{host: 127.0.0.1, port: {media}}}\n")

    async def _start_servers(self) -> None:
        """The Key Distributor first (the others connect to it), then the other two."""
        kd = self._server("keyserver")
        await self._until(partial(self._ready, kd, KD_READY), 30, "the Key Distributor")
        self.say(f"Key Distributor up: RFC 9185 tunnel on 127.0.0.1:{self.ports['tunnel']}, "
                 f"focus interface on 127.0.0.1:{self.ports['focus']} ({self._where(kd)})")
        md, focus = self._server("distributor"), self._server("focus")
        await self._until(partial(self._ready, md, MD_READY), 30, "the Media Distributor")
        self.say(f"Media Distributor up: room {ROOM} on udp 127.0.0.1:{self.ports['media']}, "
                 f"tunnel to the Key Distributor (mutual TLS 1.3) up ({self._where(md)})")
        await self._until(partial(self._ready, focus, FOCUS_READY), 30, "the SIP focus")
        await self._until(partial(self._ready, kd, ("focus connected",)), 30,
                          "the focus's connection to the Key Distributor")
        self.say(f"SIP focus up: {self.conference_uri} (udp), connected to the Key "
                 f"Distributor's focus interface (mutual TLS 1.3): it announces endpoints, "
                 f"never learns a key ({self._where(focus)})")

    def _ready(self, server: ServerProcess, markers: tuple[str, ...]) -> bool:
        """Whether ``server``'s log says all of ``markers``; raises if any server ended."""
        for each in self.servers:
            each.check_running()
        return all(server.ready(marker) for marker in markers)

    def _server(self, name: str) -> ServerProcess:
        """Start ``sipperc NAME --config NAME.yaml`` with its JSON log in logs/."""
        server = ServerProcess(name, ["-m", "sipperc", "--log-format", "json", name,
                                      "--config", str(self.output / f"{name}.yaml")],
                               self.output / "logs" / f"{name}.log", cwd=self.output)
        self.servers.append(server)
        server.start()
        self.followers[name] = JsonLogFollower(server.log)
        return server

    def _where(self, server: ServerProcess) -> str:
        return f"pid {server.pid}, log {server.log.relative_to(self.output)}"

    # -- joining and leaving --------------------------------------------------------------------

    async def _join(self, attendee: Attendee) -> None:
        heard = self.output / "heard" / attendee.name
        heard.mkdir(exist_ok=True)
        mix = WavFileSink(heard / "mix.wav", RECORD_RATE)
        call = attendee.call = ParticipantCall(
            attendee.identity, WavFileSource(attendee.voice, loop=True), sink=mix,
            source_sink=lambda ssrc: self._recorder(heard, ssrc), user=attendee.name,
            display_name=attendee.name.title(), reactor=self.reactor,
            on_event=lambda event: self._event(attendee, event), audit_keys=True)
        call.start()
        self.say(f"{attendee.name} ({call.uri}) INVITEs {self.conference_uri}: PERC offer "
                 f"with its certificate's fingerprint and a fresh tls-id, speaking "
                 f"{attendee.voice.relative_to(CHECKOUT)}")
        try:
            await call.join(self.conference_uri)
        except JoinRefusedError as refusal:
            attendee.refused = str(refusal)
            mix.close()
            await call.stop()
            self.say(f"{attendee.name}'s INVITE is refused: {refusal}")
            return
        attendee.joined_at = self.reactor.seconds()
        participant = call.participant
        assert participant is not None
        session = participant.session
        host, port = session.media_distributor
        media = participant.rtp.send_stream.codec
        if self.watcher is None:
            self.watcher = attendee
            call.watch_roster(self.conference_uri)
            self.say(f"{attendee.name} SUBSCRIBEs to the conference event package (RFC 4575) "
                     f"for the roster")
        self.say(f"{attendee.name}: 200 OK; the SDP answer sends media to the Media "
                 f"Distributor ({host}:{port}) and names the Key Distributor "
                 f"(a=fingerprint {str(session.key_distributor_fingerprints[0])[:20]}..., "
                 f"a=tls-id); codec {media.name}/{media.sample_rate}; SSRC "
                 f"{participant.ssrc:08x}")

    def _recorder(self, directory: Path, ssrc: int) -> AudioSink:
        speaker = next((a.name for a in self.attendees.values()
                        if a.participant is not None and a.participant.ssrc == ssrc),
                       f"ssrc-{ssrc:08x}")
        return WavFileSink(directory / f"from-{speaker}.wav", RECORD_RATE)

    async def _leave(self, attendee: Attendee, reason: str, *, quiet: bool = False) -> None:
        call = attendee.call
        if not attendee.active or call is None:
            return
        participant = call.participant
        if participant is not None:
            self.keys_held[attendee.name] = participant.key_audit()
        attendee.left_at = self.reactor.seconds()
        call.leave(reason)
        if not quiet:
            self.say(f"{attendee.name} hangs up: SIP BYE, RTCP BYE, DTLS close_notify")
        await self._sleep(0.2)  # the BYE's 200 OK
        await call.stop()

    # -- what the components report -------------------------------------------------------------

    def _event(self, attendee: Attendee, event: object) -> None:
        if isinstance(event, AssociationEstablished):
            self.say(f"{attendee.name}: DTLS with the Key Distributor (through the Media "
                     f"Distributor) done: {event.profile.name}, EKT {event.ekt_cipher.name}")
        elif isinstance(event, EKTKeyInstalled):
            attendee.spis.append(event.spi)
            members = [a for a in self.attendees.values() if a.active]
            if (not self.ending and event.spi not in self.announced_spis
                    and all(a.spis and a.spis[-1] == event.spi for a in members)):
                self.announced_spis.add(event.spi)
                self.say(f"EKT key epoch SPI {event.spi}: all {len(members)} in the room keyed "
                         f"({' '.join(a.name for a in members)})")
        elif isinstance(event, AssociationLost) and event.retry_at is not None:
            self.say(f"{attendee.name}: association lost ({event.reason}); retrying")
        elif isinstance(event, NotifyReceived) and attendee is self.watcher:
            self._roster_notified(attendee)
        elif isinstance(event, CallEnded) and attendee.active:
            attendee.left_at = self.reactor.seconds()
            self.say(f"{attendee.name}'s call ended: {event.status_code or ''} "
                     f"{event.reason.value}")

    def _roster_notified(self, watcher: Attendee) -> None:
        state = watcher.call.roster.state if watcher.call is not None else None
        if state is None:
            return
        names = tuple(sorted(user.display_text or user.entity for user in state.users))
        if self.rosters and self.rosters[-1] == names:
            return
        self.rosters.append(names)
        if not self.ending:
            self.say(f"roster NOTIFY to {watcher.name} (version {state.version}): "
                     f"{', '.join(names) or 'nobody'}")

    def _poll_logs(self) -> None:
        for server in self.servers:
            if server.process is not None and server.process.poll() is not None:
                server.check_running()
        for event in self.followers["keyserver"].new_events():
            self._key_distributor_event(event)
        for event in self.followers["focus"].new_events():
            self._focus_event(event)
        for event in self.followers["distributor"].new_events():
            if str(event.get("message", "")).startswith("sender process"):
                self.helpers["Media Distributor's sender process"] = int(event.get("pid", 0))
            # The process's counters (a room's sum over its present participants drops when
            # one leaves).
            if event.get("message") == "distributor statistics":
                self.md_samples.append((float(event.get("time", 0.0)),
                                        int(event.get("datagrams_in", 0)),
                                        int(event.get("datagrams_out", 0))))
                del self.md_samples[:-2]

    def _focus_event(self, event: dict[str, Any]) -> None:
        message = str(event.get("message", ""))
        if message.startswith("the Key Distributor refused") or \
                message.startswith("call refused"):
            who = str(event.get("participant") or event.get("caller") or "?")
            reason = str(event.get("reason", ""))
            self.say(f"SIP focus: {message}; the INVITE gets a final error response")
            name = who.partition(":")[2].partition("@")[0] or who.partition(".")[0]
            attendee = self.attendees.get(name)
            if attendee is not None:
                attendee.refused = reason

    def _key_distributor_event(self, event: dict[str, Any]) -> None:
        message = str(event.get("message", ""))
        who = str(event.get("participant", "?"))
        if message == "endpoint admitted":
            if who not in self.roster:
                self.roster.append(who)
            self.say(f"Key Distributor admits {who} (certificate checked in DTLS); "
                     f"roster: {' '.join(self.roster)}")
        elif message.startswith("endpoint refused"):
            self.say(f"Key Distributor refuses {who}: {event.get('reason', '')}")
        elif message == "endpoint left":
            if who in self.roster:
                self.roster.remove(who)
            self.say(f"Key Distributor: {who} left; roster: {' '.join(self.roster) or '-'}")
        elif message.startswith("new EKT key") and event.get("conference") == ROOM:
            rekey = Rekey(float(event.get("time", 0.0)), int(event.get("spi", 0)),
                          str(event.get("why", "")), int(event.get("recipients", 0)))
            self.rekeys.append(rekey)
            self.say(f"Key Distributor: new EKT key SPI {rekey.spi} ({rekey.why}), sent to "
                     f"{rekey.recipients} endpoint(s)")

    def _status(self) -> None:
        now = self.reactor.seconds()
        span = max(now - self.last_status, 1e-3)
        self.last_status = now
        sent = received = 0
        members = [a for a in self.attendees.values() if a.active]
        for attendee in self.attendees.values():
            s, r = attendee.packets_since_last()
            sent += s
            received += r
        spis = sorted({a.spis[-1] for a in members if a.spis})
        line = (f"status: {len(members)} in the room ({' '.join(a.name for a in members)}) | "
                f"SPI {'/'.join(map(str, spis)) or '-'} | participants send "
                f"{sent / span:.0f} pkt/s, receive {received / span:.0f}")
        if len(self.md_samples) == 2:
            (t0, in0, out0), (t1, in1, out1) = self.md_samples
            if t1 > t0:
                line += (f" | Media Distributor in {(in1 - in0) / (t1 - t0):.0f} datagrams/s, "
                         f"out {(out1 - out0) / (t1 - t0):.0f}")
        self.say(line)

    # -- the verdict ----------------------------------------------------------------------------

    # -- time -----------------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> Deferred[None]:
        return deferLater(self.reactor, max(0.0, seconds), lambda: None)

    def _sleep_until(self, when: float) -> Deferred[None]:
        return self._sleep(when - self.reactor.seconds())

    async def _until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = self.reactor.seconds() + timeout
        while not predicate():
            if self.reactor.seconds() > deadline:
                raise DemoError(f"{what}: not within {timeout:g} s")
            await self._sleep(0.05)


class DemoError(RuntimeError):
    """The demo could not run (a server did not start, a file is missing)."""


# -- the sipperc sub-command ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: size, length, output directory, and a refused participant for a failing run."""
    parser.add_argument("--participants", type=int, default=4, metavar="N",
                        help="participants at the start, 2 to 7 (default 4); one of them "
                             "leaves half-way and one more joins")
    parser.add_argument("--seconds", type=float, default=20.0, metavar="S",
                        help="how long the conference runs, 8 to 3600 (default 20)")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="where recordings, logs, configurations and the verdict go "
                             "(default: a new directory under /tmp)")
    parser.add_argument("--refuse", action="append", default=[], metavar="NAME",
                        help="leave NAME out of the conference policy, so the Key Distributor "
                             "refuses it: the verdict must then fail (checks the checks)")


def run(args: argparse.Namespace) -> int:
    """Run the demo on the global reactor; 0 only if the verdict holds."""
    from twisted.internet import reactor  # noqa: PLC0415

    try:
        plan = DemoPlan(args.participants, args.seconds, args.output, tuple(args.refuse))
    except ValueError as problem:
        print(f"sipperc demo: {problem}", file=sys.stderr)
        return ExitCode.USAGE
    output = plan.output or Path(tempfile.mkdtemp(
        prefix=time.strftime("sipperc-demo-%Y%m%d-%H%M%S-")))
    output = output.resolve()
    demo = ConferenceDemo(plan, reactor, sys.stdout, output)
    outcome: list[Verdict | Failure] = []

    def finished(result: Verdict | Failure) -> None:
        outcome.append(result)
        if reactor.running:
            reactor.stop()

    def start() -> None:
        Deferred.fromCoroutine(demo.run()).addBoth(finished)

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", demo.abort)
    try:
        reactor.run()
    finally:
        demo.stop_servers()
    if not outcome:
        print(f"\nsipperc demo: interrupted; every process stopped; output so far in {output}",
              file=sys.stderr)
        return 130
    result = outcome[0]
    if isinstance(result, Failure):
        error = result.value
        if isinstance(error, DemoError | ServerExitedError | subprocess.CalledProcessError):
            print(f"sipperc demo: {error}", file=sys.stderr)
            return ExitCode.FAILURE
        print(f"sipperc demo: internal error: {result.getTraceback()}", file=sys.stderr)
        return ExitCode.SOFTWARE
    result.write(sys.stdout)
    print(f"recordings: {output}/heard/LISTENER/from-SPEAKER.wav and mix.wav; logs: "
          f"{output}/logs/; verdict: {output}/verdict.json")
    return ExitCode.OK if result.holds else ExitCode.FAILURE


__all__ = ["ConferenceDemo", "DemoError", "DemoPlan", "add_arguments", "run"]
