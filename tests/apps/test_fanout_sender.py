"""The sender process: datagrams handed over arrive, from the room socket, in order; whatever
it cannot take comes back to the caller; without sendmmsg there is no process."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from sipperc.apps import fanout_sender
from sipperc.apps.fanout_sender import SLOT_SIZE, FanOutSender, sendmmsg_available

pytestmark = pytest.mark.skipif(not sendmmsg_available(), reason="needs Linux sendmmsg(2)")


def _udp(family=socket.AF_INET, host="127.0.0.1"):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    return sock


@pytest.fixture
def room():
    with contextlib.closing(_udp()) as sock:
        sock.setblocking(False)  # as Twisted leaves it
        yield sock


@pytest.fixture
def receivers():
    socks = [_udp() for _ in range(3)]
    for sock in socks:
        sock.settimeout(5)
    yield socks
    for sock in socks:
        sock.close()


@pytest.fixture
def start():
    started = []

    def start(sockets, slots=fanout_sender.DEFAULT_SLOTS):
        sender = FanOutSender.start(sockets, slots)
        assert sender is not None
        started.append(sender)
        return sender

    yield start
    for sender in started:
        sender.close()


def _receive(sock, count):
    return [sock.recvfrom(4096) for _ in range(count)]


def _wait_until_sent(sender, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while sender.sent != count:
        assert time.monotonic() < deadline, f"the sender process sent {sender.sent}, not {count}"
        time.sleep(0.005)


def test_datagrams_arrive_in_order_from_the_room_socket_across_ring_wraps(
        room, receivers, start):
    sender = start({"room": room}, slots=16)
    sent: list[tuple[str, tuple[str, int], bytes]] = []
    for burst in range(10):  # 10 x 12 datagrams through 16 slots: the ring wraps many times
        outputs = [("room", r.getsockname(), f"{burst}/{n}/{i}".encode() * 20)
                   for n in range(4) for i, r in enumerate(receivers)]
        _wait_until_sent(sender, len(sent))
        assert sender.send(outputs, 0) == len(outputs)
        sent += outputs
    for receiver in receivers:
        got = _receive(receiver, 40)
        assert [data for data, _ in got] == [data for _, address, data in sent
                                            if address == receiver.getsockname()]
        assert {source for _, source in got} == {room.getsockname()}
    _wait_until_sent(sender, len(sent))
    assert sender.errors == 0


def test_a_full_ring_hands_the_rest_back(room, receivers, start):
    sender = start({"room": room}, slots=4)
    target = receivers[0].getsockname()
    outputs = [("room", target, bytes([n]) * 100) for n in range(10)]
    taken = sender.send(outputs, 2)
    assert 2 < taken <= 6  # at most the four free slots, from index 2 on
    _wait_until_sent(sender, taken - 2)
    assert [data for data, _ in _receive(receivers[0], taken - 2)] == [
        data for _, _, data in outputs[2:taken]]


def test_events_unknown_ports_and_large_datagrams_stay_with_the_caller(room, receivers, start):
    sender = start({"room": room})
    target = receivers[0].getsockname()
    event = object()
    assert sender.send([("room", target, b"a"), event, ("room", target, b"b")], 0) == 1
    assert sender.send([("other room", target, b"c")], 0) == 0
    assert sender.send([("room", target, bytes(SLOT_SIZE + 1))], 0) == 0
    assert sender.send([("room", target, bytes(SLOT_SIZE))], 0) == 1
    assert [len(data) for data, _ in _receive(receivers[0], 2)] == [1, SLOT_SIZE]


def test_several_sockets_and_ipv6(room, receivers, start):
    try:
        room6 = _udp(socket.AF_INET6, "::1")
        receiver6 = _udp(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    with contextlib.closing(room6), contextlib.closing(receiver6):
        receiver6.settimeout(5)
        sender = start({"v4": room, "v6": room6})
        outputs = [("v4", receivers[0].getsockname(), b"four"),
                   ("v6", receiver6.getsockname(), b"six"),
                   ("v4", receivers[1].getsockname(), b"four again")]
        assert sender.send(outputs, 0) == 3
        assert receivers[0].recvfrom(100) == (b"four", room.getsockname())
        data, source = receiver6.recvfrom(100)
        assert (data, source[:2]) == (b"six", room6.getsockname()[:2])
        assert receivers[1].recvfrom(100) == (b"four again", room.getsockname())


def test_a_dead_process_hands_everything_back(room, receivers, start):
    sender = start({"room": room})
    sender.process.kill()
    sender.process.wait()
    outputs = [("room", receivers[0].getsockname(), b"x")]
    assert sender.send(outputs, 0) == 0  # the pipe is broken
    assert not sender.alive
    assert sender.send(outputs, 0) == 0


def test_the_process_ends_when_closed_and_releases_the_port(room, start):
    sender = start({"room": room})
    address = room.getsockname()
    sender.close()
    assert sender.process.returncode == 0
    room.close()
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as again:
        again.bind(address)  # nobody holds the port any more


def test_without_sendmmsg_there_is_no_process(room, monkeypatch):
    monkeypatch.setattr(fanout_sender, "_load_sendmmsg", lambda: None)
    assert not sendmmsg_available()
    assert FanOutSender.start({"room": room}) is None
