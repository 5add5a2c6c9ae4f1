"""The Twisted edge of the SIP stack: UDP, TCP and TLS sockets, one timer, the TU hand-off.

:class:`SipService` (one per process) owns the sockets of the listening points of a
:class:`~sipperc.sip.transaction_layer.TransactionLayer` and drives it: bytes in are parsed
(malformed requests answered with the parser's status, RFC 3261 §8.2/§21.4) and fed to the
layer; effects out are sent (``SendMessage``), handed to the TU (see
:mod:`~sipperc.sip.transaction_user`) or to the application's event sink; ONE reactor timer
is armed for the earliest deadline of the layer and the TU.

Stream transports (RFC 3261 §18.3): messages are cut by
:class:`~sipperc.sip.framing.StreamFramer`; connections are reused in both directions, keyed
by the peer's :class:`TransportAddress` (a request that arrived on a connection is answered
on it, a request to an address we have a connection with goes over it); CRLFCRLF pings are
answered with CRLF (RFC 5626 §4.4.1), and sent on the connections we opened when
``keepalive_interval`` is set; idle connections close after ``idle_timeout``. TLS goes
through pyOpenSSL with certificate verification on by default (:class:`TlsConfig`).

Everything takes ``reactor=None`` (the global reactor) so tests can inject their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL
from twisted.application.service import Service
from twisted.internet import ssl
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import (
    IDelayedCall,
    IListeningPort,
    IOpenSSLContextFactory,
    IReactorTCP,
    IReactorUDP,
)
from twisted.internet.protocol import ClientFactory, DatagramProtocol, Protocol
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from sipperc.sip.errors import SipParseError
from sipperc.sip.framing import KeepAlive, StreamFramer, parse_datagram
from sipperc.sip.message import Request, Response, parse_message
from sipperc.sip.transaction_effects import (
    AckReceived,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionTimeout,
    TransportFailure,
)
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transaction_user import TransactionUser
from sipperc.sip.transport import ListeningPoint
from sipperc.sip.transport_address import TransportAddress

__all__ = ["SipService", "TlsConfig"]

_TU_EFFECTS = (
    RequestReceived,
    AckReceived,
    ResponseReceived,
    StrayResponse,
    TransactionTimeout,
    TransportFailure,
    CancelReceived,
)
_MAX_DATAGRAM = 65535


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Certificates and trust for SIP over TLS (RFC 3261 §26.3.1, RFC 5922).

    ``certificate``/``private_key``: PEM files of our identity (the certificate file may hold
    the chain); without them a TLS listening point only names us in Via (we open TLS
    connections but accept none). ``trust``: a PEM file of trusted certificates: CA
    certificates, or a peer's own certificate to pin it; None trusts the platform's CAs.
    ``verify`` checks the server certificate against the next hop's host name (Route or
    Request-URI host, or ``server_name``); turning it off is for lab use only.
    """

    certificate: Path | None = None
    private_key: Path | None = None
    trust: Path | None = None
    verify: bool = True
    server_name: str | None = None

    def server_context(self) -> _ServerContext:
        """Context for accepting TLS connections (TLS 1.2 or newer)."""
        if self.certificate is None or self.private_key is None:
            raise ValueError("a TLS listening point needs TlsConfig(certificate=, private_key=)")
        chain = x509.load_pem_x509_certificates(self.certificate.read_bytes())
        key = serialization.load_pem_private_key(self.private_key.read_bytes(), password=None)
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.use_certificate(chain[0])
        for extra in chain[1:]:
            context.add_extra_chain_cert(extra)
        context.use_privatekey(key)  # type: ignore[arg-type]
        context.check_privatekey()
        return _ServerContext(context)

    def client_creator(self, hostname: str) -> Any:
        """Connection creator for a TLS connection to ``hostname`` (name or IP)."""
        if not self.verify:
            return ssl.CertificateOptions(verify=False)
        trust: Any = None
        if self.trust is not None:
            trust = ssl.trustRootFromCertificates(  # type: ignore[no-untyped-call]
                _load_chain(self.trust)
            )
        return ssl.optionsForClientTLS(self.server_name or hostname, trustRoot=trust)


@implementer(IOpenSSLContextFactory)
class _ServerContext:
    """The server side's OpenSSL context, as TLSMemoryBIOFactory asks for it."""

    def __init__(self, context: SSL.Context) -> None:
        self._context = context

    def getContext(self) -> SSL.Context:
        return self._context


def _load_chain(path: Path) -> list[ssl.Certificate]:
    marker = b"-----END CERTIFICATE-----"
    data = path.read_bytes()
    parts = [p + marker for p in data.split(marker) if b"-----BEGIN CERTIFICATE-----" in p]
    if not parts:
        raise ValueError(f"{path}: no PEM certificate in it")
    return [ssl.Certificate.loadPEM(p) for p in parts]


