"""Place one SIP call and report how it went: the twin of ``sipperc responder``.

The call is placed to URI, progress is printed as it happens (trying, ringing, answered with
the codec, ended with the final status), media runs for --duration seconds (silence, or a WAV
file with --play), then we hang up. A 401/407 challenge from the server the call was sent to
is answered when --username/--password are given. The exit status says whether the call was
answered: 0 yes, 1 refused/cancelled/timed out, 69 nobody reachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

from sipperc.apps.call_media import CallMedia
from sipperc.apps.serving import settle_garbage_collector
from sipperc.apps.sip_endpoint import (
    ToolError,
    add_tls_arguments,
    listen_addresses,
    start_agent,
    tls_config,
)
from sipperc.sip.digest import DigestAccount, DigestClient
from sipperc.sip.errors import SipParseError
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.uri import SipUri, parse_uri
from sipperc.sip.user_agent import UserAgentError
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallEnded,
    CallProgress,
    CallRef,
    CallUpdated,
    CallUpdateFailed,
    EndReason,
)

__all__ = ["Caller", "add_arguments", "run"]

EPILOG = """\
examples:
  sipperc call sip:echo@127.0.0.1:5070
      call a responder, talk (silence) for 10 s, hang up
  sipperc call sip:bob@192.0.2.7 --transport tcp --duration 30 --play hello.wav
      play a file to Bob over SIP/TCP
  sipperc call sip:100@pbx.example.net --username 100 --password secret
      answer the PBX's digest challenge (RFC 3261 §22, MD5 or SHA-256)
  sipperc call "sips:bob@192.0.2.7" --transport tls --trust ca.pem
      SIP over TLS, checking the server certificate against ca.pem

progress (stdout):
  trying (100 Trying)
  ringing (180 Ringing)
  answered (200 OK) codec=PCMU/8000 media=rtp
  ended: local-bye after 10.002 s; rtp sent=500 received=498 lost=0

exit status: 0 answered, 1 refused/cancelled/timed out/failed, 2 bad command line,
  69 no route to the peer (nothing answered at all), 130 interrupted (the call is hung up).
"""

_FAILED = 1
_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The call command's options."""
    parser.epilog = EPILOG
    parser.add_argument("uri", metavar="URI", help="whom to call: sip:user@host[:port]")
    parser.add_argument("--duration", type=float, default=10.0, metavar="SEC",
                        help="hang up SEC seconds after the answer (default: 10)")
    parser.add_argument("--transport", choices=("udp", "tcp", "tls"),
                        help="transport to use (default: the URI's, else udp; tls for sips:)")
    parser.add_argument("--listen", metavar="TRANSPORT:HOST:PORT",
                        help="our own address (default: the local address towards the peer, "
                             "any free port)")
    parser.add_argument("--reinvite-after", type=float, metavar="SEC",
                        help="send a re-INVITE (same session, new offer) SEC seconds after the "
                             "answer, to test a peer's re-INVITE and glare handling")
    parser.add_argument("--play", type=Path, metavar="WAV",
                        help="send this 16-bit WAV file (default: silence)")
    parser.add_argument("--no-media", action="store_true",
                        help="open no RTP port (the SDP names the discard port 9)")
    parser.add_argument("--srtp", action="store_true",
                        help="offer SDES-SRTP (RFC 4568) instead of plain RTP")
    parser.add_argument("--timeout", type=float, default=32.0, metavar="SEC",
                        help="give up (CANCEL) if not answered within SEC seconds "
                             "(default: 32)")
    parser.add_argument("--linger", type=float, default=0.0, metavar="SEC",
                        help="stay SEC seconds after the call before closing connections "
                             "(SIPp's uas counts a call failed if its TCP connection closes "
                             "during its 4 s wait; default: 0)")
    parser.add_argument("--user", default="sipperc",
                        help="user part of our From and Contact (default: sipperc)")
    parser.add_argument("--username", help="digest user name for 401/407 challenges")
    parser.add_argument("--password", help="digest password (with --username)")
    add_tls_arguments(parser)


