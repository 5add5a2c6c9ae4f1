"""A second process that writes part of a Media Distributor's fan-out with sendmmsg(2).

Why: a speaker's packet becomes one copy per receiver, and on Linux each UDP datagram costs the
kernel about 2.6 µs to send (loopback measured here, delivery included) whether it comes from
sendto(2) or sendmmsg(2). With 500 participants that is 1.3 ms of kernel work alone per
packet on one core, so the last receiver's copy leaves over 2 ms after the first one. The
Media Distributor process therefore keeps every key and does all the cryptography, and hands
most of a large fan-out to this process, in chunks as it encrypts them, which sends them from
the same UDP socket (a duplicate of its file descriptor, so receivers see the same source port)
while the Media Distributor goes on encrypting, then sends the rest itself: the copies leave
in parallel from two cores.

This process never holds a key, end-to-end or hop-by-hop: it only sees datagrams as they go on
the wire (RFC 8871 §3 trust model unchanged).

How the two talk: a shared memory ring (a memfd mapped by both) of ``slots`` fixed-size slots,
each with the datagram's bytes, its length and its destination as a ``sockaddr``; the slots'
``mmsghdr`` and ``iovec`` structures live in the same memory, their pointers written by this
process at start (they are its addresses). The Media Distributor fills slots, then writes one
12-byte record ``(socket index, first slot, count)`` per batch to a pipe; this process sends
each batch with as few sendmmsg calls as the kernel allows and publishes how many slots it has
finished in the ring's header, which is how the Media Distributor knows which slots it may
fill again. A full ring, a datagram too big for a slot, or a dead process never loses a
packet: :meth:`FanOutSender.send` returns what it did not take and the caller sends that with
sendto itself.

Filling a message vector from Python costs about what sendmmsg saves in system calls (measured
with benchmarks/distributor_bench.py's figures: sendto 3.0 µs per datagram, sendmmsg 2.6 µs
plus 0.3 µs to fill a slot), so in one process sendmmsg would gain nothing; it pays here
because the slot is filled on one core and the sending happens on another.

Linux only (memfd, sendmmsg); :func:`sendmmsg_available` says whether this machine has it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

Datagram = tuple[Hashable, Any, bytes]
"""``(port key, address, bytes)``, as the Media Distributor core gives them."""
SLOT_SIZE = 2048
"""Largest datagram that goes through the ring (audio and video RTP stay well below)."""
DEFAULT_SLOTS = 2048
CHUNK = 32
"""Datagrams per notification: the process starts on the first while later ones are made."""
HEADER_SIZE = 64
_RECORD = struct.Struct("<III")
_COUNTERS = struct.Struct("<QQ")
_META = struct.Struct("<Q28s")
"""What the Media Distributor writes per slot: the iovec's length, then the sockaddr."""
_NAME_LENGTH = 28
"""Every slot's address field is a sockaddr_in6's size; an AF_INET socket reads the first 16."""


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class _SlotMeta(ctypes.Structure):
    _fields_ = [("iov", _IoVec), ("address", ctypes.c_char * 32)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.c_void_p), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("header", _MsgHdr), ("length", ctypes.c_uint)]


_META_OFFSET = _SlotMeta.iov.offset + _IoVec.length.offset
"""Where in a slot's metadata the Media Distributor writes (length, then the address)."""
assert _SlotMeta.address.offset == _META_OFFSET + 8


class _Layout:
    """Offsets in the shared memory for ``slots`` slots."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.messages = HEADER_SIZE
        self.metas = self.messages + slots * ctypes.sizeof(_MMsgHdr)
        self.data = self.metas + slots * ctypes.sizeof(_SlotMeta)
        self.size = self.data + slots * SLOT_SIZE


def _load_sendmmsg() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        function = libc.sendmmsg
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def sendmmsg_available() -> bool:
    """True where the sender process can run: Linux with sendmmsg(2) and memfd_create(2)."""
    return hasattr(os, "memfd_create") and _load_sendmmsg() is not None


def socket_address(family: int, address: tuple[Any, ...]) -> bytes:
    """``address`` as the kernel's ``sockaddr_in``/``sockaddr_in6``, padded to 28 bytes."""
    host: str = address[0]
    port: int = address[1]
    if family == socket.AF_INET:
        packed = (struct.pack("=H", socket.AF_INET) + port.to_bytes(2, "big")
                  + socket.inet_pton(socket.AF_INET, host))
    else:
        flowinfo = address[2] if len(address) > 2 else 0
        scope = address[3] if len(address) > 3 else 0
        packed = (struct.pack("=H", socket.AF_INET6) + port.to_bytes(2, "big")
                  + flowinfo.to_bytes(4, "big")
                  + socket.inet_pton(socket.AF_INET6, host) + struct.pack("=I", scope))
    return packed.ljust(_NAME_LENGTH, b"\0")


