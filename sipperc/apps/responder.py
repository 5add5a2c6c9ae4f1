"""Answer SIP calls for interop testing: a user agent server that picks up, or refuses.

Point a SIP server, a phone or SIPp at it to check that calls get through. Every call is
answered (after ringing for --answer-after seconds), or refused with --reply CODE; with
--echo-media whatever the caller says comes back (RTP decoded and encoded again, SDES-SRTP
when the caller offers it). OPTIONS are answered 200 with our capabilities. Each call is
logged in one line when it ends: call-id, from, to, outcome, status, duration, codec.
The responder runs until interrupted (Ctrl-C or SIGTERM); calls still in progress then end at
once (BYE, or 503 before the answer), each with its record (outcome=shutdown).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from sipperc.apps.call_media import CallMedia, EchoAudio
from sipperc.apps.serving import settle_garbage_collector
from sipperc.apps.sip_endpoint import (
    ToolError,
    add_tls_arguments,
    drain,
    listen_addresses,
    start_agent,
    tls_config,
)
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.user_agent_events import (
    CallAnswered,
    CallEnded,
    CallRef,
    CallUpdated,
    IncomingCall,
    OptionsReceived,
)

__all__ = ["Responder", "add_arguments", "run"]

log = Logger(namespace="sipperc.responder")

EPILOG = """\
examples:
  sipperc responder --listen udp:127.0.0.1:5070
      answer every call at once on UDP port 5070
  sipperc responder --listen udp:0.0.0.0:5060 --listen tcp:0.0.0.0:5060 \\
          --media-address 192.0.2.10 --answer-after 2 --echo-media
      ring for 2 s, then answer and echo the caller's audio back
  sipperc responder --listen udp:127.0.0.1:5070 --reply 486
      refuse every call with 486 Busy Here
  sipperc responder --listen tls:127.0.0.1:5071 --certificate me.pem --private-key me.key
      accept SIP over TLS (sips: URIs)
  sipperc --log-format json responder --listen udp:127.0.0.1:5070
      one JSON object per call record, for scripts

call records: exactly one line per call (per INVITE that started one), when it ends:
  call ended call_id=... from=sip:alice@... to=sip:... outcome=remote-bye status=None
  duration=3.004 codec=PCMU/8000 media=rtp transport=udp:127.0.0.1:40210
  outcome, for calls answered: remote-bye (the caller hung up), timeout (no ACK for our
  200 within 32 s, or no answer to a request of ours: we sent BYE), session-expired (no
  session refresh, RFC 4028), dialog-gone (the caller answered 481), media-failed (no usable
  SDP); for calls never answered: declined (refused: --reply, or an INVITE we cannot take;
  status says with what), cancelled (the caller gave up: status=487), timeout (no PRACK
  for our reliable 180, status=500, or the INVITE's Expires passed, status=487).
  duration: seconds from the caller's ACK to the end (0 for a call never confirmed).
  stopping (Ctrl-C or SIGTERM) ends every call in progress at once, and writes its record
  before the responder exits, with outcome=shutdown: a call answered gets our BYE (even if
  its ACK has not come yet; duration up to the stop), a call not answered yet gets 503
  (status=503, duration 0). The responder then waits up to 2 s for the BYEs' answers
  (sending them again meanwhile) before it closes its sockets.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The responder's options."""
    parser.epilog = EPILOG
    parser.add_argument("--listen", action="append", metavar="TRANSPORT:HOST:PORT",
                        help="where to accept SIP (udp:, tcp: or tls:), repeatable "
                             "(default: udp:127.0.0.1:5070)")
    parser.add_argument("--answer-after", type=_seconds, default=0.0, metavar="SEC",
                        help="ring (180) for SEC seconds before answering or replying "
                             "(default: 0, at once)")
    parser.add_argument("--reply", type=_reply_code, default=200, metavar="CODE",
                        help="final response to every INVITE: 200 answers (default), 300-699 "
                             "refuses (486 busy, 603 decline...)")
    parser.add_argument("--echo-media", action="store_true",
                        help="send the caller's audio back (without it no RTP port is opened "
                             "and the SDP names the discard port 9)")
    parser.add_argument("--media-address", metavar="IP",
                        help="address for RTP in our SDP (default: the first --listen host)")
    parser.add_argument("--user", default="responder",
                        help="user part of our Contact (default: responder)")
    add_tls_arguments(parser)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text}: give 0 to 3600 seconds")
    return value


def _reply_code(text: str) -> int:
    if not text.isdigit() or not (int(text) == 200 or 300 <= int(text) <= 699):
        raise argparse.ArgumentTypeError(f"{text!r}: give 200 to answer, or 300-699 to refuse")
    return int(text)


@dataclass(slots=True)
class _Call:
    """What the record line of a call says, gathered while it runs."""

    incoming: IncomingCall
    codec: str = "-"
    media: str = "-"
    pending: IDelayedCall | None = None


