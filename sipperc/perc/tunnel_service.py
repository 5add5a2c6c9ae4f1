"""The RFC 9185 tunnel on Twisted: the Key Distributor listens, the Media Distributor connects.

A thin edge around :class:`sipperc.perc.tunnel.TunnelConnection`: :class:`TunnelProtocol`
feeds it what TLS delivers, writes what it queues and hands events to a :class:`TunnelHandler`
(the Media or Key Distributor application). Transport security is
:class:`sipperc.perc.tunnel_tls.MutualTLS`.

The Media Distributor's :class:`TunnelClientService` keeps one tunnel to one Key Distributor up:
it reconnects after any loss with exponential back-off (:class:`ReconnectBackoff`), counts a
failed TLS handshake as a failed attempt (so a certificate problem does not turn into a tight
reconnect loop), sends SupportedProfiles first on every connection (RFC 9185 §5.3) and, when
the Key Distributor answers UnsupportedVersion, retries with the version it named if this
implementation speaks it, or stops and says why (§5.5).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.serialization import Encoding
from twisted.application.internet import ClientService
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    wrapClientTLS,
)
from twisted.internet.interfaces import (
    IHandshakeListener,
    IListeningPort,
    IReactorTCP,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, connectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from sipperc.dtls import Fingerprint
from sipperc.perc.tunnel import (
    SUPPORTED_VERSIONS,
    TunnelClosed,
    TunnelConnection,
    TunnelEvent,
    TunnelOpened,
    TunnelRole,
    UnknownMessageIgnored,
)
from sipperc.perc.tunnel_messages import (
    PROTOCOL_VERSION,
    EndpointDisconnect,
    MediaKeys,
    SupportedProfiles,
    TunneledDtls,
    TunnelMessage,
    UnsupportedVersion,
)
from sipperc.perc.tunnel_tls import MutualTLS
from sipperc.srtp import Profile

_log = Logger(namespace="sipperc.perc.tunnel")

RelayedMessage = MediaKeys | TunneledDtls | EndpointDisconnect
"""What a tunnel carries for the application once it is open."""


class TunnelHandler(Protocol):
    """What the Media or Key Distributor application does with its tunnels."""

    def tunnel_opened(self, tunnel: TunnelProtocol) -> None:
        """The tunnel can carry messages (MD: TLS is up; KD: SupportedProfiles accepted)."""

    def tunnel_message(self, tunnel: TunnelProtocol, message: RelayedMessage) -> None:
        """The peer sent a message for an endpoint association."""

    def tunnel_closed(self, tunnel: TunnelProtocol, closed: TunnelClosed) -> None:
        """The tunnel is gone; ``closed.reason`` says why. Called once per connection."""


@implementer(IHandshakeListener)
class TunnelProtocol(TwistedProtocol):
    """One tunnel connection over TLS: moves bytes between the transport and the core."""

    def __init__(self, connection: TunnelConnection, handler: TunnelHandler,
                 on_version_rejected: Callable[[UnsupportedVersion], None] | None = None) -> None:
        self.connection = connection
        self.handler = handler
        self.peer_fingerprint: Fingerprint | None = None
        self._on_version_rejected = on_version_rejected
        self._handshake_waiters: list[Deferred[TunnelProtocol]] = []
        self._handshake_done = False

    # -- Twisted ----------------------------------------------------------------------------------

    def connectionMade(self) -> None:
        """TCP is up; TLS buffers what we write until its handshake completes."""
        self.connection.connection_made()
        self._flush()

    def handshakeCompleted(self) -> None:
        """TLS is up and the peer's certificate passed :class:`MutualTLS`'s checks."""
        self._handshake_done = True
        transport: Any = self.transport
        certificate = transport.getPeerCertificate()
        if certificate is not None:
            self.peer_fingerprint = Fingerprint.of(
                certificate.to_cryptography().public_bytes(Encoding.DER))
        _log.info("tunnel TLS established", role=self.connection.role.value,
                  peer=str(transport.getPeer()),
                  peer_fingerprint=str(self.peer_fingerprint))
        waiters, self._handshake_waiters = self._handshake_waiters, []
        for waiter in waiters:
            waiter.callback(self)
        if self.connection.role is TunnelRole.MEDIA_DISTRIBUTOR:
            self.handler.tunnel_opened(self)

    def dataReceived(self, data: bytes) -> None:
        """Bytes from the TLS stream."""
        self._deliver(self.connection.receive_data(data))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """The connection is gone, cleanly or not."""
        waiters, self._handshake_waiters = self._handshake_waiters, []
        for waiter in waiters:
            waiter.errback(reason)
        self._deliver(self.connection.connection_lost(reason.getErrorMessage()))

    # -- for the application ------------------------------------------------------------------

    def when_handshake_done(self) -> Deferred[TunnelProtocol]:
        """Fires with this protocol when TLS is up; fails if the connection is lost first."""
        if self._handshake_done:
            done: Deferred[TunnelProtocol] = Deferred()
            done.callback(self)
            return done
        waiter: Deferred[TunnelProtocol] = Deferred()
        self._handshake_waiters.append(waiter)
        return waiter

    def send(self, message: TunnelMessage) -> None:
        """Send a message to the peer (TunnelError if this side may not send it now)."""
        self.connection.send(message)
        self._flush()

    def close(self, reason: str) -> None:
        """Close the tunnel from this side."""
        closed = self.connection.close(reason)
        self._deliver([closed] if closed is not None else [])

    # -- internals --------------------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.connection.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    def _deliver(self, events: list[TunnelEvent]) -> None:
        for event in events:
            if isinstance(event, TunnelOpened):
                _log.info("tunnel open", profiles=[p.name for p in event.profiles.profiles],
                          version=event.profiles.version)
                self.handler.tunnel_opened(self)
            elif isinstance(event, TunnelClosed):
                self._flush()
                if self.transport is not None:
                    self.transport.loseConnection()
                if event.error:
                    _log.warn("tunnel closed: {reason}", reason=event.reason)
                else:
                    _log.info("tunnel closed: {reason}", reason=event.reason)
                self.handler.tunnel_closed(self, event)
            elif isinstance(event, UnsupportedVersion):
                if self._on_version_rejected is not None:
                    self._on_version_rejected(event)
            elif isinstance(event, UnknownMessageIgnored):
                _log.info("tunnel message of unassigned type {msg_type} ignored",
                          msg_type=event.msg_type, length=event.length)
            else:
                self.handler.tunnel_message(self, event)
        self._flush()


class TunnelServerFactory(Factory):
    """The Key Distributor's side: one :class:`TunnelProtocol` per accepted connection."""

    noisy = False

    def __init__(self, handler: TunnelHandler,
                 supported_versions: tuple[int, ...] = SUPPORTED_VERSIONS) -> None:
        self.handler = handler
        self.supported_versions = supported_versions

    def buildProtocol(self, addr: Any) -> TunnelProtocol:
        """A Key Distributor tunnel connection."""
        return TunnelProtocol(TunnelConnection.key_distributor(self.supported_versions),
                              self.handler)


