"""The focus interface on Twisted: the Key Distributor listens, the SIP focus connects.

A thin edge around :mod:`sipperc.perc.focus_interface` over mutually authenticated TLS 1.3
(:class:`sipperc.perc.tunnel_tls.MutualTLS`), both sides:

- **Key Distributor**: :func:`listen_for_focus` accepts the call processing's connections; each
  :class:`FocusServerProtocol` applies announcements and withdrawals to the key logic through a
  :class:`FocusHandler` (the Key Distributor application), and tells its focus what became of
  the participants it announced (admitted, refused, left).
- **Focus** (the conference's SIP call processing; tests stand in for it):
  :class:`FocusInterfaceClient` keeps one connection up with reconnect back-off, remembers what
  it announced, and re-announces all of it after every reconnection (the Key Distributor keeps
  announcements in memory only). When a re-announcement comes back with another Key Distributor
  tls-id, the Key Distributor restarted and lost the participant's DTLS association:
  ``on_reannounced`` tells the focus, which re-INVITEs that participant with the new tls-id so
  it runs a new handshake (RFC 8842 §5).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from twisted.application.internet import ClientService
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    wrapClientTLS,
)
from twisted.internet.interfaces import (
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

from sipperc.perc.focus_interface import (
    Accepted,
    FocusInterfaceClosed,
    FocusInterfaceConnection,
    FocusInterfaceServer,
    FocusRole,
    ParticipantStatus,
    Refused,
    VersionRefused,
    Welcome,
    Withdrawn,
)
from sipperc.perc.key_distributor import KeyDistributorAction, ParticipantAnnouncement
from sipperc.perc.tunnel_service import ReconnectBackoff
from sipperc.perc.tunnel_tls import MutualTLS

_log = Logger(namespace="sipperc.perc.focus")

ParticipantKey = tuple[str, str]
"""(room, participant_id): how the focus names a participant."""


# -- the Key Distributor's side -------------------------------------------------------------------


class FocusHandler(Protocol):
    """What the Key Distributor application provides to its focus connections."""

    def focus_server(self) -> FocusInterfaceServer:
        """A fresh :class:`FocusInterfaceServer` over the application's key logic."""

    def focus_now(self) -> float:
        """The current time, for the key logic."""

    def focus_connected(self, protocol: FocusServerProtocol) -> None:
        """A focus connected: it must hear of every participant status from now on."""

    def focus_actions(self, protocol: FocusServerProtocol,
                      actions: list[KeyDistributorAction]) -> None:
        """Carry out what a focus's requests made the key logic decide (e.g. a withdrawal)."""

    def focus_disconnected(self, protocol: FocusServerProtocol) -> None:
        """A focus connection is gone."""


class FocusServerProtocol(TwistedProtocol):
    """One focus connection at the Key Distributor."""

    def __init__(self, handler: FocusHandler) -> None:
        self.handler = handler
        self.server = handler.focus_server()

    def connectionMade(self) -> None:
        """TCP is up (TLS completes before data flows)."""
        self.server.connection_made()
        self.handler.focus_connected(self)

    def dataReceived(self, data: bytes) -> None:
        """The focus's bytes: announcements and withdrawals."""
        actions, closed = self.server.receive_data(data, self.handler.focus_now())
        self.flush()
        if actions:
            self.handler.focus_actions(self, actions)
        if closed is not None:
            log = _log.warn if closed.error else _log.info
            log("focus connection closed: {reason}", reason=closed.reason)
            if self.transport is not None:
                self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """The focus went away."""
        self.handler.focus_disconnected(self)

    def notify(self, actions: list[KeyDistributorAction]) -> None:
        """Tell this focus what became of the participants it announced."""
        self.server.notify(actions)
        self.flush()

    def flush(self) -> None:
        """Write what the connection queued."""
        data = self.server.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


class FocusServerFactory(Factory):
    """One :class:`FocusServerProtocol` per accepted connection."""

    noisy = False

    def __init__(self, handler: FocusHandler) -> None:
        self.handler = handler

    def buildProtocol(self, addr: Any) -> FocusServerProtocol:
        """A focus connection."""
        return FocusServerProtocol(self.handler)


