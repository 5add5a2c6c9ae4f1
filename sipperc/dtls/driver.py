"""The thin Twisted edge: runs a :class:`DtlsConnection` on a reactor.

The driver does only what the sans-I/O core cannot: it reads the reactor's clock, writes the
datagrams the connection produces through a callable (a UDP transport's ``write``, or the RFC
9185 tunnel for a Key Distributor), arms one ``callLater`` for the connection's timer and hands
events to a callback. Pass ``reactor=twisted.internet.task.Clock()`` in tests.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from sipperc.dtls.connection import DtlsConnection
from sipperc.dtls.events import Event


class ConnectionDriver:
    """Moves datagrams and time between a reactor and one DTLS connection."""

    def __init__(self, connection: DtlsConnection, write: Callable[[bytes], None],
                 on_event: Callable[[Event], None], reactor: IReactorTime | None = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor  # noqa: PLC0415
            reactor = global_reactor
        self.connection = connection
        self._write = write
        self._on_event = on_event
        self._reactor = reactor
        self._call: IDelayedCall | None = None

    def start(self) -> None:
        """Begin: a client sends its ClientHello now."""
        self._service()

    def datagram_received(self, data: bytes) -> None:
        """Feed one DTLS datagram (RFC 7983 demultiplexing is the caller's job)."""
        self.connection.receive_datagram(data, self._reactor.seconds())
        self._service()

    def send(self, data: bytes) -> None:
        """Send application data."""
        self.connection.send(data)
        self._service()

    def close(self) -> None:
        """Send close_notify and stop the timer."""
        self.connection.close()
        self._service()

    def _fire(self) -> None:
        self._call = None
        self.connection.handle_timer(self._reactor.seconds())
        self._service()

    def _service(self) -> None:
        now = self._reactor.seconds()
        for datagram in self.connection.datagrams_to_send(now):
            self._write(datagram)
        while (event := self.connection.next_event()) is not None:
            self._on_event(event)
        # Events may have made the application send (e.g. EKTKey after HandshakeComplete).
        for datagram in self.connection.datagrams_to_send(now):
            self._write(datagram)
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        deadline = self.connection.get_timer()
        if deadline is not None:
            self._call = self._reactor.callLater(max(0.0, deadline - now), self._fire)
