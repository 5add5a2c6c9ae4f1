"""What ``sipperc responder`` and ``sipperc call`` share: listening options and the SIP stack.

Both tools run one :class:`~sipperc.sip.twisted_user_agent.TwistedUserAgent` (the whole SIP
stack of :mod:`sipperc.sip`) on the sockets their ``--listen`` options name, with the SDP
engines and RTP of :class:`~sipperc.apps.call_media.CallMedia`. This module turns the command
line into those objects and says clearly what is wrong when it cannot (a malformed address, a
TLS listener without a certificate, a port in use).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError

from sipperc.sip.invite_session import InviteSessionConfig
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.twisted_transport import TlsConfig
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.uri import SipUri
from sipperc.sip.user_agent import ChallengeAnswerer, UserAgentConfig

__all__ = [
    "DRAIN_SECONDS",
    "ToolError",
    "add_tls_arguments",
    "drain",
    "listen_addresses",
    "start_agent",
    "tls_config",
]

DRAIN_SECONDS = 2.0
"""How long a stopping tool waits for the answers to its last BYEs: their first send and two
retransmissions (at T1 and 3*T1, RFC 3261 §17.1.2.2), and no longer than an operator waits."""


class ToolError(Exception):
    """A tool cannot start: ``exit_code`` says why (an ``ExitCode``), the message what to do."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def listen_addresses(texts: Sequence[str]) -> list[TransportAddress]:
    """``--listen`` values (``udp:127.0.0.1:5070``...): one address per transport."""
    from sipperc.cli import ExitCode  # noqa: PLC0415 - the CLI imports this module lazily

    addresses: list[TransportAddress] = []
    for text in texts:
        try:
            address = TransportAddress.parse(text)
        except ValueError as error:
            raise ToolError(f"--listen {error}", ExitCode.USAGE) from None
        if address.transport not in ("udp", "tcp", "tls"):
            raise ToolError(f"--listen {text}: sipperc listens on udp, tcp or tls",
                            ExitCode.USAGE)
        if any(a.transport == address.transport for a in addresses):
            raise ToolError(f"--listen {text}: one listening address per transport",
                            ExitCode.USAGE)
        addresses.append(address)
    return addresses


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """``--certificate``, ``--private-key``, ``--trust``, ``--no-verify``."""
    group = parser.add_argument_group("TLS (RFC 3261 §26.3.1)")
    group.add_argument("--certificate", type=Path, metavar="PEM",
                       help="our certificate (chain) for a tls: listener")
    group.add_argument("--private-key", type=Path, metavar="PEM",
                       help="the private key of --certificate")
    group.add_argument("--trust", type=Path, metavar="PEM",
                       help="CA certificates (or a peer's own certificate) to trust instead of "
                            "the platform's")
    group.add_argument("--no-verify", action="store_true",
                       help="do not check the server certificate (lab use only)")


def tls_config(args: argparse.Namespace, needs_identity: bool) -> TlsConfig | None:
    """The TLS settings of the command line; None when no TLS option and no TLS listener."""
    from sipperc.cli import ExitCode  # noqa: PLC0415

    certificate, key = args.certificate, args.private_key
    if (certificate is None) != (key is None):
        raise ToolError("--certificate and --private-key go together", ExitCode.USAGE)
    if needs_identity and certificate is None:
        raise ToolError("a tls: listener needs --certificate and --private-key (create them "
                        "with 'sipperc identity')", ExitCode.USAGE)
    for path in (certificate, key, args.trust):
        if path is not None and not path.is_file():
            raise ToolError(f"{path}: no such file", ExitCode.USAGE)
    if certificate is None and args.trust is None and not args.no_verify and not needs_identity:
        return None
    return TlsConfig(certificate=certificate, private_key=key, trust=args.trust,
                     verify=not args.no_verify)


def start_agent(
    listen: Sequence[TransportAddress],
    offer_answer: Callable[[Any], Any],
    *,
    user: str,
    on_event: Callable[[object], None],
    tls: TlsConfig | None = None,
    session: InviteSessionConfig | None = None,
    authenticator: ChallengeAnswerer | None = None,
    outbound_proxy: SipUri | None = None,
    failover_after: float | None = None,
    locate: Callable[[SipUri], Sequence[TransportAddress]] | None = None,
    reactor: Any = None,
) -> TwistedUserAgent:
    """The SIP stack listening on ``listen``, started; ToolError when a socket cannot bind.

    ``outbound_proxy``, ``failover_after``: see ``UserAgentConfig``; ``locate``: where
    requests go (RFC 3263 targets, e.g. ``LocatedServers``), by default numeric hosts only.
    """
    from sipperc.cli import ExitCode  # noqa: PLC0415

    config = UserAgentConfig(user=user, session=session or InviteSessionConfig(),
                             outbound_proxy=outbound_proxy, failover_after=failover_after)
    try:
        return TwistedUserAgent.listen(list(listen), offer_answer, config, on_event=on_event,
                                       tls=tls, authenticator=authenticator, locate=locate,
                                       reactor=reactor)
    except CannotListenError as error:
        where = f"{error.interface or '*'}:{error.port}"
        raise ToolError(f"cannot listen on {where}: {error.socketError}",
                        ExitCode.UNAVAILABLE) from None
    except (ValueError, OSError) as error:  # an unreadable certificate, a bad key...
        raise ToolError(str(error), ExitCode.CONFIG) from None


def drain(agent: TwistedUserAgent, reactor: Any, limit: float = DRAIN_SECONDS) -> Deferred[None]:
    """Fires once no call of ``agent`` is still ending on the wire, or after ``limit`` seconds.

    A tool that ended its calls (:meth:`TwistedUserAgent.shutdown`) waits for this before
    closing its sockets: a BYE lost on the way is sent again meanwhile, and the peer learns the
    call is over instead of keeping it up until its own timers give up.
    """
    done: Deferred[None] = Deferred()
    deadline = float(reactor.seconds()) + limit

    def check() -> None:
        if not agent.ua.ending or reactor.seconds() >= deadline:
            done.callback(None)
        else:
            reactor.callLater(0.05, check)

    check()
    return done