class Caller:
    """One outgoing call, reported as it goes; the event handler of a TwistedUserAgent.

    ``done`` is called with the exit status once the call has ended.
    """

    def __init__(self, media: CallMedia, *, duration: float, play: Path | None,
                 timeout: float, done: Any, reactor: Any, out: Any = None,
                 reinvite_after: float | None = None) -> None:
        self.media = media
        self.reinvite_after = reinvite_after
        self._reinvite: Any = None
        self.duration = duration
        self.play = play
        self.timeout = timeout
        self.done = done
        self.reactor = reactor
        self.out = out or sys.stdout
        self.agent: TwistedUserAgent | None = None
        self.call: CallRef | None = None
        self.answered = False
        self.status: int | None = None
        self._timer: Any = None

    def say(self, line: str) -> None:
        """One progress line."""
        print(line, file=self.out, flush=True)

    def place(self, agent: TwistedUserAgent, uri: str) -> None:
        """Send the INVITE."""
        self.agent = agent
        self.call = agent.invite(uri, offer_answer=self.media.engine("call"))
        self._timer = self.reactor.callLater(self.timeout, self._give_up)

    def _give_up(self) -> None:
        self._timer = None
        if self.agent is not None and self.call is not None and not self.answered:
            self.say(f"no answer after {self.timeout:g} s: cancelling")
            self.agent.hangup(self.call)

    def __call__(self, event: object) -> None:
        """One event of the user agent."""
        if isinstance(event, CallProgress):
            word = "trying" if event.status_code == 100 else (
                "ringing" if event.status_code in (180, 182) else "progress")
            self.say(f"{word} ({event.status_code} {event.reason})")
        elif isinstance(event, CallAnswered):
            self._answered(event)
        elif isinstance(event, CallUpdated):
            side = "the peer's" if event.remote else "our"
            self.say(f"updated ({side} re-INVITE or UPDATE accepted)")
        elif isinstance(event, CallUpdateFailed):
            self.say(f"update refused ({event.status_code} {event.reason})")
        elif isinstance(event, CallEnded):
            self._ended(event)

    def _answered(self, event: CallAnswered) -> None:
        self.answered = True
        self._cancel_timer()
        if self.media.rtp:
            started = self.media.start("call", event.negotiated, self._audio)
        else:
            started = self.media.describe(event.negotiated)
        details = "" if started is None else f" codec={started.codec} media={started.security}"
        self.say(f"answered (200 OK){details}")
        self._timer = self.reactor.callLater(max(0.0, self.duration), self.hang_up)
        if self.reinvite_after is not None:
            self._reinvite = self.reactor.callLater(self.reinvite_after, self._send_reinvite)

    def _send_reinvite(self) -> None:
        self._reinvite = None
        if self.agent is not None and self.call is not None:
            self.say("re-INVITE")
            self.agent.reinvite(self.call)

    def _audio(self, sample_rate: int) -> tuple[Any, Any]:
        from sipperc.media.null_device import NullSink, NullSource  # noqa: PLC0415
        from sipperc.media.wav_file import WavFileSource  # noqa: PLC0415

        source = WavFileSource(self.play) if self.play is not None else NullSource(sample_rate)
        return source, NullSink(sample_rate)

    def hang_up(self) -> None:
        """End the call (BYE, or CANCEL before the answer)."""
        self._timer = None
        if self.agent is not None and self.call is not None:
            self.agent.hangup(self.call)

    def _cancel_timer(self) -> None:
        for call in (self._timer, self._reinvite):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._reinvite = None

    def _ended(self, event: CallEnded) -> None:
        self._cancel_timer()
        stats = self.media.statistics("call")
        self.media.stop("call")
        status = f" {event.status_code}" if event.status_code is not None else ""
        line = f"ended: {event.reason.value}{status}"
        if self.answered:
            line += f" after {event.duration:.3f} s"
        if stats is not None:
            received = sum(r.packets_received for r in stats.receive)
            lost = sum(max(0, r.packets_lost) for r in stats.receive)
            line += (f"; rtp sent={stats.send.packets_sent} received={received} lost={lost}"
                     f" discarded={stats.discarded_rtp}")
        self.say(line)
        self.status = event.status_code
        if self.answered and event.reason is not EndReason.MEDIA_FAILED:
            code = 0
        elif event.reason is EndReason.UNREACHABLE:
            from sipperc.cli import ExitCode  # noqa: PLC0415

            code = ExitCode.UNAVAILABLE
        else:
            code = _FAILED
        self.done(code)


