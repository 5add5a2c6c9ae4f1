"""Run a PERC Media Distributor: forwards conference media it cannot decrypt end to end.

The Media Distributor (RFC 8871 §3) receives every endpoint's double-SRTP media on one UDP port
per room, relays their DTLS to the Key Distributor through the RFC 9185 tunnel, installs the
hop-by-hop keys the Key Distributor sends back (never the end-to-end ones), and forwards the
loudest speakers to everyone else, re-encrypting the outer layer per receiver. It terminates
and regenerates RTCP, forwards NACK/PLI to the media sender, counts everything, and reports an
endpoint that went silent to the Key Distributor.

    sipperc distributor --config configs/distributor.yaml

Also a twist plugin:  twist perc-distributor --config configs/distributor.yaml

The configuration (YAML, paths relative to the file; see configs/distributor.yaml)::

    key_distributor: {host: kd.example.net, port: 4740}   # where the tunnel goes
    tls: {certificate: ..., private_key: ..., peer: {fingerprints: [...]}}
    profiles: [DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM, ...]   # default: both
    rooms:
      design-review:                     # the room name, as in the Key Distributor's policy
        listen: {host: 0.0.0.0, port: 40000}   # what the SIP focus puts in its SDP answers
        last_n: 3                        # speakers forwarded (RFC 6464 levels, hysteresis)
        audio_level_id: 1                # a=extmap id of RFC 6464 ssrc-audio-level
        silence_timeout: 15              # seconds without RTP/RTCP: the endpoint is gone
    rtcp_interval: 5                     # receiver reports to each endpoint
    statistics_interval: 30              # a statistics line in the log (0: never)
    socket_buffer: 4194304               # UDP receive/send buffer per room port, bytes
    fanout_process: true                 # a second process sends most of each large fan-out
    reconnect: {initial: 0.25, maximum: 5}   # back-off (s) while the Key Distributor is away
    focus:                               # optional: tell the SIP focus who is talking
      host: 127.0.0.1                    # (focus.yaml media_distributors.listen)
      port: 4742
      tls: {certificate: ..., private_key: ..., peer: {fingerprints: [...]}}

With ``focus``, the Media Distributor reports to the SIP focus which endpoints are talking
(:mod:`sipperc.perc.speaker_report`: each endpoint by the tls-id its DTLS ClientHello carries,
never a SIP identity or a key), so the focus can show it in the RFC 4575 roster.

While the tunnel is down (a Key Distributor restart) media keeps flowing under the keys already
installed; new handshakes wait for the reconnection. A restarted Media Distributor gets its
endpoints' hop-by-hop keys back from the Key Distributor and recognises each endpoint by the
first packet that authenticates under them: no endpoint has to handshake again.

Large fan-outs (a speaker's packet to hundreds of receivers) are written by two processes:
the Media Distributor encrypts every copy, handing most to a sender process as they are
encrypted, which sends them from the same socket with sendmmsg(2) on another core, and sends
the rest itself
(:mod:`sipperc.apps.fanout_sender`; it holds no key). ``fanout_process: false`` keeps all
sending in the one process; where sendmmsg or memfd is missing (not Linux) it is always so.
"""

from __future__ import annotations

import argparse
import itertools
import socket
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from sipperc.apps.fanout_sender import FanOutSender
from sipperc.apps.serving import Readiness, SocketAddress, load_socket_address, run_service
from sipperc.cli import ExitCode
from sipperc.config import ConfigNode, load_config
from sipperc.perc.media_distributor import (
    FanOut,
    MediaDistributor,
    Output,
    ParticipantJoined,
    ParticipantLeft,
    RoomConfig,
    RoomSwitchEvent,
    SpeakerTalking,
    ToKeyDistributor,
)
from sipperc.perc.policy import DOUBLE_PROFILES
from sipperc.perc.speaker_report_service import SpeakerReportClient
from sipperc.perc.switching import SpeakersChanged, SsrcConflict, SwitchingConfig
from sipperc.perc.tunnel import TunnelClosed
from sipperc.perc.tunnel_messages import TunnelError
from sipperc.perc.tunnel_service import (
    ReconnectBackoff,
    RelayedMessage,
    TunnelClientService,
    TunnelProtocol,
)
from sipperc.perc.tunnel_tls import MutualTLS, load_mutual_tls
from sipperc.srtp import Profile

