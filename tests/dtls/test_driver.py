"""The Twisted edge, on a fake clock: datagrams move, timers fire, events arrive."""

from __future__ import annotations

from twisted.internet import defer, reactor, task
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.trial import unittest

from sipperc.dtls import (
    ApplicationDataReceived,
    EKTKey,
    EKTKeyAcknowledged,
    EKTKeyReceived,
    HandshakeComplete,
    PacketKind,
    classify,
)
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


class _MediaPort(DatagramProtocol):
    """A media port that hands DTLS to the driver and counts everything else (RFC 7983)."""

    def __init__(self) -> None:
        self.driver: ConnectionDriver | None = None
        self.other: list[PacketKind] = []
        self.peer: tuple[str, int] | None = None

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        kind = classify(datagram)
        if kind is PacketKind.DTLS and self.driver is not None:
            self.driver.datagram_received(datagram)
        else:
            self.other.append(kind)

    def write(self, datagram: bytes) -> None:
        assert self.transport is not None and self.peer is not None
        self.transport.write(datagram, self.peer)


class RealUdpTests(unittest.TestCase):
    timeout = 20

    @defer.inlineCallbacks
    def test_handshake_ekt_and_data_over_loopback_udp_with_demux(self):  # type: ignore[no-untyped-def]
        client, server = make_pair()
        ports = {"client": _MediaPort(), "server": _MediaPort()}
        listening = {name: reactor.listenUDP(0, port, interface="127.0.0.1")
                     for name, port in ports.items()}
        for item in listening.values():
            self.addCleanup(item.stopListening)
        ports["client"].peer = ("127.0.0.1", listening["server"].getHost().port)
        ports["server"].peer = ("127.0.0.1", listening["client"].getHost().port)
        client_events: list[Event] = []
        server_events: list[Event] = []

        def on_server_event(event: Event) -> None:
            server_events.append(event)
            if isinstance(event, HandshakeComplete):
                server.send_ekt_key(EKTKey(bytes(16), bytes(12), 3, 60), reactor.seconds())

        ports["client"].driver = ConnectionDriver(client, ports["client"].write,
                                                  client_events.append, reactor)
        ports["server"].driver = ConnectionDriver(server, ports["server"].write,
                                                  on_server_event, reactor)
        # STUN and RTP share the port (RFC 7983); they must not reach DTLS.
        ports["client"].write(b"\x00\x01\x00\x00" + bytes(16))
        ports["client"].write(b"\x80\x60\x00\x01" + bytes(8))
        ports["client"].driver.start()
        deadline = reactor.seconds() + 10
        while not any(isinstance(e, EKTKeyAcknowledged) for e in server_events):
            assert reactor.seconds() < deadline, (client_events, server_events)
            yield task.deferLater(reactor, 0.01, lambda: None)
        assert client.export_srtp_keys() == server.export_srtp_keys()
        ports["server"].driver.send(b"over udp")
        while ApplicationDataReceived(b"over udp") not in client_events:
            assert reactor.seconds() < deadline
            yield task.deferLater(reactor, 0.01, lambda: None)
        assert ports["server"].other == [PacketKind.STUN, PacketKind.RTP]
        ports["client"].driver.close()
        while not server.is_closed:
            assert reactor.seconds() < deadline
            yield task.deferLater(reactor, 0.01, lambda: None)
