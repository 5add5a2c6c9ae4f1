"""What the sipperc servers share: listening addresses in their configuration, and running.

:func:`run_service` runs a server's Twisted service until SIGINT or SIGTERM: it starts the
service when the reactor runs, waits for it to be ready (its ports bound), stops it cleanly at
shutdown, and turns a failure to start into an exit status the operator can act on (a port in
use, an unreadable state file) instead of a traceback.
"""

from __future__ import annotations

import gc
import ipaddress
import sys
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python.failure import Failure

from sipperc.config import ConfigError, ConfigNode

_log = Logger(namespace="sipperc.apps")


@dataclass(frozen=True, slots=True)
class SocketAddress:
    """A host (IP literal or name) and port: where a server listens or what it connects to."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def load_socket_address(node: ConfigNode, *, listening: bool,
                        default_host: str = "") -> SocketAddress:
    """A ``{host, port}`` mapping; a listening address takes port 0 (any free port) too.

    A listening host must be an IP literal (or empty for every interface), since binding a
    name is ambiguous; a destination may be a name.
    """
    node.entries({"host", "port"})
    host = node.get_str("host", default_host) if listening else node.get_str("host")
    if listening and host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise node.require("host").error(f"{host!r} is not an IP address; a server "
                                             f"listens on an address (or '' for all)") from None
    elif not listening and not host:
        raise node.require("host").error("a host is needed")
    port = node.get_int("port", minimum=0 if listening else 1, maximum=65535)
    return SocketAddress(host, port)


class Readiness:
    """Whether a starting service is ready, told to any number of waiters."""

    def __init__(self) -> None:
        self._outcome: Failure | bool | None = None  # None: still starting
        self._waiters: list[Deferred[None]] = []

    def watch(self, starting: Deferred[Any]) -> None:
        """Ready when ``starting`` fires; failed (with its failure) when it fails."""
        starting.addCallbacks(lambda _: self._settle(True), self._settle)

    def fail(self, failure: Failure) -> None:
        """The service cannot start."""
        self._settle(failure)

    def wait(self) -> Deferred[None]:
        """Fires when ready; fails with the reason the service cannot start."""
        waiter: Deferred[None] = Deferred()
        if self._outcome is None:
            self._waiters.append(waiter)
        elif isinstance(self._outcome, Failure):
            waiter.errback(self._outcome)
        else:
            waiter.callback(None)
        return waiter

    def _settle(self, outcome: Failure | bool) -> None:
        if self._outcome is not None:
            return
        self._outcome = outcome
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if isinstance(outcome, Failure):
                waiter.errback(outcome)
            else:
                waiter.callback(None)


class ReadyService(Protocol):
    """A service that can say when it is ready (its ports are bound), or why it is not."""

    running: bool | int

    def startService(self) -> None:
        """Start serving (binding ports may complete later)."""

    def stopService(self) -> Deferred[Any] | None:
        """Stop serving."""

    def when_ready(self) -> Deferred[None]:
        """Fires when the service serves; fails with the reason it cannot."""


def run_service(service: ReadyService, name: str, reactor: Any = None) -> int:
    """Run ``service`` until the process is told to stop; the exit status (sysexits)."""
    from sipperc.cli import ExitCode  # noqa: PLC0415 - the CLI imports this module lazily

    if reactor is None:
        from twisted.internet import reactor as global_reactor  # noqa: PLC0415

        reactor = global_reactor
    status = [int(ExitCode.OK)]

    def failed(failure: Failure) -> None:
        error = failure.value
        if isinstance(error, CannotListenError):
            status[0] = ExitCode.UNAVAILABLE
            print(f"sipperc {name}: cannot listen on {error.interface or '*'}:{error.port}: "
                  f"{error.socketError}", file=sys.stderr)
        elif isinstance(error, ConfigError):
            status[0] = ExitCode.CONFIG
            print(f"sipperc {name}: {error}", file=sys.stderr)
        else:
            status[0] = ExitCode.SOFTWARE
            _log.failure("{name} failed to start", failure, name=name)
        reactor.stop()

    def start() -> None:
        service.startService()
        service.when_ready().addErrback(failed)

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", _stop, service)
    reactor.run()
    return status[0]


GC_YOUNG_THRESHOLD = 10_000
"""Allocations between young-generation collections once serving (CPython's default: 700)."""


def settle_garbage_collector() -> None:
    """Tune the cyclic garbage collector for a server that has finished starting.

    Everything alive now (modules, Twisted, codecs, the parsed configuration) lives as long
    as the process: :func:`gc.freeze` takes it out of every future collection, which would
    otherwise walk it again and again. Per-request objects (SIP messages, transactions) die
    young and mostly without cycles, so the young generation is collected less often.
    Measured on ``sipperc responder`` under SIPp: the collector took about a fifth of the CPU
    time per call before, and next to nothing after.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _stop(service: ReadyService) -> Deferred[Any] | None:
    if service.running:
        return service.stopService()
    return None


__all__ = [
    "Readiness",
    "ReadyService",
    "SocketAddress",
    "load_socket_address",
    "run_service",
    "settle_garbage_collector",
]