_log = Logger(namespace="sipperc.distributor")

DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024
MAX_DATAGRAM = 9216
"""Largest datagram read (a jumbo frame): RTP and DTLS stay far below."""
FANOUT_OFFLOAD_MINIMUM = 64
"""Copies of one packet from which on the sender process takes part: below this, waking it
costs more than it saves (benchmarks/distributor_bench.py)."""
FANOUT_SHARE = 0.7
"""The part of a large fan-out the sender process sends. It only sends (about 3.5 us a
copy here); this process encrypts every copy (about 1.3 us) and sends the rest (about 3.7
us): with the copies handed over as they are encrypted, these are about equally long."""


@dataclass(frozen=True, slots=True)
class DistributorConfig:
    """Everything a Media Distributor process needs (see the module docstring)."""

    key_distributor: SocketAddress
    tls: MutualTLS
    rooms: tuple[tuple[SocketAddress, RoomConfig], ...]
    profiles: tuple[Profile, ...] = DOUBLE_PROFILES
    rtcp_interval: float = 5.0
    handshake_timeout: float = 30.0
    statistics_interval: float = 30.0
    socket_buffer: int = DEFAULT_SOCKET_BUFFER
    fanout_process: bool = True
    reconnect: ReconnectBackoff = field(default_factory=lambda: ReconnectBackoff(0.25, 2.0,
                                                                                  5.0))
    focus: SocketAddress | None = None
    """Where the SIP focus takes talking reports (None: no reports)."""
    focus_tls: MutualTLS | None = None


def load_distributor_config(path: str | Path) -> DistributorConfig:
    """Read a Media Distributor configuration; ConfigError at the offending line."""
    root = load_config(path)
    root.entries({"key_distributor", "tls", "profiles", "rooms", "rtcp_interval",
                  "handshake_timeout", "statistics_interval", "socket_buffer", "fanout_process",
                  "reconnect", "focus"})
    profiles: list[Profile] = []
    for item in root.get_list("profiles"):
        try:
            profile = Profile[str(item.value)]
        except KeyError:
            raise item.error(f"unknown profile {item.value!r}") from None
        if not profile.is_double:
            raise item.error(f"{profile.name} is not a double profile (RFC 8723)")
        profiles.append(profile)
    rooms_node = root.require("rooms")
    rooms = tuple(_room(name, node) for name, node in rooms_node.entries().items())
    if not rooms:
        raise rooms_node.error("no room is defined")
    ports = [address for address, _ in rooms if address.port]
    if len(set(ports)) != len(ports):
        raise rooms_node.error("each room needs a port of its own")
    focus_node = root.child("focus")
    if focus_node is not None:
        focus_node.entries({"host", "port", "tls"})
    return DistributorConfig(
        key_distributor=load_socket_address(root.require("key_distributor"), listening=False),
        tls=load_mutual_tls(root.require("tls")),
        rooms=rooms,
        profiles=tuple(profiles) or DOUBLE_PROFILES,
        rtcp_interval=root.get_float("rtcp_interval", 5.0, minimum=0.1),
        handshake_timeout=root.get_float("handshake_timeout", 30.0, minimum=1),
        statistics_interval=root.get_float("statistics_interval", 30.0, minimum=0),
        socket_buffer=root.get_int("socket_buffer", DEFAULT_SOCKET_BUFFER, minimum=0),
        fanout_process=root.get_bool("fanout_process", True),
        reconnect=_backoff(root.section("reconnect", {"initial", "maximum"})),
        focus=None if focus_node is None else SocketAddress(
            focus_node.get_str("host"), focus_node.get_int("port", minimum=1, maximum=65535)),
        focus_tls=None if focus_node is None else load_mutual_tls(focus_node.require("tls")),
    )


def _backoff(node: ConfigNode) -> ReconnectBackoff:
    initial = node.get_float("initial", 0.25, minimum=0.01)
    maximum = node.get_float("maximum", 5.0, minimum=0.01)
    if maximum < initial:
        raise node.require("maximum").error("must not be below 'initial'")
    return ReconnectBackoff(initial, 2.0, maximum)


