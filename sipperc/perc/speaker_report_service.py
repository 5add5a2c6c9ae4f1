"""Talking reports on Twisted: the focus listens, each Media Distributor connects.

A thin edge around :mod:`sipperc.perc.speaker_report` over mutually authenticated TLS 1.3
(:class:`sipperc.perc.tunnel_tls.MutualTLS`, as the focus interface and the tunnel):

- **Media Distributor**: :class:`SpeakerReportClient` keeps one connection up with reconnect
  back-off, remembers who is talking, and sends that state after every (re)connection, then
  each change (:meth:`SpeakerReportClient.report`).
- **Focus**: :func:`listen_for_speaker_reports` calls ``on_talking(room, tls_id, talking)``
  for each report, and ``talking=False`` for everyone a connection had reported talking when
  it drops (nobody is left flagged by a Media Distributor that went away).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.internet import ClientService
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    wrapClientTLS,
)
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IStreamClientEndpoint
from twisted.internet.protocol import Factory, connectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from sipperc.perc.speaker_report import (
    SpeakerHello,
    SpeakerReportError,
    SpeakerReportReceiver,
    Talking,
    encode_speaker_message,
)
from sipperc.perc.tunnel_service import ReconnectBackoff
from sipperc.perc.tunnel_tls import MutualTLS

_log = Logger(namespace="sipperc.perc.speakers")

TalkingHandler = Callable[[str, bytes, bool], None]
"""``on_talking(room, tls_id, talking)``."""


# -- the Media Distributor's side ------------------------------------------------------------


class _ReportClientProtocol(TwistedProtocol):
    def __init__(self, client: SpeakerReportClient) -> None:
        self.client = client

    def connectionMade(self) -> None:
        """Hello and who is talking now (TLS sends them once its handshake is done)."""
        self.client._connected(self)

    def dataReceived(self, data: bytes) -> None:
        """The focus sends nothing: anything is a protocol error."""
        _log.warn("unexpected bytes from the focus on the talking reports: closing")
        if self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Reconnect (the ClientService does); the state is sent again then."""
        self.client._lost(self)


class SpeakerReportClient(Service):
    """The Media Distributor's connection to the focus for talking reports."""

    def __init__(self, endpoint: IStreamClientEndpoint, *,
                 distributor_name: str = "sipperc-distributor", clock: Any = None,
                 backoff: ReconnectBackoff | None = None) -> None:
        self.distributor_name = distributor_name
        self.talking: set[tuple[str, bytes]] = set()
        self._protocol: _ReportClientProtocol | None = None
        self._service = ClientService(endpoint, Factory.forProtocol(
            lambda: _ReportClientProtocol(self)), retryPolicy=backoff or ReconnectBackoff(),
            clock=clock)

    @classmethod
    def to_host(cls, host: str, port: int, tls: MutualTLS, *,
                reactor: IReactorTCP | None = None, **kwargs: Any) -> SpeakerReportClient:
        """A client connecting over ``tls`` to the focus at ``host:port``."""
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415

            reactor = global_reactor
        endpoint = wrapClientTLS(tls, HostnameEndpoint(reactor, host, port))
        return cls(endpoint, clock=reactor, **kwargs)

    @property
    def connected(self) -> bool:
        """True while a connection to the focus is up."""
        return self._protocol is not None

    def startService(self) -> None:
        """Start connecting."""
        super().startService()  # type: ignore[no-untyped-call]
        self._service.startService()

    def stopService(self) -> Deferred[None]:
        """Disconnect and stop reconnecting."""
        super().stopService()  # type: ignore[no-untyped-call]
        stopped: Deferred[None] = self._service.stopService()
        return stopped

    def report(self, room: str, tls_id: bytes, talking: bool) -> None:
        """The endpoint with this tls-id started or stopped talking."""
        key = (room, tls_id)
        if talking == (key in self.talking):
            return
        if talking:
            self.talking.add(key)
        else:
            self.talking.discard(key)
        self._send(Talking(room, tls_id, talking))

    def _send(self, message: SpeakerHello | Talking) -> None:
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.write(encode_speaker_message(message))

    def _connected(self, protocol: _ReportClientProtocol) -> None:
        self._protocol = protocol
        _log.info("talking reports to the focus connected")
        self._send(SpeakerHello(distributor_name=self.distributor_name))
        for room, tls_id in sorted(self.talking):
            self._send(Talking(room, tls_id, True))

    def _lost(self, protocol: _ReportClientProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None


# -- the focus's side ------------------------------------------------------------------------


class _ReportServerProtocol(TwistedProtocol):
    def __init__(self, on_talking: TalkingHandler) -> None:
        self.on_talking = on_talking
        self.receiver = SpeakerReportReceiver()

    def dataReceived(self, data: bytes) -> None:
        """Reports from a Media Distributor."""
        try:
            reports = self.receiver.receive_data(data)
        except SpeakerReportError as error:
            _log.warn("talking reports closed: {error}", error=str(error))
            if self.transport is not None:
                self.transport.loseConnection()
            return
        for report in reports:
            self.on_talking(report.room, report.tls_id, report.talking)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Whoever this Media Distributor reported talking is not known to talk any more."""
        for room, tls_id in sorted(self.receiver.talking):
            self.on_talking(room, tls_id, False)
        self.receiver.talking.clear()


class _ReportServerFactory(Factory):
    noisy = False

    def __init__(self, on_talking: TalkingHandler) -> None:
        self.on_talking = on_talking

    def buildProtocol(self, addr: Any) -> _ReportServerProtocol:
        """One Media Distributor connection."""
        return _ReportServerProtocol(self.on_talking)


def listen_for_speaker_reports(port: int, tls: MutualTLS, on_talking: TalkingHandler, *,
                               interface: str = "", reactor: IReactorTCP | None = None
                               ) -> Deferred[IListeningPort]:
    """Accept Media Distributors' talking reports on ``interface:port``."""
    if reactor is None:
        from twisted.internet import reactor as global_reactor  # noqa: PLC0415

        reactor = global_reactor
    endpoint_type = TCP6ServerEndpoint if ":" in interface else TCP4ServerEndpoint
    endpoint = endpoint_type(reactor, port, interface=interface)
    listening: Deferred[IListeningPort] = endpoint.listen(  # type: ignore[no-untyped-call]
        TLSMemoryBIOFactory(tls, False, _ReportServerFactory(on_talking)))
    return listening


__all__ = ["SpeakerReportClient", "TalkingHandler", "listen_for_speaker_reports"]
