"""The sender process: datagrams handed over arrive, from the room socket, in order; whatever
it took but cannot send comes back to the caller, the rest stays in the iterator; without
sendmmsg there is no process."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from sipperc.apps import fanout_sender
from sipperc.apps.fanout_sender import CHUNK, SLOT_SIZE, FanOutSender, sendmmsg_available

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
        assert sender.send(iter(outputs), len(outputs)) == []
        sent += outputs
    for receiver in receivers:
        got = _receive(receiver, 40)
        assert [data for data, _ in got] == [data for _, address, data in sent
                                            if address == receiver.getsockname()]
        assert {source for _, source in got} == {room.getsockname()}
    _wait_until_sent(sender, len(sent))
    assert sender.errors == 0


def test_it_takes_no_more_than_asked_nor_than_the_ring_holds(room, receivers, start):
    sender = start({"room": room}, slots=4)
    target = receivers[0].getsockname()
    outputs = iter([("room", target, bytes([n]) * 100) for n in range(10)])
    assert sender.send(outputs, 3) == []
    assert next(outputs)[2][0] == 3  # the fourth stays in the iterator
    _wait_until_sent(sender, 3)
    assert sender.send(outputs, 100) == []  # four slots: 4 to 7
    assert next(outputs)[2][0] == 8
    _wait_until_sent(sender, 7)
    assert [data[0] for data, _ in _receive(receivers[0], 7)] == [0, 1, 2, 4, 5, 6, 7]


def test_large_hand_overs_go_in_chunks(room, receivers, start):
    sender = start({"room": room})
    outputs = [("room", r.getsockname(), b"%d" % n) for n in range(3 * CHUNK)
               for r in receivers]
    assert sender.send(iter(outputs), len(outputs)) == []
    _wait_until_sent(sender, len(outputs))
    for receiver in receivers:
        assert len(_receive(receiver, 3 * CHUNK)) == 3 * CHUNK


def test_events_unknown_ports_and_large_datagrams_stay_with_the_caller(room, receivers, start):
    sender = start({"room": room})
    target = receivers[0].getsockname()
    elsewhere = ("other room", target, b"c")
    outputs = iter([("room", target, b"a"), elsewhere, ("room", target, b"b")])
    assert sender.send(outputs, 3) == [elsewhere]
    assert next(outputs)[2] == b"b"
    too_large = ("room", target, bytes(SLOT_SIZE + 1))
    assert sender.send(iter([too_large]), 1) == [too_large]
    assert sender.send(iter([("room", target, bytes(SLOT_SIZE))]), 1) == []
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
        assert sender.send(iter(outputs), 3) == []
        assert receivers[0].recvfrom(100) == (b"four", room.getsockname())
        data, source = receiver6.recvfrom(100)
        assert (data, source[:2]) == (b"six", room6.getsockname()[:2])
        assert receivers[1].recvfrom(100) == (b"four again", room.getsockname())


def test_a_dead_process_hands_everything_back(room, receivers, start):
    sender = start({"room": room})
    sender.process.kill()
    sender.process.wait()
    outputs = [("room", receivers[0].getsockname(), b"x")]
    assert sender.send(iter(outputs), 1) == outputs  # taken, but the pipe is broken
    assert not sender.alive
    assert sender.send(iter(outputs), 1) == []  # nothing taken any more


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