def _room(name: str, node: ConfigNode) -> tuple[SocketAddress, RoomConfig]:
    node.entries({"listen", "last_n", "audio_level_id", "vad", "silence_timeout", "hangover",
                  "switch_margin_db", "switch_delay", "max_participants", "clock_rates"})
    defaults = SwitchingConfig()
    switching = SwitchingConfig(
        last_n=node.get_int("last_n", defaults.last_n, minimum=1),
        hangover=node.get_float("hangover", defaults.hangover, minimum=0),
        switch_margin_db=node.get_float("switch_margin_db", defaults.switch_margin_db,
                                        minimum=0),
        switch_delay=node.get_float("switch_delay", defaults.switch_delay, minimum=0),
        silence_timeout=node.get_float("silence_timeout", defaults.silence_timeout, minimum=1),
    )
    level_node = node.child("audio_level_id")
    audio_level_id: int | None = 1
    if level_node is not None and level_node.value is False:
        audio_level_id = None
    elif level_node is not None:
        audio_level_id = node.get_int("audio_level_id", minimum=1, maximum=255)
    clock_rates: dict[int, int] = {}
    rates = node.child("clock_rates")
    if rates is not None:
        for pt, rate in rates.entries().items():
            if not pt.isdigit() or not 0 <= int(pt) <= 127:
                raise rate.error("payload types are 0 to 127")
            clock_rates[int(pt)] = rates.get_int(pt, minimum=1)
    config = RoomConfig(name, switching, audio_level_id, node.get_bool("vad", True),
                        clock_rates, node.get_int("max_participants", 1000, minimum=1))
    return load_socket_address(node.require("listen"), listening=True), config


class RoomPort(DatagramProtocol):
    """One room's UDP port: every datagram goes to the Media Distributor core."""

    noisy = False  # the server logs what matters itself

    def __init__(self, server: DistributorServer, key: str) -> None:
        self.server = server
        self.key = key

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        """The hot path: hand the datagram over, write what comes back."""
        server = self.server
        outputs = server.core.datagram_received(self.key, addr, datagram,
                                                server.reactor.seconds(), lazy=True)
        # Forwarding RTP cannot bring a deadline forward; DTLS and roster changes can.
        server.carry_out(outputs, rearm=datagram[0] < 128)