def listen_for_focus(port: int, tls: MutualTLS, handler: FocusHandler, *, interface: str = "",
                     reactor: IReactorTCP | None = None) -> Deferred[IListeningPort]:
    """Accept the call processing's connections on ``interface:port``."""
    if reactor is None:
        reactor = _default_reactor()
    endpoint_type = TCP6ServerEndpoint if ":" in interface else TCP4ServerEndpoint
    endpoint = endpoint_type(reactor, port, interface=interface)
    listening: Deferred[IListeningPort] = endpoint.listen(  # type: ignore[no-untyped-call]
        TLSMemoryBIOFactory(tls, False, FocusServerFactory(handler)))
    return listening


# -- the focus's side ---------------------------------------------------------------------------


AnnouncementAnswer = Accepted | Refused


class _FocusClientProtocol(TwistedProtocol):
    """One connection of the focus to the Key Distributor."""

    def __init__(self, client: FocusInterfaceClient) -> None:
        self.client = client
        self.connection = FocusInterfaceConnection(FocusRole.FOCUS, focus_name=client.focus_name)
        self.requests: dict[int, tuple[str, ParticipantKey]] = {}
        self._opened = False

    def connectionMade(self) -> None:
        """TCP is up: say Hello (TLS sends it once the handshake is done)."""
        self.connection.connection_made()
        self.flush()

    def dataReceived(self, data: bytes) -> None:
        """The Key Distributor's answers."""
        for event in self.connection.receive_data(data):
            if isinstance(event, Welcome):
                self._opened = True
                self.client._welcomed(self, event.instance)
            elif isinstance(event, Accepted | Refused | Withdrawn):
                request = self.requests.pop(event.request_id, None)
                if request is not None:
                    self.client._answered(request[0], request[1], event)
            elif isinstance(event, ParticipantStatus):
                self.client._status(event)
            elif isinstance(event, VersionRefused):
                _log.error("the Key Distributor refused focus interface version; its highest "
                           "is {version}", version=event.highest_version)
            elif isinstance(event, FocusInterfaceClosed):
                log = _log.warn if event.error else _log.info
                log("focus interface closed: {reason}", reason=event.reason)
                if self.transport is not None:
                    self.transport.loseConnection()
        self.flush()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Requests in flight are sent again on the next connection."""
        self.client._lost(self)

    @property
    def open(self) -> bool:
        return self._opened and self.connection.is_open

    def announce(self, announcement: ParticipantAnnouncement) -> None:
        key = (announcement.room, announcement.participant_id)
        self.requests[self.connection.announce(announcement)] = ("announce", key)
        self.flush()

    def withdraw(self, key: ParticipantKey) -> None:
        self.requests[self.connection.withdraw(*key)] = ("withdraw", key)
        self.flush()

    def flush(self) -> None:
        data = self.connection.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


class FocusInterfaceClient(Service):
    """The call processing's connection to one Key Distributor, kept up while running.

    :meth:`announce` returns a Deferred that fires with :class:`Accepted` (what the SDP answer
    needs: the Key Distributor's fingerprint and its tls-id for this endpoint) or
    :class:`Refused`. Announcements made while the connection is down wait for it.
    ``on_status`` hears every :class:`ParticipantStatus`; ``on_reannounced`` hears, after a Key
    Distributor restart, each participant's new :class:`Accepted` (re-INVITE it).
    """

    def __init__(self, endpoint: IStreamClientEndpoint, *, focus_name: str = "sipperc-focus",
                 clock: IReactorTime | None = None, backoff: ReconnectBackoff | None = None,
                 on_status: Callable[[ParticipantStatus], None] | None = None,
                 on_reannounced: Callable[[ParticipantKey, Accepted], None] | None = None,
                 ) -> None:
        self.focus_name = focus_name
        self.on_status = on_status
        self.on_reannounced = on_reannounced
        self.instance: uuid.UUID | None = None
        self.accepted: dict[ParticipantKey, Accepted] = {}
        self._announced: dict[ParticipantKey, ParticipantAnnouncement] = {}
        self._waiting: dict[ParticipantKey, list[Deferred[AnnouncementAnswer]]] = {}
        self._withdrawing: dict[ParticipantKey, list[Deferred[None]]] = {}
        self._protocol: _FocusClientProtocol | None = None
        clock = clock if clock is not None else _default_reactor()
        self._service = ClientService(endpoint, Factory.forProtocol(lambda: _FocusClientProtocol(
            self)), retryPolicy=backoff or ReconnectBackoff(), clock=clock)

    @classmethod
    def to_host(cls, host: str, port: int, tls: MutualTLS, *,
                reactor: IReactorTCP | None = None, **kwargs: Any) -> FocusInterfaceClient:
        """A client connecting over ``tls`` to the Key Distributor at ``host:port``."""
        if reactor is None:
            reactor = _default_reactor()
        endpoint = wrapClientTLS(tls, HostnameEndpoint(reactor, host, port))
        return cls(endpoint, clock=reactor, **kwargs)  # type: ignore[arg-type]

    def startService(self) -> None:
        """Start connecting."""
        super().startService()  # type: ignore[no-untyped-call]
        self._service.startService()

    def stopService(self) -> Deferred[None]:
        """Disconnect and stop reconnecting."""
        super().stopService()  # type: ignore[no-untyped-call]
        return self._service.stopService()

    @property
    def connected(self) -> bool:
        """True while the Key Distributor has welcomed this focus."""
        return self._protocol is not None and self._protocol.open

    def announce(self, announcement: ParticipantAnnouncement) -> Deferred[AnnouncementAnswer]:
        """Expect this participant; fires with the Key Distributor's answer."""
        key = (announcement.room, announcement.participant_id)
        self._announced[key] = announcement
        waiter: Deferred[AnnouncementAnswer] = Deferred()
        self._waiting.setdefault(key, []).append(waiter)
        if self._protocol is not None and self._protocol.open:
            self._protocol.announce(announcement)
        return waiter

    def withdraw(self, room: str, participant_id: str) -> Deferred[None]:
        """Forget this participant (its call ended); fires when the Key Distributor confirms."""
        key = (room, participant_id)
        self._announced.pop(key, None)
        self.accepted.pop(key, None)
        if self._protocol is None or not self._protocol.open:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._withdrawing.setdefault(key, []).append(waiter)
        self._protocol.withdraw(key)
        return waiter

    # -- from the protocol --------------------------------------------------------------------

    def _welcomed(self, protocol: _FocusClientProtocol, instance: uuid.UUID) -> None:
        restarted = self.instance is not None and instance != self.instance
        if restarted:
            _log.info("the Key Distributor restarted; re-announcing {count} participants",
                      count=len(self._announced))
        self.instance = instance
        self._protocol = protocol
        for announcement in list(self._announced.values()):
            protocol.announce(announcement)

    def _answered(self, kind: str, key: ParticipantKey,
                  answer: Accepted | Refused | Withdrawn) -> None:
        if kind == "withdraw":
            for withdrawal in self._withdrawing.pop(key, []):
                withdrawal.callback(None)
            return
        assert not isinstance(answer, Withdrawn)
        if isinstance(answer, Refused):
            self._announced.pop(key, None)
            self.accepted.pop(key, None)
        else:
            previous = self.accepted.get(key)
            self.accepted[key] = answer
            if (previous is not None and self.on_reannounced is not None
                    and previous.key_distributor_tls_id != answer.key_distributor_tls_id):
                self.on_reannounced(key, answer)
        for waiter in self._waiting.pop(key, []):
            waiter.callback(answer)

    def _status(self, status: ParticipantStatus) -> None:
        if self.on_status is not None:
            self.on_status(status)

    def _lost(self, protocol: _FocusClientProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
        for kind, key in protocol.requests.values():
            if kind == "withdraw":
                for withdrawal in self._withdrawing.pop(key, []):
                    withdrawal.callback(None)  # forgotten locally; the KD drops it on its own


def _default_reactor() -> Any:
    from twisted.internet import reactor  # noqa: PLC0415 - installing the reactor is a side effect

    return reactor


__all__ = [
    "AnnouncementAnswer",
    "FocusHandler",
    "FocusInterfaceClient",
    "FocusServerFactory",
    "FocusServerProtocol",
    "ParticipantKey",
    "listen_for_focus",
]