class FanOutSender:
    """The Media Distributor's handle on its sender process (see the module docstring).

    ``sockets`` maps the edge's port keys to the room sockets; :meth:`send` takes the core's
    datagrams ``(port key, address, bytes)``. Start it with :meth:`start`, which gives None
    where the platform cannot run it.
    """

    MAX_ADDRESSES = 10_000

    def __init__(self, sockets: Mapping[Hashable, socket.socket], slots: int,
                 process: subprocess.Popen[bytes], memory: mmap.mmap, pipe: int) -> None:
        self._sockets = {key: (index, sock.family)
                         for index, (key, sock) in enumerate(sockets.items())}
        self._layout = _Layout(slots)
        self.process = process
        self._memory = memory
        self._pipe = pipe
        self._submitted = 0
        self._next = 0
        self._addresses: dict[tuple[Hashable, Any], bytes] = {}
        self.alive = True

    @classmethod
    def start(cls, sockets: Mapping[Hashable, socket.socket],
              slots: int = DEFAULT_SLOTS) -> FanOutSender | None:
        """Start the process for these sockets; None if this platform has no sendmmsg."""
        if not sockets or not sendmmsg_available():
            return None
        layout = _Layout(slots)
        memory_fd = os.memfd_create("sipperc-fanout")
        read_end, write_end = os.pipe()
        try:
            os.ftruncate(memory_fd, layout.size)
            memory = mmap.mmap(memory_fd, layout.size)
            fds = [s.fileno() for s in sockets.values()]
            process = subprocess.Popen(  # noqa: S603 (our own module, our interpreter)
                [sys.executable, "-m", "sipperc.apps.fanout_sender", str(memory_fd),
                 str(read_end), str(slots), *map(str, fds)],
                pass_fds=(memory_fd, read_end, *fds), stdin=subprocess.DEVNULL)
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(memory_fd)
            os.close(read_end)
        os.set_blocking(write_end, False)
        return cls(sockets, slots, process, memory, write_end)

    @property
    def pid(self) -> int:
        """The sender process's id (to pin it to a CPU, or to watch it)."""
        return self.process.pid

    @property
    def sent(self) -> int:
        """Datagrams the sender process has finished with (sent, or lost to a send error)."""
        return _COUNTERS.unpack_from(self._memory, 0)[0]  # type: ignore[no-any-return]

    @property
    def errors(self) -> int:
        """Datagrams the kernel refused (a full socket buffer): lost, as with sendto."""
        return _COUNTERS.unpack_from(self._memory, 0)[1]  # type: ignore[no-any-return]

    def send(self, datagrams: Iterator[Datagram], limit: int) -> list[Datagram]:
        """Queue up to ``limit`` datagrams from ``datagrams`` for the sender process.

        Every ``CHUNK`` datagrams the process is told, so it starts sending while the
        iterator is still producing (encrypting) the next ones. It stops early at a datagram
        that is not for one of its sockets or is larger than a slot, or when the ring is full,
        and returns what it took from the iterator but did not queue (that datagram; or a
        whole chunk if the process turned out to be gone): the caller sends those, then goes
        on with the rest of the iterator itself.
        """
        if not self.alive or limit <= 0:
            return []
        layout = self._layout
        slots = layout.slots
        limit = min(limit, slots - (self._submitted - self.sent))
        memory = self._memory
        pack_meta = _META.pack_into
        meta_base = layout.metas + _META_OFFSET
        meta_size = ctypes.sizeof(_SlotMeta)
        data_base = layout.data
        sockets = self._sockets
        addresses = self._addresses
        records: list[bytes] = []
        chunk: list[Datagram] = []
        stop: list[Datagram] = []
        position = first = self._next
        current = -1
        for taken, datagram in enumerate(datagrams, 1):
            key, address, data = datagram
            size = len(data)
            found = sockets.get(key)
            if found is None or size > SLOT_SIZE:
                stop.append(datagram)
                break
            index = found[0]
            if index != current or position == slots:
                if position != first:
                    records.append(_RECORD.pack(current, first, position - first))
                if position == slots:
                    position = 0
                first = position
                current = index
            name = addresses.get((key, address))
            if name is None:
                if len(addresses) >= self.MAX_ADDRESSES:
                    addresses.clear()
                name = addresses[(key, address)] = socket_address(found[1], address)
            offset = data_base + position * SLOT_SIZE
            memory[offset:offset + size] = data
            pack_meta(memory, meta_base + position * meta_size, size, name)
            chunk.append(datagram)
            position += 1
            if taken == limit or len(chunk) == CHUNK:
                records.append(_RECORD.pack(current, first, position - first))
                if not self._post(records, position, len(chunk)):
                    return chunk
                records, chunk, first = [], [], position
                if taken == limit:
                    return []
        if chunk:
            records.append(_RECORD.pack(current, first, position - first))
            if not self._post(records, position, len(chunk)):
                return chunk + stop
        return stop

    def _post(self, records: list[bytes], position: int, count: int) -> bool:
        """Tell the process about filled slots; False if it is gone (never again then)."""
        try:
            os.write(self._pipe, b"".join(records))
        except OSError:
            self.alive = False
            return False
        self._next = position % self._layout.slots
        self._submitted += count
        return True

    def close(self, timeout: float = 2.0) -> None:
        """End the process (it exits when the pipe closes) and release the ring."""
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        self.alive = False
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._memory.close()