def listen_for_tunnels(port: int, tls: MutualTLS, handler: TunnelHandler, *,
                       interface: str = "", reactor: IReactorTCP | None = None,
                       supported_versions: tuple[int, ...] = SUPPORTED_VERSIONS,
                       ) -> Deferred[IListeningPort]:
    """Accept Media Distributors' tunnels on ``interface:port`` (an IPv6 interface works too)."""
    if reactor is None:
        reactor = _default_reactor()
    endpoint_type = TCP6ServerEndpoint if ":" in interface else TCP4ServerEndpoint
    endpoint = endpoint_type(reactor, port, interface=interface)
    listening: Deferred[IListeningPort] = endpoint.listen(  # type: ignore[no-untyped-call]
        TLSMemoryBIOFactory(tls, False, TunnelServerFactory(handler, supported_versions)))
    return listening


@dataclass(frozen=True, slots=True)
class ReconnectBackoff:
    """How long the Media Distributor waits before reconnect attempt N (1-based).

    ``initial * factor**(N-1)`` capped at ``maximum``, plus up to ``jitter`` of itself at
    random so a fleet of Media Distributors does not reconnect in lock-step after a Key
    Distributor restart.
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 10.0
    jitter: float = 0.1
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.maximum < self.initial:
            raise ValueError("back-off needs initial > 0, factor >= 1, maximum >= initial")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction from 0 to 1")

    def __call__(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (ClientService's retry policy)."""
        exponent = min(max(attempt - 1, 0), 64)
        delay = min(self.maximum, self.initial * self.factor ** exponent)
        return delay * (1 + self.jitter * self.random())