class SipService(Service):
    """Sockets, the one timer and the TU hand-off for a transaction layer (see module doc).

    ``event_sink`` receives whatever the TU returns that is not a transaction-layer effect
    (the TU's own events). Set the TU with :meth:`set_tu` before starting; without one,
    requests are answered 500 (nothing can handle them) so peers do not retransmit forever.
    """

    log = Logger()

    def __init__(
        self,
        transactions: TransactionLayer,
        listen: Sequence[ListeningPoint],
        *,
        tu: TransactionUser | None = None,
        event_sink: Callable[[object], None] | None = None,
        tls: TlsConfig | None = None,
        idle_timeout: float | None = 600.0,
        keepalive_interval: float | None = None,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        self.reactor = reactor
        self.transactions = transactions
        self.listen = tuple(listen)
        self.tu = tu
        self.event_sink = event_sink
        self.tls = tls
        self.idle_timeout = idle_timeout
        self.keepalive_interval = keepalive_interval
        self._ports: list[IListeningPort] = []
        self._udp: _SipDatagramProtocol | None = None
        self._connections: dict[TransportAddress, _SipStreamProtocol] = {}
        self._pending: dict[TransportAddress, list[SendMessage]] = {}
        self._timer: IDelayedCall | None = None
        self._timer_deadline: float | None = None
        self._stopped = False

    def set_tu(self, tu: TransactionUser) -> None:
        """Plug in the transaction user (built with this service's transaction layer)."""
        self.tu = tu

    @property
    def listening_points(self) -> tuple[ListeningPoint, ...]:
        """The bound listening points (real ports once started)."""
        return self.transactions.transport.listening_points

    # --- lifecycle -----------------------------------------------------------------------------

    def startService(self) -> None:
        """Bind every listening point; record the real (possibly ephemeral) ports."""
        super().startService()  # type: ignore[no-untyped-call]
        self._stopped = False
        reactor = self.reactor
        for point in self.listen:
            local = point.local
            if local.transport == "udp":
                assert IReactorUDP.providedBy(reactor)
                protocol = _SipDatagramProtocol(self)
                port = reactor.listenUDP(
                    local.port, protocol, interface=local.host, maxPacketSize=_MAX_DATAGRAM
                )
                self._udp = protocol
            elif local.transport in ("tcp", "tls"):
                assert IReactorTCP.providedBy(reactor)
                factory: Any = _SipStreamFactory(self, local.transport)
                if local.transport == "tls":
                    if self.tls is None or self.tls.certificate is None:
                        # Client-only TLS: named in our Via, connections opened by us only.
                        self.transactions.transport.add(point)
                        continue
                    factory = TLSMemoryBIOFactory(self.tls.server_context(), False, factory)
                port = reactor.listenTCP(local.port, factory, interface=local.host)
            else:
                raise ValueError(f"no {local.transport} transport in this edge")
            self._ports.append(port)
            host: Any = port.getHost()
            bound = TransportAddress(local.transport, local.host, host.port)
            self.transactions.transport.add(
                ListeningPoint(bound, point.public_host, point.public_port)
            )
            self.log.info("SIP listening on {address}", address=str(bound))

    def stopService(self) -> Any:
        """Close every socket and connection; cancel the timer."""
        super().stopService()  # type: ignore[no-untyped-call]
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        # Done when every port and connection is closed: a connection's timers (idle check,
        # keepalive) end with it, so nothing of ours is left on the reactor.
        closing = []
        for connection in set(self._connections.values()):
            closing.append(connection.closed)
            connection.transport.loseConnection()  # type: ignore[union-attr]
        ports, self._ports = self._ports, []
        closing += [d for p in ports if (d := p.stopListening()) is not None]
        return gatherResults(closing)

    def now(self) -> float:
        """The reactor's clock (seconds)."""
        return float(self.reactor.seconds())

    # --- incoming --------------------------------------------------------------------------

    def receive_bytes(self, data: bytes, source: TransportAddress) -> None:
        """One datagram or framed stream message from ``source``."""
        now = self.now()
        try:
            message = parse_datagram(data) if source.transport == "udp" else parse_message(data)
        except SipParseError as error:
            answer = self.transactions.transport.error_response(error, source)
            self.log.info(
                "malformed SIP from {source}: {error}", source=str(source), error=str(error)
            )
            if answer is not None:
                self._send(answer, now)
            return
        if isinstance(message, KeepAlive):
            return
        try:
            effects = self.transactions.receive(message, source, now)
        except Exception:
            self.log.failure("transaction layer failed on {message!r}", message=message)
            return
        self.process(effects, now)

    # --- effects -------------------------------------------------------------------------------

    def process(self, effects: Iterable[object], now: float | None = None) -> None:
        """Carry out effects: send, hand to the TU, or give to the event sink; re-arm."""
        if now is None:
            now = self.now()
        queue = list(effects)
        queue.reverse()
        while queue:
            effect = queue.pop()
            if type(effect) is SendMessage:
                self._send(effect, now)
            elif isinstance(effect, _TU_EFFECTS):
                try:
                    more = list(self._to_tu(effect, now))
                except Exception:
                    # One failing call must not take the socket or the other calls with it.
                    self.log.failure("transaction user failed on {effect!r}", effect=effect)
                    continue
                queue.extend(reversed(more))
            elif self.event_sink is not None:
                self.event_sink(effect)
        self._arm()

    def _to_tu(self, effect: object, now: float) -> Iterable[object]:
        tu = self.tu
        if tu is not None:
            return tu.handle_effect(effect, now)  # type: ignore[arg-type]
        if isinstance(effect, RequestReceived):  # nobody to answer: say so, once
            response = effect.request.response(500, "No Transaction User")
            return self.transactions.send_response(effect.transaction, response, now)
        return ()

    def _send(self, effect: SendMessage, now: float) -> None:
        destination = effect.destination
        data = bytes(effect.message)
        if destination.transport == "udp":
            if self._udp is None or self._udp.transport is None:
                self._failed(effect, "no UDP socket", now)
                return
            try:
                self._udp.transport.write(data, (destination.host, destination.port))
            except OSError as exc:
                self._failed(effect, f"UDP send failed: {exc}", now)
            return
        connection = self._connections.get(destination)
        if connection is not None:
            connection.send(data)
            return
        pending = self._pending.get(destination)
        if pending is not None:
            pending.append(effect)
            return
        # No connection yet, or the one a request came on is gone (§18.2.2: then try the
        # address it came from).
        self._pending[destination] = [effect]
        self._connect(destination, effect.message)

    def _connect(self, destination: TransportAddress, message: Request | Response) -> None:
        factory: Any = _SipStreamFactory(self, destination.transport, destination)
        if destination.transport == "tls":
            tls = self.tls or TlsConfig()
            hostname = destination.host
            if isinstance(message, Request):
                hostname = _next_hop_host(message) or hostname
            try:
                creator = tls.client_creator(hostname)
            except (ValueError, OSError) as exc:
                self._connection_failed(destination, f"TLS setup failed: {exc}")
                return
            factory = TLSMemoryBIOFactory(creator, True, factory)
        elif destination.transport != "tcp":
            self._connection_failed(destination, f"no {destination.transport} transport")
            return
        self.reactor.connectTCP(destination.host, destination.port, factory, timeout=10)

    def _failed(self, effect: SendMessage, reason: str, now: float) -> None:
        self.log.warn(
            "cannot send to {destination}: {reason}",
            destination=str(effect.destination),
            reason=reason,
        )
        if effect.transaction is not None:
            self.process(self.transactions.transport_failed(effect.transaction, reason, now), now)

    def _connection_failed(self, destination: TransportAddress, reason: str) -> None:
        now = self.now()
        for effect in self._pending.pop(destination, []):
            self._failed(effect, reason, now)

    def _connection_made(self, connection: _SipStreamProtocol) -> None:
        self._connections[connection.peer] = connection
        if connection.target is not None and connection.target != connection.peer:
            self._connections[connection.target] = connection
        for key in (connection.peer, connection.target):
            for effect in self._pending.pop(key, []) if key is not None else []:
                connection.send(bytes(effect.message))
                if connection.unconfirmed is not None:
                    connection.unconfirmed.append(effect)

    def _connection_lost(self, connection: _SipStreamProtocol, reason: str) -> None:
        for key in (connection.peer, connection.target):
            if key is not None and self._connections.get(key) is connection:
                del self._connections[key]
        if connection.target is not None and connection.target in self._pending:
            self._connection_failed(connection.target, reason)
        if connection.unconfirmed:
            # Our connection died before the peer said anything (refused TLS handshake,
            # reset): what we sent on it is lost (RFC 3261 §18.4).
            now = self.now()
            for effect in connection.unconfirmed:
                self._failed(effect, reason, now)

    # --- the one timer -----------------------------------------------------------------------

    def _arm(self) -> None:
        if self._stopped:
            # Stopped: effects still carried out (a connection closing late reports its lost
            # messages) must not leave a delayed call behind in the reactor.
            return
        deadline = self.transactions.get_timer()
        tu = self.tu
        if tu is not None:
            tu_deadline = tu.get_timer()
            if tu_deadline is not None and (deadline is None or tu_deadline < deadline):
                deadline = tu_deadline
        if deadline is None:
            return
        current = self._timer_deadline
        if self._timer is not None and current is not None and current <= deadline:
            return  # an earlier wake-up is armed already; it re-arms after running
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer_deadline = deadline
        self._timer = self.reactor.callLater(max(0.0, deadline - self.now()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_deadline = None
        now = self.now()
        effects: list[object] = list(self.transactions.handle_timer(now))
        if self.tu is not None:
            try:
                effects.extend(self.tu.handle_timer(now))
            except Exception:
                self.log.failure("transaction user timer failed")
        self.process(effects, now)


def _next_hop_host(request: Request) -> str | None:
    """The host TLS must authenticate (RFC 5922 §7.3): top Route, else the Request-URI."""
    uri: Any = request.uri
    if "route" in request:
        route = request.route
        if route:
            uri = route[0].uri
    host = getattr(uri, "host", None)
    return None if host is None else str(host).strip("[]")


class _SipDatagramProtocol(DatagramProtocol):
    """UDP: every datagram is one message or a keepalive (RFC 3261 §18.1.1)."""

    def __init__(self, service: SipService) -> None:
        self.service = service

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.service.receive_bytes(datagram, TransportAddress("udp", addr[0], addr[1]))


class _SipStreamProtocol(Protocol):
    """One TCP or TLS connection, in either direction (RFC 3261 §18.3)."""

    def __init__(
        self, service: SipService, transport_name: str, target: TransportAddress | None
    ) -> None:
        self.service = service
        self.transport_name = transport_name
        self.target = target  # the address we connected to; None for accepted connections
        self.framer = StreamFramer(expect_pongs=target is not None)
        self.peer = target or TransportAddress(transport_name, "0.0.0.0", 0)  # noqa: S104
        self._keepalive: IDelayedCall | None = None
        self._idle: IDelayedCall | None = None
        self.last_activity = 0.0
        # Sent on a connection we opened before the peer said anything: failed if it drops.
        self.unconfirmed: list[SendMessage] | None = [] if target is not None else None
        self.closed: Deferred[None] = Deferred()
        """Fires once the connection is lost (what ``SipService.stopService`` waits for)."""

    def connectionMade(self) -> None:
        peer: Any = self.transport.getPeer()  # type: ignore[union-attr]
        self.peer = TransportAddress(self.transport_name, peer.host, peer.port)
        self.last_activity = self.service.now()
        idle = self.service.idle_timeout
        if idle is not None:
            self._idle = self.service.reactor.callLater(idle, self._check_idle)
        self.service._connection_made(self)
        self._schedule_keepalive()

    def _check_idle(self) -> None:
        """Close the connection once nothing moved for ``idle_timeout`` seconds."""
        idle = self.service.idle_timeout
        assert idle is not None
        quiet = self.service.now() - self.last_activity
        if quiet < idle:
            self._idle = self.service.reactor.callLater(idle - quiet, self._check_idle)
            return
        self._idle = None
        self.service.log.info("closing idle connection {peer}", peer=str(self.peer))
        self.transport.loseConnection()  # type: ignore[union-attr]

    def _schedule_keepalive(self) -> None:
        interval = self.service.keepalive_interval
        if interval is not None and self.target is not None:
            self._keepalive = self.service.reactor.callLater(interval, self._ping)

    def _ping(self) -> None:
        self.transport.write(b"\r\n\r\n")  # type: ignore[union-attr]  # RFC 5626 §4.4.1
        self._schedule_keepalive()

    def send(self, data: bytes) -> None:
        self.last_activity = self.service.now()
        self.transport.write(data)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.last_activity = self.service.now()
        self.unconfirmed = None
        try:
            frames = self.framer.feed(data)
        except SipParseError as error:
            # Framing is lost (RFC 3261 §18.3): nothing after this point can be delimited.
            self.service.log.info(
                "closing {peer}: {error}", peer=str(self.peer), error=str(error)
            )
            self.transport.loseConnection()  # type: ignore[union-attr]
            return
        for frame in frames:
            if isinstance(frame, KeepAlive):
                if frame.ping:
                    self.transport.write(b"\r\n")  # type: ignore[union-attr]
                continue
            self.service.receive_bytes(frame, self.peer)

    def connectionLost(self, reason: Failure | None = None) -> None:
        for call in (self._keepalive, self._idle):
            if call is not None and call.active():
                call.cancel()
        why = "connection lost" if reason is None else str(reason.value)
        self.service._connection_lost(self, why)
        self.closed.callback(None)


class _SipStreamFactory(ClientFactory):
    """Builds connection protocols; reports failed outgoing connections to the service."""

    def __init__(
        self, service: SipService, transport_name: str, target: TransportAddress | None = None
    ) -> None:
        self.service = service
        self.transport_name = transport_name
        self.target = target

    def buildProtocol(self, addr: Any) -> _SipStreamProtocol:
        return _SipStreamProtocol(self.service, self.transport_name, self.target)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if self.target is not None:
            self.service._connection_failed(self.target, str(reason.value))

