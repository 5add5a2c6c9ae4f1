"""Place one SIP call and report how it went: the twin of ``sipperc responder``.

The call is placed to URI, progress is printed as it happens (each server tried, ringing,
answered with the codec, ended with the final status), media runs for --duration seconds
(silence, or a WAV file with --play), then we hang up. The server to send to is located the
RFC 3263 way (NAPTR, SRV, A/AAAA over twisted.names, never blocking the reactor), for the
callee's URI or for the outbound proxy of --proxy (RFC 3261 §8.1.2), and the next server is
tried after a 503, a transport error or no answer (§4.3). A 401/407 challenge is answered when
--username/--password are given. The exit status says whether the call was answered: 0 yes,
1 refused/cancelled/timed out, 69 nobody reachable (or no server found), 130 interrupted.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

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
from sipperc.sip.locate import (
    DEFAULT_TRANSPORTS,
    DnsServerLocator,
    LocatedServers,
    LocateError,
    ServerNotFoundError,
    Target,
    dns_server_resolver,
    is_numeric_host,
)
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.uri import SipUri, parse_uri
from sipperc.sip.user_agent import UserAgentError
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallAttempt,
    CallEnded,
    CallProgress,
    CallRef,
    CallUpdated,
    CallUpdateFailed,
    EndReason,
)

__all__ = ["CallRoute", "Caller", "Dialer", "add_arguments", "run"]

EPILOG = """\
examples:
  sipperc call sip:echo@127.0.0.1:5070
      call a responder, talk (silence) for 10 s, hang up
  sipperc call sip:alice@example.com
      find example.com's SIP servers in DNS (RFC 3263) and try them in order
  sipperc call sip:alice@example.com --proxy sip:proxy.example.net
      send the call through an outbound proxy (Route: <sip:proxy.example.net;lr>)
  sipperc call sip:alice@lab.test --dns-server 127.0.0.1:5353
      ask a lab DNS server instead of /etc/resolv.conf
  sipperc call sip:bob@192.0.2.7 --transport tcp --duration 30 --play hello.wav
      play a file to Bob over SIP/TCP
  sipperc call sip:100@pbx.example.net --username 100 --password secret
      answer the PBX's digest challenge (RFC 3261 §22, MD5 or SHA-256)
  sipperc call "sips:bob@192.0.2.7" --transport tls --trust ca.pem
      SIP over TLS, checking the server certificate against ca.pem