def serve(memory_fd: int, pipe: int, slots: int, fds: Sequence[int]) -> None:
    """The sender process: send each batch the pipe announces, until the pipe closes."""
    sendmmsg = _load_sendmmsg()
    assert sendmmsg is not None
    layout = _Layout(slots)
    memory = mmap.mmap(memory_fd, layout.size)
    os.close(memory_fd)
    messages = (_MMsgHdr * slots).from_buffer(memory, layout.messages)
    metas = (_SlotMeta * slots).from_buffer(memory, layout.metas)
    data = ctypes.addressof(ctypes.c_char.from_buffer(memory, layout.data))
    for slot in range(slots):
        meta = metas[slot]
        meta.iov.base = data + slot * SLOT_SIZE
        header = messages[slot].header
        header.name = ctypes.addressof(meta) + _SlotMeta.address.offset
        header.namelen = _NAME_LENGTH
        header.iov = ctypes.addressof(meta) + _SlotMeta.iov.offset
        header.iovlen = 1
    base = ctypes.addressof(messages)
    step = ctypes.sizeof(_MMsgHdr)
    done = errors = 0
    pending = b""
    while True:
        try:
            chunk = os.read(pipe, 64 * _RECORD.size)
        except InterruptedError:
            continue
        if not chunk:
            break
        pending += chunk
        whole = len(pending) - len(pending) % _RECORD.size
        for index, first, count in _RECORD.iter_unpack(pending[:whole]):
            fd = fds[index]
            at = base + first * step
            left = count
            while left:
                result = sendmmsg(fd, at, left, 0)
                if result < 0:
                    if ctypes.get_errno() == errno.EINTR:
                        continue
                    result = 1  # this datagram is lost, as a failing sendto's would be
                    errors += 1
                at += result * step
                left -= result
            done += count
            _COUNTERS.pack_into(memory, 0, done, errors)
        pending = pending[whole:]


def main(argv: Sequence[str]) -> int:
    """``python -m sipperc.apps.fanout_sender MEMFD PIPE SLOTS SOCKETFD...`` (internal)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the Media Distributor decides when to stop
    memory_fd, pipe, slots, *fds = (int(value) for value in argv)
    serve(memory_fd, pipe, slots, fds)
    return 0


__all__ = ["FanOutSender", "sendmmsg_available", "socket_address"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