def _target(args: argparse.Namespace) -> tuple[str, TransportAddress]:
    """The URI to call (with ;transport= from --transport) and where its first hop is."""
    from sipperc.cli import ExitCode  # noqa: PLC0415

    try:
        uri = parse_uri(args.uri)
    except SipParseError as error:
        raise ToolError(f"{args.uri!r} is not a SIP URI: {error}", ExitCode.USAGE) from None
    if not isinstance(uri, SipUri):
        raise ToolError(f"{args.uri!r}: sipperc calls sip: or sips: URIs", ExitCode.USAGE)
    transport = args.transport or uri.transport or ("tls" if uri.secure else "udp")
    transport = transport.lower()
    if transport not in ("udp", "tcp", "tls"):
        raise ToolError(f"{args.uri}: transport {transport!r} is not udp, tcp or tls",
                        ExitCode.USAGE)
    if args.transport and uri.transport and uri.transport.lower() != transport:
        raise ToolError(f"--transport {transport} contradicts the URI's transport parameter",
                        ExitCode.USAGE)
    if args.transport and not uri.transport and not (uri.secure and transport == "tls"):
        uri = uri.with_changes(parameters=uri.parameters.with_param("transport", transport))
    host = uri.host.strip("[]")
    try:
        info = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as error:
        raise ToolError(f"cannot resolve {host}: {error.strerror}",
                        ExitCode.UNAVAILABLE) from None
    address = str(info[0][4][0])
    port = uri.port or (5061 if transport == "tls" else 5060)
    return str(uri), TransportAddress(transport, address, port)


def _local_address(peer: TransportAddress) -> str:
    """The address this host uses to reach ``peer`` (what goes in Via, Contact and SDP)."""
    family = socket.AF_INET6 if ":" in peer.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((peer.host, peer.port))  # no packet is sent: only the route is chosen
        return str(probe.getsockname()[0])


def run(args: argparse.Namespace) -> int:
    """Place the call; the exit status."""
    from twisted.internet import reactor  # noqa: PLC0415

    from sipperc.cli import ExitCode  # noqa: PLC0415

    outcome: list[int] = []

    def done(code: int) -> None:
        outcome.append(code)
        reactor.callLater(max(0.0, args.linger), reactor.stop)

    try:
        if (args.username is None) != (args.password is None):
            raise ToolError("--username and --password go together", ExitCode.USAGE)
        if args.duration < 0 or args.timeout <= 0:
            raise ToolError("--duration must be >= 0 and --timeout > 0", ExitCode.USAGE)
        if args.play is not None and not args.play.is_file():
            raise ToolError(f"--play {args.play}: no such file", ExitCode.USAGE)
        uri, peer = _target(args)
        if args.listen:
            (listen,) = listen_addresses([args.listen])
            if listen.transport != peer.transport:
                raise ToolError(f"--listen {args.listen} is not {peer.transport}, the "
                                "transport of the call", ExitCode.USAGE)
        else:
            listen = TransportAddress(peer.transport, _local_address(peer), 0)
        tls = tls_config(args, needs_identity=False) if peer.transport == "tls" else None
        authenticator = None
        if args.username is not None:
            hop = parse_uri(uri)
            assert isinstance(hop, SipUri)
            authenticator = DigestClient([DigestAccount(args.username, args.password,
                                                        servers=(hop.host, peer.host))])
        media = CallMedia(listen.host, rtp=not args.no_media, offer_sdes=args.srtp,
                          reactor=reactor)
        caller = Caller(media, duration=args.duration, play=args.play, timeout=args.timeout,
                        done=done, reactor=reactor, reinvite_after=args.reinvite_after)
        agent = start_agent([listen], media.engine_for, user=args.user, on_event=caller,
                            tls=tls, authenticator=authenticator, reactor=reactor)
    except ToolError as error:
        print(f"sipperc call: {error}", file=sys.stderr)
        return error.exit_code

    def start() -> None:
        try:
            caller.place(agent, uri)
        except UserAgentError as error:
            print(f"sipperc call: {error}", file=sys.stderr)
            done(ExitCode.UNAVAILABLE)

    def shutdown() -> Any:
        if not outcome:  # interrupted: hang up before leaving
            caller.say("interrupted: hanging up")
            caller.hang_up()
            outcome.append(_INTERRUPTED)
        media.stop_all()
        return agent.stop()

    settle_garbage_collector()
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    reactor.run()
    return outcome[0] if outcome else _FAILED