finding the server (RFC 3263): the host of URI (or of --proxy) is looked up in DNS:
  a numeric host or an explicit port uses that address (A/AAAA for a name) and the URI's
  transport (default udp, tls for sips:); otherwise NAPTR records choose the transport (the
  URI's ;transport= or --transport fixes it), SRV records the servers by priority and
  weight, then A/AAAA their addresses; without NAPTR/SRV, A/AAAA on the host, port 5060/5061.
  The servers are tried in order: the next one after a 503, a transport error, or no
  response at all within --failover-after seconds (the last server gets Timer B, 32 s).

progress (stdout):
  locating example.com in DNS (RFC 3263)
  trying 192.0.2.1:5060/udp (SRV _sip._udp.example.com)
  192.0.2.1:5060/udp did not answer (408): trying the next server
  trying 192.0.2.2:5060/udp (SRV _sip._udp.example.com)
  trying (100 Trying)
  ringing (180 Ringing)
  answered (200 OK) codec=PCMU/8000 media=rtp
  ended: local-bye after 10.002 s; rtp sent=500 received=498 lost=0

exit status: 0 answered, 1 refused/cancelled/timed out/failed, 2 bad command line,
  69 no route to the peer (no server found in DNS, or nothing answered at all),
  130 interrupted (the call is hung up).
"""

_log = Logger(namespace="sipperc.call")
_FAILED = 1
_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The call command's options."""
    parser.epilog = EPILOG
    parser.add_argument("uri", metavar="URI", help="whom to call: sip:user@host[:port]")
    parser.add_argument("--duration", type=float, default=10.0, metavar="SEC",
                        help="hang up SEC seconds after the answer (default: 10)")
    parser.add_argument("--transport", choices=("udp", "tcp", "tls"),
                        help="transport to use (default: the URI's, else as DNS says "
                             "(RFC 3263), else udp; tls for sips:)")
    parser.add_argument("--proxy", metavar="URI",
                        help="outbound proxy: the call goes there with Route: <URI;lr> "
                             "(RFC 3261 §8.1.2); the Request-URI stays the callee")
    parser.add_argument("--dns-server", metavar="HOST[:PORT]",
                        help="ask this DNS server (an IP address; [v6]:port) instead of "
                             "/etc/resolv.conf and /etc/hosts")
    parser.add_argument("--failover-after", type=float, default=4.0, metavar="SEC",
                        help="try the next located server when one has not answered at all "
                             "after SEC seconds (RFC 3263 §4.3; default: 4)")
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
        self.found_by: dict[TransportAddress, str] = {}
        """How each server was found (RFC 3263), for the progress lines."""
        self._server: TransportAddress | None = None

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
        if isinstance(event, CallAttempt):
            self._attempt(event)
        elif isinstance(event, CallProgress):
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

    def _attempt(self, event: CallAttempt) -> None:
        previous = self._server
        if previous is not None and event.after is not None:
            what = "did not answer" if event.after == 408 else "failed"
            self.say(f"{_server_text(previous)} {what} ({event.after}): "
                     "trying the next server")
        self._server = event.destination
        how = self.found_by.get(event.destination)
        self.say(f"trying {_server_text(event.destination)}" + (f" ({how})" if how else ""))

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


def _server_text(address: TransportAddress) -> str:
    """``192.0.2.1:5060/udp``: a server as the progress lines name it."""
    return f"{address.host_port}/{address.transport}"


@dataclass(frozen=True, slots=True)
class CallRoute:
    """Where the call goes: the Request-URI (the callee) and the first hop to locate.

    The first hop is the outbound proxy (``;lr`` added: a pre-existing route set of one
    loose router, RFC 3261 §8.1.2) or the callee. ``transports`` are the ones we may use
    to reach it: the one --transport or --listen fixes, else any (RFC 3263 §4.1 decides).
    """

    request_uri: SipUri
    proxy: SipUri | None
    transports: tuple[str, ...]

    @property
    def first_hop(self) -> SipUri:
        """The URI RFC 3263 resolves into the servers to try."""
        return self.proxy or self.request_uri


def _sip_uri(text: str, what: str) -> SipUri:
    from sipperc.cli import ExitCode  # noqa: PLC0415

    try:
        uri = parse_uri(text)
    except SipParseError as error:
        raise ToolError(f"{what} {text!r} is not a SIP URI: {error}", ExitCode.USAGE) from None
    if not isinstance(uri, SipUri):
        raise ToolError(f"{what} {text!r}: sipperc calls sip: or sips: URIs", ExitCode.USAGE)
    return uri


def _route(args: argparse.Namespace, listen: TransportAddress | None = None) -> CallRoute:
    """The command line's callee, proxy and transports, checked (ToolError when wrong)."""
    from sipperc.cli import ExitCode  # noqa: PLC0415

    uri = _sip_uri(args.uri, "URI")
    transport = args.transport
    if transport and uri.transport and uri.transport.lower() != transport:
        raise ToolError(f"--transport {transport} contradicts the URI's transport parameter",
                        ExitCode.USAGE)
    if uri.transport and uri.transport.lower() not in ("udp", "tcp", "tls"):
        raise ToolError(f"{args.uri}: transport {uri.transport!r} is not udp, tcp or tls",
                        ExitCode.USAGE)
    if transport and not uri.transport and not (uri.secure and transport == "tls"):
        uri = uri.with_changes(parameters=uri.parameters.with_param("transport", transport))
    proxy = None
    if getattr(args, "proxy", None):
        proxy = _sip_uri(args.proxy, "--proxy")
        if not proxy.lr:  # RFC 3261 §8.1.2: the outbound proxy is a loose router
            proxy = proxy.with_changes(parameters=proxy.parameters.with_param("lr"))
    if listen is not None and transport and listen.transport != transport:
        raise ToolError(f"--listen {listen} is not {transport}, the transport of the call",
                        ExitCode.USAGE)
    fixed = transport or (listen.transport if listen is not None else None)
    transports = (fixed,) if fixed else DEFAULT_TRANSPORTS
    return CallRoute(uri, proxy, transports)


def _local_address(peer: TransportAddress) -> str | None:
    """The address this host uses to reach ``peer`` (Via, Contact, SDP); None: no route."""
    family = socket.AF_INET6 if ":" in peer.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((peer.host, peer.port))  # no packet is sent: only the route is chosen
            return str(probe.getsockname()[0])
    except OSError:
        return None


def _listening_points(targets: Sequence[Target]) -> list[TransportAddress]:
    """One listening point (any free port) per transport among ``targets``.

    Each is on the local address towards the first target of its transport.
    """
    points: dict[str, TransportAddress] = {}
    for target in targets:
        address = target.address
        if address.transport not in points:
            local = _local_address(address)
            if local is not None:
                points[address.transport] = TransportAddress(address.transport, local, 0)
    return list(points.values())


class Dialer:
    """``sipperc call`` from the command line to the exit status, on a reactor.

    :meth:`start` locates the first hop (RFC 3263, asynchronously: NAPTR, SRV, A/AAAA over
    ``twisted.names``), opens the listening points the located servers need, and places the
    call; the user agent tries the servers in order (§4.3) and the :class:`Caller` prints
    each attempt. ``done`` is called once with the exit status. :meth:`shutdown` hangs up
    a call still in progress and closes everything.
    """

    def __init__(self, args: argparse.Namespace, *, done: Callable[[int], None],
                 reactor: Any, out: Any = None, err: Any = None,
                 resolver: Any = None) -> None:
        from sipperc.cli import ExitCode  # noqa: PLC0415

        self.args = args
        self.reactor = reactor
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._done = done
        self.exit_code: int | None = None
        self.agent: TwistedUserAgent | None = None
        self.caller: Caller | None = None
        self.media: CallMedia | None = None
        if (args.username is None) != (args.password is None):
            raise ToolError("--username and --password go together", ExitCode.USAGE)
        if args.duration < 0 or args.timeout <= 0:
            raise ToolError("--duration must be >= 0 and --timeout > 0", ExitCode.USAGE)
        if args.failover_after <= 0:
            raise ToolError("--failover-after must be > 0", ExitCode.USAGE)
        if args.play is not None and not args.play.is_file():
            raise ToolError(f"--play {args.play}: no such file", ExitCode.USAGE)
        self.listen = listen_addresses([args.listen])[0] if args.listen else None
        self.route = _route(args, self.listen)
        if resolver is None and args.dns_server is not None:
            resolver = _dns_server(args.dns_server)
        self.locator = DnsServerLocator(resolver, transports=self.route.transports)
        self.servers = LocatedServers(self.route.transports)

    def say(self, line: str) -> None:
        """One progress line."""
        print(line, file=self.out, flush=True)

    def finish(self, code: int) -> None:
        """The command is over: ``code`` is its exit status (the first one counts)."""
        if self.exit_code is None:
            self.exit_code = code
            self._done(code)

    def start(self) -> Deferred[None]:
        """Locate, listen, call; errors are printed and end the command with their code."""
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        from sipperc.cli import ExitCode  # noqa: PLC0415

        try:
            await self._place()
        except ToolError as error:
            print(f"sipperc call: {error}", file=self.err, flush=True)
            self.finish(error.exit_code)
        except Exception:
            _log.failure("sipperc call failed")
            self.finish(ExitCode.SOFTWARE)

    async def _place(self) -> None:
        from sipperc.cli import ExitCode  # noqa: PLC0415

        args, route = self.args, self.route
        if not is_numeric_host(route.first_hop.maddr or route.first_hop.host):
            self.say(f"locating {route.first_hop.maddr or route.first_hop.host} in DNS "
                     "(RFC 3263)")
        try:
            targets = await self.locator.locate(route.first_hop)
        except ServerNotFoundError as error:
            raise ToolError(str(error), ExitCode.UNAVAILABLE) from None
        except LocateError as error:
            raise ToolError(str(error), ExitCode.USAGE) from None
        listen = [self.listen] if self.listen is not None else _listening_points(targets)
        if not listen:
            where = ", ".join(str(t.address) for t in targets)
            raise ToolError(f"no route from this host to {where}", ExitCode.UNAVAILABLE)
        usable = {point.transport for point in listen}
        targets = [t for t in targets if t.address.transport in usable]
        self.servers.remember(route.first_hop, targets)
        needs_tls = any(t.address.transport == "tls" for t in targets)
        tls = tls_config(args, needs_identity=False) if needs_tls else None
        authenticator = None
        if args.username is not None:
            hosts = {route.request_uri.host, *(t.address.host for t in targets)}
            if route.proxy is not None:
                hosts.add(route.proxy.host)
            authenticator = DigestClient([DigestAccount(args.username, args.password,
                                                        servers=tuple(hosts))])
        self.media = media = CallMedia(listen[0].host, rtp=not args.no_media,
                                       offer_sdes=args.srtp, reactor=self.reactor)
        self.caller = caller = Caller(
            media, duration=args.duration, play=args.play, timeout=args.timeout,
            done=self.finish, reactor=self.reactor, out=self.out,
            reinvite_after=args.reinvite_after)
        via_proxy = "outbound proxy, " if route.proxy is not None else ""
        caller.found_by = {t.address: via_proxy + t.found_by for t in targets}
        self.agent = agent = start_agent(
            listen, media.engine_for, user=args.user, on_event=caller, tls=tls,
            authenticator=authenticator, outbound_proxy=route.proxy,
            failover_after=args.failover_after, locate=self.servers, reactor=self.reactor)
        try:
            caller.place(agent, str(route.request_uri))
        except UserAgentError as error:
            raise ToolError(str(error), ExitCode.UNAVAILABLE) from None

    def shutdown(self) -> Any:
        """Hang up a call in progress (interrupted), stop media, close the sockets."""
        if self.exit_code is None:
            if self.caller is not None:
                self.caller.say("interrupted: hanging up")
                self.caller.hang_up()
            self.exit_code = _INTERRUPTED
        if self.media is not None:
            self.media.stop_all()
        return None if self.agent is None else self.agent.stop()


def _dns_server(text: str) -> Any:
    """``--dns-server HOST[:PORT]``: a resolver asking that server only."""
    from sipperc.cli import ExitCode  # noqa: PLC0415

    host, port = text, 53
    if text.startswith("["):  # [2001:db8::53]:5353
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ToolError(f"--dns-server {text}: expected HOST[:PORT]", ExitCode.USAGE)
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        if not number.isdigit():
            raise ToolError(f"--dns-server {text}: expected HOST[:PORT]", ExitCode.USAGE)
        port = int(number)
    if not 0 < port < 65536:
        raise ToolError(f"--dns-server {text}: port {port} is out of range", ExitCode.USAGE)
    try:
        return dns_server_resolver(host, port)
    except ValueError as error:
        raise ToolError(f"--dns-server {text}: {error}", ExitCode.USAGE) from None


def run(args: argparse.Namespace) -> int:
    """Place the call; the exit status."""
    from twisted.internet import reactor  # noqa: PLC0415

    def done(code: int) -> None:
        reactor.callLater(max(0.0, args.linger), reactor.stop)

    try:
        dialer = Dialer(args, done=done, reactor=reactor)
    except ToolError as error:
        print(f"sipperc call: {error}", file=sys.stderr)
        return error.exit_code
    settle_garbage_collector()
    reactor.callWhenRunning(dialer.start)
    reactor.addSystemEventTrigger("before", "shutdown", dialer.shutdown)
    reactor.run()
    return dialer.exit_code if dialer.exit_code is not None else _FAILED