class DistributorServer(Service):
    """The Media Distributor process: room ports, the tunnel, the core, timers, statistics."""

    name = "perc-distributor"

    def __init__(self, config: DistributorConfig, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        self.config = config
        self.reactor = reactor
        self.core = MediaDistributor({cfg.room: cfg for _, cfg in config.rooms},
                                     config.profiles, now=reactor.seconds(),
                                     rtcp_interval=config.rtcp_interval,
                                     handshake_timeout=config.handshake_timeout)
        self.ports: dict[Hashable, Any] = {}
        self._sendto: dict[Hashable, Any] = {}
        self.fanout: FanOutSender | None = None
        self.fanout_minimum = FANOUT_OFFLOAD_MINIMUM
        self.fanout_share = FANOUT_SHARE
        self.tunnel_service: TunnelClientService | None = None
        self.speaker_reports: SpeakerReportClient | None = None
        self._tunnel: TunnelProtocol | None = None
        self._timer: IDelayedCall | None = None
        self._statistics_call: IDelayedCall | None = None
        self._ready = Readiness()
        self.send_errors = 0

    # -- service ----------------------------------------------------------------------------------

    def startService(self) -> None:
        """Bind every room's port, then keep the tunnel to the Key Distributor up."""
        super().startService()  # type: ignore[no-untyped-call]
        try:
            for address, room in self.config.rooms:
                port = self.reactor.listenUDP(address.port, RoomPort(self, room.room),
                                              interface=address.host,
                                              maxPacketSize=MAX_DATAGRAM)
                self._tune(port)
                self.ports[room.room] = port
                # The hot path writes with the socket's own sendto: the addresses come from
                # recvfrom, so Twisted's per-write address parsing would be wasted work.
                self._sendto[room.room] = port.getHandle().sendto
                bound = port.getHost()
                _log.info("room {room} listens on {host}:{port}", room=room.room,
                          host=bound.host, port=bound.port)
            if self.config.fanout_process:
                self._start_fanout()
        except Exception:  # reported through when_ready, not raised into the reactor
            self._ready.fail(Failure())  # type: ignore[no-untyped-call]
            return
        target = self.config.key_distributor
        self.tunnel_service = TunnelClientService.to_host(
            target.host, target.port, self.config.tls, self.config.profiles, self,
            reactor=self.reactor, backoff=self.config.reconnect)
        self.tunnel_service.startService()
        focus = self.config.focus
        if focus is not None and self.config.focus_tls is not None:
            self.speaker_reports = SpeakerReportClient.to_host(
                focus.host, focus.port, self.config.focus_tls, reactor=self.reactor,
                backoff=self.config.reconnect)
            self.speaker_reports.startService()
        self._ready.watch(succeed(None))
        if self.config.statistics_interval:
            self._statistics_call = self.reactor.callLater(self.config.statistics_interval,
                                                           self._log_statistics)
        self._arm()

    def when_ready(self) -> Deferred[None]:
        """Fires once every room port is bound."""
        return self._ready.wait()

    def stopService(self) -> Deferred[Any] | None:
        """Close the ports and the tunnel."""
        super().stopService()  # type: ignore[no-untyped-call]
        for call in (self._timer, self._statistics_call):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._statistics_call = None
        if self.fanout is not None:
            self.fanout.close()
            self.fanout = None
        for port in self.ports.values():
            port.stopListening()
        if self.speaker_reports is not None and self.speaker_reports.running:
            self.speaker_reports.stopService()
        if self.tunnel_service is not None and self.tunnel_service.running:
            return self.tunnel_service.stopService()
        return None

    def _start_fanout(self) -> None:
        self.fanout = FanOutSender.start({room: port.getHandle()
                                          for room, port in self.ports.items()})
        if self.fanout is None:
            _log.info("no sendmmsg(2) here: the Media Distributor sends every copy itself")
        else:
            _log.info("sender process {pid} sends most of each large fan-out",
                      pid=self.fanout.pid)

    def _tune(self, port: Any) -> None:
        size = self.config.socket_buffer
        if not size:
            return
        sock = port.getHandle()
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, size)
            except OSError as error:
                _log.warn("cannot set the socket buffer to {size} bytes: {error}", size=size,
                          error=str(error))

    # -- TunnelHandler ------------------------------------------------------------------------

    def tunnel_opened(self, tunnel: TunnelProtocol) -> None:
        """TLS to the Key Distributor is up (SupportedProfiles was sent first)."""
        self._tunnel = tunnel
        self.core.tunnel_up()

    def tunnel_message(self, tunnel: TunnelProtocol, message: RelayedMessage) -> None:
        """MediaKeys, DTLS for an endpoint, or EndpointDisconnect."""
        self.carry_out(self.core.tunnel_message(message, self.reactor.seconds()), rearm=True)

    def tunnel_closed(self, tunnel: TunnelProtocol, closed: TunnelClosed) -> None:
        """The tunnel dropped: media goes on; DTLS waits for the reconnection."""
        if self._tunnel is tunnel:
            self._tunnel = None
            self.core.tunnel_down()

    # -- internals --------------------------------------------------------------------------------

    def carry_out(self, outputs: list[Output], *, rearm: bool) -> None:
        """Write datagrams, send tunnel messages, log events."""
        sendto = self._sendto
        for output in outputs:
            if type(output) is tuple:
                try:
                    sendto[output[0]](output[2], output[1])
                except OSError:
                    self.send_errors += 1  # a full socket buffer: the packet is lost
                continue
            if type(output) is FanOut:
                self._fan_out(output)
                continue
            rearm = True
            if isinstance(output, ToKeyDistributor):
                tunnel = self._tunnel
                if tunnel is None:
                    continue
                try:
                    tunnel.send(output.message)
                except TunnelError as error:
                    _log.warn("tunnel message not sent: {error}", error=str(error))
            elif isinstance(output, SpeakerTalking):
                if self.speaker_reports is not None:
                    self.speaker_reports.report(output.room, output.tls_id, output.talking)
            else:
                _log_event(output)
        if rearm:
            self._arm()

    def _fan_out(self, copies: FanOut) -> None:
        """Send a packet's copies; most of a large fan-out through the sender process.

        The copies are encrypted as they are taken: the first ``fanout_share`` go to the
        sender process in chunks, so it sends while this process encrypts the next ones; this
        process then encrypts and sends the rest itself. What the process could not take
        (a full ring, a datagram too large, a dead process) is sent here too.
        """
        datagrams = iter(copies)
        sendto = self._sendto
        fanout = self.fanout
        if fanout is not None and len(copies) >= self.fanout_minimum:
            returned = fanout.send(datagrams, int(len(copies) * self.fanout_share))
            if not fanout.alive:
                self.fanout = None
                fanout.close()
                _log.warn("the sender process is gone (exit status {status}): the Media "
                          "Distributor sends every copy itself", status=fanout.process.returncode)
            datagrams = itertools.chain(returned, datagrams)
        for port, address, data in datagrams:
            try:
                sendto[port](data, address)
            except OSError:
                self.send_errors += 1

    def _arm(self) -> None:
        if not self.running:
            return
        deadline = self.core.get_timer()
        if self._timer is not None and self._timer.active():
            if deadline is not None and abs(self._timer.getTime() - deadline) < 1e-3:
                return
            self._timer.cancel()
        self._timer = None
        if deadline is not None:
            self._timer = self.reactor.callLater(max(0.0, deadline - self.reactor.seconds()),
                                                 self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.carry_out(self.core.handle_timer(self.reactor.seconds()), rearm=True)

    def _log_statistics(self) -> None:
        now = self.reactor.seconds()
        statistics = self.core.statistics(now)
        for room, conference in statistics.rooms.items():
            _log.info("room statistics", conference=room, participants=conference.participants,
                      speakers=",".join(conference.selected),
                      packets_in=conference.packets_received,
                      copies_out=conference.copies_forwarded,
                      not_forwarded=conference.packets_dropped)
        _log.info("distributor statistics", datagrams_in=statistics.datagrams_received,
                  datagrams_out=statistics.datagrams_sent, dtls_relayed=statistics.dtls_relayed,
                  send_errors=self.send_errors + (self.fanout.errors if self.fanout else 0),
                  **{f"dropped_{reason.name.lower()}": count
                     for reason, count in statistics.dropped.items()})
        self._statistics_call = self.reactor.callLater(self.config.statistics_interval,
                                                       self._log_statistics)


def _log_event(event: Output) -> None:
    if isinstance(event, ParticipantJoined):
        _log.info("participant joined" + (" (recovered after a restart)" if event.recovered
                                          else ""),
                  conference=event.room, participant=event.participant,
                  association=str(event.association_id))
    elif isinstance(event, ParticipantLeft):
        _log.info("participant left: {reason}", reason=event.reason, conference=event.room,
                  participant=event.participant)
    elif isinstance(event, RoomSwitchEvent):
        inner = event.event
        if isinstance(inner, SpeakersChanged):
            _log.debug("speakers now {speakers}", speakers=",".join(inner.selected),
                       conference=event.room)
        elif isinstance(inner, SsrcConflict):
            _log.warn("SSRC {ssrc:08x} of {owner} also sent by {participant}: dropped",
                      ssrc=inner.ssrc, owner=inner.owner, participant=inner.participant,
                      conference=event.room)


# -- the sipperc sub-command ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the configuration file."""
    parser.add_argument("--config", type=Path, required=True,
                        help="Media Distributor configuration (YAML, see "
                             "configs/distributor.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="only validate the configuration and print the rooms")


def run(args: argparse.Namespace) -> int:
    """Load the configuration and serve until SIGINT/SIGTERM."""
    config = load_distributor_config(args.config)
    if args.check:
        for address, room in config.rooms:
            print(f"{room.room}: {address} last_n={room.switching.last_n}")
        return ExitCode.OK
    return run_service(DistributorServer(config), "distributor")


__all__ = ["DistributorConfig", "DistributorServer", "RoomPort", "add_arguments",
           "load_distributor_config", "run"]