class Responder:
    """Answers (or refuses) every incoming call; the event handler of a TwistedUserAgent.

    ``reply`` 200 answers, 300-699 refuses with that code. ``answer_after`` rings (180)
    first. ``echo`` sends each caller's audio back through ``media``.
    """

    def __init__(self, media: CallMedia, *, reply: int = 200, answer_after: float = 0.0,
                 echo: bool = False, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        self.media = media
        self.reply = reply
        self.answer_after = answer_after
        self.echo = echo
        self.reactor = reactor
        self.agent: TwistedUserAgent | None = None
        self.calls: dict[CallRef, _Call] = {}
        self.ended = 0

    def __call__(self, event: object) -> None:
        """One event of the user agent."""
        kind = type(event)
        if kind is IncomingCall:
            assert isinstance(event, IncomingCall)
            self._incoming(event)
        elif kind is CallAnswered:
            assert isinstance(event, CallAnswered)
            self._answered(event)
        elif kind is CallEnded:
            assert isinstance(event, CallEnded)
            self._ended(event)
        elif kind is CallUpdated:
            assert isinstance(event, CallUpdated)
            call = self.calls.get(event.call)
            started = self.media.describe(event.negotiated)
            if call is not None and started is not None:
                call.codec, call.media = started.codec, started.security
        elif kind is OptionsReceived:
            assert isinstance(event, OptionsReceived)
            log.debug("OPTIONS answered", call_id=event.request.call_id)

    def _incoming(self, event: IncomingCall) -> None:
        agent = self.agent
        assert agent is not None
        call = self.calls[event.call] = _Call(event)
        if self.answer_after > 0:
            agent.ringing(event.call)
            call.pending = self.reactor.callLater(self.answer_after, self._decide, event.call)
        else:
            self._decide(event.call)

    def _decide(self, ref: CallRef) -> None:
        agent = self.agent
        call = self.calls.get(ref)
        if agent is None or call is None:
            return
        call.pending = None
        if self.reply == 200:
            agent.answer(ref)
        else:
            agent.reject(ref, self.reply)

    def _answered(self, event: CallAnswered) -> None:
        call = self.calls.get(event.call)
        if call is None:
            return
        if self.echo:
            started = self.media.start(event.call.call_id, event.negotiated, self._audio)
        else:
            started = self.media.describe(event.negotiated)
        if started is not None:
            call.codec, call.media = started.codec, started.security

    @staticmethod
    def _audio(sample_rate: int) -> tuple[EchoAudio, EchoAudio]:
        echo = EchoAudio(sample_rate)
        return echo, echo

    def _ended(self, event: CallEnded) -> None:
        self.ended += 1
        call = self.calls.pop(event.call, None)
        self.media.stop(event.call.call_id)
        if call is not None and call.pending is not None and call.pending.active():
            call.pending.cancel()
        source = call.incoming.source if call is not None else None
        log.info(
            "call ended",
            call_id=event.call.call_id,
            **{"from": str(event.caller.uri), "to": str(event.callee.uri)},
            outcome=event.reason.value,
            status=event.status_code,
            duration=round(event.duration, 3),
            codec=call.codec if call is not None else "-",
            media=call.media if call is not None else "-",
            transport=str(source) if source is not None else "-",
        )

    def hang_up_all(self) -> None:
        """End every call in progress now (we are stopping): each writes its record at once.

        Answered calls get BYE, even those whose ACK has not come yet; calls not answered yet
        get 503 (:meth:`TwistedUserAgent.shutdown`). Their records say ``outcome=shutdown``.
        """
        for call in self.calls.values():
            if call.pending is not None and call.pending.active():
                call.pending.cancel()
        if self.agent is not None:
            self.agent.shutdown()


def run(args: argparse.Namespace) -> int:
    """Run the responder until interrupted; the exit status."""
    from twisted.internet import reactor  # noqa: PLC0415

    from sipperc.cli import ExitCode  # noqa: PLC0415

    try:
        listen = listen_addresses(args.listen or ["udp:127.0.0.1:5070"])
        tls = tls_config(args, needs_identity=any(a.transport == "tls" for a in listen))
        media_host = args.media_address or listen[0].host
        if media_host in ("0.0.0.0", "::"):  # noqa: S104
            raise ToolError("listening on a wildcard address: give --media-address, the "
                            "address callers send RTP to", ExitCode.USAGE)
        media = CallMedia(media_host, rtp=args.echo_media, reactor=reactor)
        responder = Responder(media, reply=args.reply, answer_after=args.answer_after,
                              echo=args.echo_media, reactor=reactor)
        agent = start_agent(listen, media.engine_for, user=args.user, on_event=responder,
                            tls=tls, reactor=reactor)
    except ToolError as error:
        print(f"sipperc responder: {error}", file=sys.stderr)
        return error.exit_code
    responder.agent = agent
    for point in agent.service.listening_points:
        log.info("responder ready", address=str(point.local),
                 contact=point.contact_uri(args.user))

    def shutdown() -> Any:
        responder.hang_up_all()  # every call in progress ends, and writes its record, now
        media.stop_all()
        finished = drain(agent, reactor)  # the BYEs are answered (or retransmitted)
        return finished.addCallback(lambda _: agent.stop())

    settle_garbage_collector()
    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    reactor.run()
    log.info("responder stopped", calls=responder.ended)
    return ExitCode.OK
