"""The Twisted edge, on a fake clock: datagrams move, timers fire, events arrive."""

from __future__ import annotations

from twisted.internet.task import Clock

from sipperc.dtls import EKTKey, EKTKeyAcknowledged, EKTKeyReceived, HandshakeComplete
from sipperc.dtls.driver import ConnectionDriver
from sipperc.dtls.events import Event
from tests.dtls.harness import make_pair


def test_handshake_over_a_lossy_link_on_a_fake_clock() -> None:
    clock = Clock()
    client, server = make_pair()
    client_events: list[Event] = []
    server_events: list[Event] = []
    drop_first = {"client": True}
    drivers: dict[str, ConnectionDriver] = {}

    def to_server(datagram: bytes) -> None:
        if drop_first["client"]:  # the first ClientHello is lost: the timer must resend it
            drop_first["client"] = False
            return
        clock.callLater(0.01, drivers["server"].datagram_received, datagram)

    def to_client(datagram: bytes) -> None:
        clock.callLater(0.01, drivers["client"].datagram_received, datagram)

    def on_server_event(event: Event) -> None:
        server_events.append(event)
        if isinstance(event, HandshakeComplete):
            drivers["server"].connection.send_ekt_key(EKTKey(bytes(16), bytes(12), 9, 60),
                                                      clock.seconds())

    drivers["client"] = ConnectionDriver(client, to_server, client_events.append, clock)
    drivers["server"] = ConnectionDriver(server, to_client, on_server_event, clock)
    drivers["client"].start()
    assert clock.getDelayedCalls()  # the retransmission timer is armed
    clock.advance(0.5)
    assert not client.is_connected
    for _ in range(40):
        clock.advance(0.05)
    assert client.is_connected and server.is_connected
    assert next(e for e in client_events if isinstance(e, EKTKeyReceived)).ekt_spi == 9
    assert EKTKeyAcknowledged(9) in server_events
    drivers["client"].send(b"hi")
    drivers["client"].close()
    for _ in range(5):
        clock.advance(0.05)
    assert client.is_closed and server.is_closed
    assert not clock.getDelayedCalls()  # nothing left armed