class TunnelClientService(Service):
    """The Media Distributor's tunnel to one Key Distributor, kept up while running.

    ``endpoint`` must already speak TLS (:meth:`to_host` builds one from a host, a port and
    :class:`MutualTLS`). ``handler`` sees :meth:`TunnelHandler.tunnel_opened` after every
    (re)connection and :meth:`TunnelHandler.tunnel_closed` after every loss; the Media
    Distributor sends through the protocol it was given, or :meth:`when_connected`.

    Back-off: a failed TCP connection or TLS handshake is a failed attempt. Under TLS 1.3 a
    client learns that the server refused its certificate only after its own handshake is done,
    so a connection that ends before it proved healthy (a message from the Key Distributor, or
    ``healthy_after`` seconds up) also counts, and consecutive ones keep the delay growing.
    """

    def __init__(self, endpoint: IStreamClientEndpoint, profiles: Sequence[Profile],
                 handler: TunnelHandler, *, clock: IReactorTime | None = None,
                 backoff: ReconnectBackoff | None = None, healthy_after: float = 5.0) -> None:
        if not profiles:
            raise ValueError("the Media Distributor must support at least one profile")
        self.profiles = tuple(profiles)
        self.handler = handler
        self.version = PROTOCOL_VERSION
        self.gave_up: str | None = None
        self._clock: IReactorTime = clock if clock is not None else _default_reactor()
        self._backoff = backoff or ReconnectBackoff()
        self._healthy_after = healthy_after
        self._unhealthy_streak = 0
        self._opened_at: float | None = None
        self._proven = False
        factory = Factory.forProtocol(self._build)
        self._service = ClientService(endpoint, factory, retryPolicy=self._retry_delay,
                                      clock=self._clock, prepareConnection=self._prepare)

    @classmethod
    def to_host(cls, host: str, port: int, tls: MutualTLS, profiles: Sequence[Profile],
                handler: TunnelHandler, *, reactor: IReactorTCP | None = None,
                backoff: ReconnectBackoff | None = None) -> TunnelClientService:
        """A service connecting over ``tls`` to ``host:port`` (a name, IPv4 or IPv6 address)."""
        if reactor is None:
            reactor = _default_reactor()
        endpoint = wrapClientTLS(tls, HostnameEndpoint(reactor, host, port))
        return cls(endpoint, profiles, handler, clock=reactor,  # type: ignore[arg-type]
                   backoff=backoff)

    def startService(self) -> None:
        """Start connecting."""
        super().startService()  # type: ignore[no-untyped-call]
        self._service.startService()

    def stopService(self) -> Deferred[None]:
        """Disconnect and stop reconnecting."""
        super().stopService()  # type: ignore[no-untyped-call]
        return self._service.stopService()

    def when_connected(self, fail_after_failures: int | None = None) -> Deferred[Any]:
        """The current :class:`TunnelProtocol`, once one has completed its TLS handshake."""
        return self._service.whenConnected(failAfterFailures=fail_after_failures)

    # -- TunnelHandler, in front of the application's -------------------------------------------

    def tunnel_opened(self, tunnel: TunnelProtocol) -> None:
        """TLS is up: start judging this connection's health, tell the application."""
        self._opened_at = self._clock.seconds()
        self._proven = False
        self.handler.tunnel_opened(tunnel)

    def tunnel_message(self, tunnel: TunnelProtocol, message: RelayedMessage) -> None:
        """A message from the Key Distributor proves the connection healthy."""
        self._proven = True
        self.handler.tunnel_message(tunnel, message)

    def tunnel_closed(self, tunnel: TunnelProtocol, closed: TunnelClosed) -> None:
        """Score the connection that ended, then tell the application."""
        if self._opened_at is not None:
            lasted = self._clock.seconds() - self._opened_at
            if self._proven or lasted >= self._healthy_after:
                self._unhealthy_streak = 0
            else:
                self._unhealthy_streak += 1
            self._opened_at = None
        self.handler.tunnel_closed(tunnel, closed)

    # -- internals --------------------------------------------------------------------------------

    def _retry_delay(self, attempt: int) -> float:
        # Each connection that died young counts as one more failed attempt in a row.
        return self._backoff(attempt + max(self._unhealthy_streak - 1, 0))

    def _build(self) -> TunnelProtocol:
        connection = TunnelConnection.media_distributor(
            SupportedProfiles.of(self.profiles, version=self.version))
        return TunnelProtocol(connection, self, self._version_rejected)

    def _prepare(self, protocol: Any) -> Deferred[TunnelProtocol]:
        return protocol.when_handshake_done()  # type: ignore[no-any-return]

    def _version_rejected(self, rejection: UnsupportedVersion) -> None:
        highest = rejection.highest_version
        if highest in SUPPORTED_VERSIONS and highest != self.version:
            _log.info("Key Distributor speaks tunnel version {version}; reconnecting with it",
                      version=highest)
            self.version = highest
            self._proven = True  # the Key Distributor answered: not a reason to slow down
            return
        self.gave_up = (f"the Key Distributor's highest tunnel version is {highest}; this "
                        f"Media Distributor speaks {', '.join(map(str, SUPPORTED_VERSIONS))}")
        _log.error("tunnel: giving up: {reason}", reason=self.gave_up)
        self.stopService()


def _default_reactor() -> Any:
    from twisted.internet import reactor  # noqa: PLC0415 - installing the reactor is a side effect

    return reactor
