"""Media Distributor throughput and latency, next to a plain UDP relay.

The Media Distributor under test is the real server (``DistributorServer``: its UDP edge, the
``MediaDistributor`` core, ``MediaSwitch``, ``HopByHopSession``) in a child process pinned to
CPU 0, run two ways: ``md2`` as shipped, with its sender process (which sends most of each
large fan-out, see sipperc/apps/fanout_sender.py) pinned to CPU 1, and ``md`` in one process
(``fanout_process: false``). This process, pinned to CPU 1, plays a conference of N participants on
127.0.0.1, each with its own socket: every participant sends 50 double-SRTP packets per second
(20 ms of audio, a 160-byte payload, the RFC 6464 level extension and EKT fields, a Full one
every 100 ms, as sipperc's participants send), three of them speaking (level -10 dBov, voice)
and the rest silent (-127 dBov). With last-N = 3 the Media Distributor authenticates every
packet (outer AES-GCM), forwards the three speakers to the N - 1 others, each copy re-encrypted
under the receiver's own hop-by-hop key: 50 N packets in, 150 (N - 1) out per second.

The keys reach the Media Distributor as its Key Distributor would send them after a restart
(MediaKeys for associations it has no address for); it binds each to the participant whose
first packet authenticates under it, which is its production path. No Key Distributor runs.

The three speakers send at evenly spread instants of each 20 ms period (speaking
participants' packets are not in phase), the others in between.

For each N it reports the forwarded packets per second it sustained, loss (copies that never
arrived), and one-way latency from the kernel's transmit timestamp of the speaker's packet
(SO_TIMESTAMPING) to the kernel's receive timestamp of each copy on the receiving socket
(SO_TIMESTAMPNS), so how busy this process is, or whether it was preempted around a send,
does not count: p50 and p99. The reference row is the same conference through
a plain UDP relay in the same framework (Twisted, one process, one CPU) doing no cryptography
and no switching: the cost of the I/O alone. "Largest conference" is the largest N whose loss
stayed under 0.1 %.

    .venv/bin/python benchmarks/distributor_bench.py [--participants 100,300,500,700]
        [--seconds 4] [--warmup 1] [--rounds 1] [--modes md2,md,relay] [--no-reference]
        [--nice N | --realtime] [--profile N] [--floor N]

With ``--rounds R`` each size runs R times and the round with the lowest p99 is shown (as
benchmarks/srtp_bench.py keeps the best round): other load on a shared machine only ever adds;
the median round's p99 is shown next to it, and the load average before the run in the title.

On two CPUs the sender process shares CPU 1 with this load generator, so ``md2`` is measured
with less than a whole second core; its CPU time counts in us/fwd.

On a machine others are using, their time slices land in the latency measured (a plain relay
then shows a p99 of several ms). ``--nice N`` runs the benchmark in a session of its own at
that nice value, which helps little against busy neighbours; ``--realtime`` runs the servers
and the generator under SCHED_FIFO, which shows what the Media Distributor itself does. The
title line says which, and the load average before the run.

``--floor N`` times the parts of one speaker's fan-out to N - 1 receivers, each alone: the
core's work per copy, a sendto per copy, the sender process per copy; and the time the last
copy leaves, serially and with the sender process (what bounds the latency).

``--profile N`` runs the Media Distributor for N participants under cProfile and prints where
its time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import math
import os
import pstats
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twisted.internet import reactor  # noqa: E402
from twisted.internet.protocol import DatagramProtocol  # noqa: E402

from sipperc.apps.distributor import (  # noqa: E402
    FANOUT_SHARE,
    DistributorConfig,
    DistributorServer,
)
from sipperc.apps.fanout_sender import FanOutSender  # noqa: E402
from sipperc.apps.serving import SocketAddress  # noqa: E402
from sipperc.dtls import Fingerprint, Identity  # noqa: E402
from sipperc.perc.media_distributor import MediaDistributor, RoomConfig  # noqa: E402
from sipperc.perc.switching import SwitchingConfig  # noqa: E402
from sipperc.perc.tunnel_messages import MediaKeys  # noqa: E402
from sipperc.perc.tunnel_tls import MutualTLS, PeerTrust, TLSCredentials  # noqa: E402
from sipperc.rtp import AudioLevel, HeaderExtension, RtpPacket  # noqa: E402
from sipperc.srtp import (  # noqa: E402
    EKTCipher,
    EKTParameterSet,
    EKTSession,
    Profile,
    SrtpSession,
)

DOUBLE_128 = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
RATE = 50
PAYLOAD = 160
SPEAKERS = 3
SSRC_BASE = 0x10000000
SO_TIMESTAMPNS = 35  # Linux <asm-generic/socket.h>; also the control message type
SO_TIMESTAMPING = 37  # ditto; with these flags from <linux/net_tstamp.h>:
TX_SOFTWARE_TIMESTAMPS = (1 << 1) | (1 << 4) | (1 << 11)  # TX_SOFTWARE | SOFTWARE | OPT_TSONLY
MSG_ERRQUEUE = 0x2000
TIMESPEC = struct.Struct("qq")
LATENCY_SAMPLE = 4
"""Latency is read on every 4th receiver (all count arrivals): reading the kernel timestamp
costs this process time it needs to keep up with the largest conferences."""
SENDER_PRIORITY = 5
"""Nice levels the sender process runs above the load generator that shares its CPU (with
--realtime: one SCHED_FIFO priority above it)."""
REALTIME_PRIORITY = 10
TARGETS = {"forwarded": 40_000, "p99_ms": 2.0, "participants": 500}


# -- the child: the server under test ---------------------------------------------------------


def serve(job_path: str) -> None:
    """Run the Media Distributor (or the reference relay) for the job, until SIGTERM."""
    os.sched_setaffinity(0, {0})
    job = json.loads(Path(job_path).read_text())
    helper = 0

    if job["mode"] == "relay":
        speakers = {("127.0.0.1", port) for port in job["speakers"]}
        everyone = [("127.0.0.1", port) for port in job["ports"]]

        class PlainRelay(DatagramProtocol):
            """Forward the speakers' datagrams unchanged to everyone else: no crypto."""

            def startProtocol(self) -> None:
                self.sendto = self.transport.getHandle().sendto

            def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
                if addr in speakers:
                    sendto = self.sendto
                    for other in everyone:
                        if other != addr:
                            sendto(data, other)

        port = reactor.listenUDP(0, PlainRelay(), interface="127.0.0.1", maxPacketSize=9216)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            port.getHandle().setsockopt(socket.SOL_SOCKET, option, 4 * 1024 * 1024)
    else:
        identity = Identity.generate("bench-md")
        tls = MutualTLS(TLSCredentials((identity.certificate,), identity.private_key),
                        PeerTrust(fingerprints=(Fingerprint.of(b"no key distributor"),)))
        room = RoomConfig("bench", SwitchingConfig(last_n=SPEAKERS, silence_timeout=60))
        config = DistributorConfig(SocketAddress("127.0.0.1", job["dead_port"]), tls,
                                   ((SocketAddress("127.0.0.1", 0), room),),
                                   statistics_interval=0, rtcp_interval=5.0,
                                   fanout_process=job["mode"] == "md2")
        server = DistributorServer(config, reactor)
        server.core.binding_trials_per_second = 1e9
        server.core._trial_tokens = 1e9
        server.startService()
        for association, keys in job["keys"].items():
            server.core.tunnel_message(MediaKeys(
                uuid.UUID(association), DOUBLE_128.dtls_id, bytes.fromhex(keys[0]),
                bytes.fromhex(keys[1]), bytes.fromhex(keys[2]), bytes.fromhex(keys[3])),
                reactor.seconds())
        port = server.ports["bench"]
        if server.fanout is not None:
            # The sender process gets the other CPU, which it shares with the load generator;
            # the generator stands for endpoints elsewhere, so it must not delay the sender:
            # it runs 5 nice levels below it (the scheduler then preempts it when the sender
            # wakes).
            os.sched_setaffinity(server.fanout.pid, {1})
            if os.sched_getscheduler(0) == os.SCHED_FIFO:
                os.sched_setscheduler(server.fanout.pid, os.SCHED_FIFO, os.sched_param(
                    os.sched_getparam(0).sched_priority + 1))
            else:
                os.setpriority(os.PRIO_PROCESS, server.fanout.pid, os.getpriority(
                    os.PRIO_PROCESS, 0) - SENDER_PRIORITY)
            helper = server.fanout.pid
    profiler = cProfile.Profile() if job.get("profile") else None

    def stop(signum: int, frame: object) -> None:
        reactor.callFromThread(reactor.stop)

    signal.signal(signal.SIGTERM, stop)
    print(f"PORT {port.getHost().port} {helper}", flush=True)
    if profiler is not None:
        profiler.enable()
    reactor.run(installSignalHandlers=False)
    if profiler is not None:
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(18)
        sys.stdout.flush()


# -- this process: the conference ------------------------------------------------------------------


class Conference:
    """N participant sockets, their pre-made packets, and what arrived."""

    def __init__(self, participants: int, seconds: float) -> None:
        self.n = participants
        self.packets_each = int(RATE * seconds)
        self.sockets = []
        for _ in range(participants):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            if len(self.sockets) % LATENCY_SAMPLE == 0:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sockets.append(sock)
        self.ports = [s.getsockname()[1] for s in self.sockets]
        # The speakers, spread evenly over the send schedule of each period.
        self.speakers = [round(k * participants / SPEAKERS) for k in range(SPEAKERS)]
        self.keys: dict[str, list[str]] = {}
        self.packets: list[list[bytes]] = []
        ekt = EKTParameterSet(os.urandom(16), os.urandom(12), 7, 3600, EKTCipher.AESKW_128)
        for index in range(participants):
            client_key, client_salt = os.urandom(16), os.urandom(12)
            self.keys[str(uuid.uuid4())] = [client_key.hex(), os.urandom(16).hex(),
                                           client_salt.hex(), os.urandom(12).hex()]
            sender = SrtpSession(DOUBLE_128, master_key=os.urandom(16) + client_key,
                                 master_salt=os.urandom(12) + client_salt)
            dummy = SrtpSession(DOUBLE_128, master_key=os.urandom(32), master_salt=os.urandom(24))
            session = EKTSession(sender, dummy)  # type: ignore[arg-type]
            session.install(ekt, 0.0)
            level = (AudioLevel(10, True) if index in self.speakers
                     else AudioLevel(127, False))
            extension = HeaderExtension.from_elements([level.element(1)])
            payload = os.urandom(PAYLOAD)
            self.packets.append([session.protect(bytes(RtpPacket(
                False, 0, seq, seq * 160, SSRC_BASE + index, extension=extension,
                payload=payload)), seq * 0.02) for seq in range(self.packets_each + 1)])
        self.sent = [[0.0] * (self.packets_each + 1) for _ in range(participants)]
        self.latencies: list[float] = []
        self.arrived = 0
        self.arrived_all = 0
        self._poll = select.epoll()
        self._by_fd = {}
        for index, sock in enumerate(self.sockets):
            self._poll.register(sock.fileno(), select.EPOLLIN)
            self._by_fd[sock.fileno()] = (sock, index % LATENCY_SAMPLE == 0)
        self._buffer = bytearray(2048)

    def close(self) -> None:
        self._poll.close()
        for sock in self.sockets:
            sock.close()

    def bind(self, target: tuple[str, int]) -> None:
        """Packet 0 of everyone, spaced out: the Media Distributor learns every address."""
        for index, sock in enumerate(self.sockets):
            sock.sendto(self.packets[index][0], target)
            time.sleep(0.0005)
        self.drain(0.5, record=False)

    def drain(self, seconds: float, *, record: bool = True, window: tuple[int, int] = (0, 0),
              ) -> None:
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            self._receive(self._poll.poll(min(left, 0.01)), record, window)

    def _receive(self, events: list[tuple[int, int]], record: bool,
                 window: tuple[int, int]) -> None:
        sent = self.sent
        first, last = window
        buffer = self._buffer
        for fd, _ in events:
            sock, timed = self._by_fd[fd]
            while True:
                try:
                    if timed:
                        data, control, _, _ = sock.recvmsg(2048, 64)
                    else:
                        sock.recv_into(buffer)
                        data, control = buffer, []
                except BlockingIOError:
                    break
                if not record:
                    continue
                self.arrived_all += 1
                seq = data[2] << 8 | data[3]
                if first <= seq < last:
                    self.arrived += 1
                    for level, kind, value in control:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                            index = int.from_bytes(data[8:12]) - SSRC_BASE
                            seconds, nanoseconds = TIMESPEC.unpack(value)
                            self.latencies.append(seconds + nanoseconds * 1e-9
                                                  - sent[index][seq])

    @staticmethod
    def _sent_at(sock: socket.socket, fallback: float) -> float:
        """The kernel's transmit timestamp of the datagram just sent (SO_TIMESTAMPING).

        On loopback it is queued before sendto returns, so it is the last one queued; where
        there is none, the time read before sendto stands.
        """
        sent_at = fallback
        while True:
            try:
                _, control, _, _ = sock.recvmsg(0, 256, MSG_ERRQUEUE)
            except BlockingIOError:
                return sent_at
            for level, kind, value in control:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
                    seconds, nanoseconds = TIMESPEC.unpack_from(value)
                    sent_at = seconds + nanoseconds * 1e-9

    def run(self, target: tuple[str, int], warmup: float) -> tuple[int, int, float]:
        """Everyone sends at 50 pps, staggered; returns the measured window and its length."""
        schedule = sorted((seq / RATE + index / (RATE * self.n), index, seq)
                          for index in range(self.n) for seq in range(1, self.packets_each + 1))
        first = 1 + int(warmup * RATE)
        last = self.packets_each + 1
        start = time.perf_counter() + 0.05
        sockets, packets, sent = self.sockets, self.packets, self.sent
        speaking = set(self.speakers)
        for index in speaking:
            sockets[index].setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, TX_SOFTWARE_TIMESTAMPS)
        position = 0
        late = 0.0
        total = len(schedule)
        while position < total:
            now = time.perf_counter()
            while position < total and start + schedule[position][0] <= now:
                _, index, seq = schedule[position]
                sent[index][seq] = time.time()  # the kernel timestamps are wall-clock time
                sockets[index].sendto(packets[index][seq], target)
                if index in speaking:
                    sent[index][seq] = self._sent_at(sockets[index], sent[index][seq])
                late = max(late, now - start - schedule[position][0])
                position += 1
            wait = (start + schedule[position][0] - time.perf_counter()) if position < total \
                else 0.0
            self._receive(self._poll.poll(max(0.0, min(wait, 0.002))), True, (first, last))
        self.drain(0.3, window=(first, last))
        return first, last, late


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(participants: int, mode: str, seconds: float, warmup: float,
            profile: bool = False) -> dict[str, float]:
    conference = Conference(participants, warmup + seconds)
    with tempfile.TemporaryDirectory() as directory:
        job = Path(directory) / "job.json"
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        job.write_text(json.dumps({
            "mode": mode, "keys": conference.keys, "ports": conference.ports,
            "speakers": [conference.ports[i] for i in conference.speakers],
            "dead_port": dead.getsockname()[1],
            "profile": profile}))
        dead.close()
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(job)],
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line.startswith("PORT "):
                raise RuntimeError(f"the server did not start: {line!r}")
            target = ("127.0.0.1", int(line.split()[1]))
            servers = [child.pid] + [int(pid) for pid in line.split()[2:] if pid != "0"]
            conference.bind(target)
            before = sum(map(cpu_seconds, servers))
            started = time.perf_counter()
            first, last, late = conference.run(target, warmup)
            elapsed = time.perf_counter() - started
            cpu = sum(map(cpu_seconds, servers)) - before
        finally:
            child.send_signal(signal.SIGTERM)
            output = child.communicate(timeout=30)[0]
            conference.close()
        if profile:
            print(output)
    window = (last - first) / RATE
    expected = SPEAKERS * (participants - 1) * (last - first)
    latencies = sorted(conference.latencies)

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3 \
            if latencies else float("nan")

    return {
        "participants": participants, "in": participants * RATE,
        "forwarded": conference.arrived / window,
        "loss": 1 - conference.arrived / expected if expected else 0.0,
        "p50_ms": percentile(0.50), "p99_ms": percentile(0.99),
        "cpu": cpu / elapsed, "late_ms": late * 1e3,
        "us_per_copy": cpu / max(conference.arrived_all, 1) * 1e6,
    }


def floor(participants: int, rounds: int) -> None:
    """What one speaker's fan-out costs, part by part, without the load generator running.

    The core (decrypt, switch, re-encrypt every copy; no I/O), what a packet nobody is sent
    costs (most packets in a large conference), the kernel's cost of a datagram
    through sendto from Python, and the sender process's per datagram (hand-over to all sent),
    each the best of ``rounds``: the serial fan-out time a receiver may wait for is the
    number of receivers times (core + sendto).
    """
    os.sched_setaffinity(0, {0})
    conference = Conference(participants, 1.0)
    core = MediaDistributor({"bench": RoomConfig("bench", SwitchingConfig(
        last_n=SPEAKERS, silence_timeout=600))}, [DOUBLE_128], now=0.0)
    core.binding_trials_per_second = core._trial_tokens = 1e9
    for association, keys in conference.keys.items():
        core.tunnel_message(MediaKeys(uuid.UUID(association), DOUBLE_128.dtls_id,
                                      *(bytes.fromhex(k) for k in keys)), 0.0)
    addresses = [("127.0.0.1", port) for port in conference.ports]
    for index, address in enumerate(addresses):
        core.datagram_received("bench", address, conference.packets[index][0], 0.0)
    best_core = best_silent = math.inf
    for seq in range(1, conference.packets_each + 1):
        now = seq / RATE
        for index, address in enumerate(addresses):
            started = time.perf_counter()
            outputs = core.datagram_received("bench", address, conference.packets[index][seq],
                                             now)
            spent = time.perf_counter() - started
            if index in conference.speakers:
                best_core = min(best_core, spent / len(outputs))
                fanned = outputs
            else:
                best_silent = min(best_silent, spent)
    copies = [output for output in fanned if type(output) is tuple]
    room = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    room.bind(("127.0.0.1", 0))
    room.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sendto = room.sendto
    best_sendto = math.inf
    for _ in range(rounds):
        conference.drain(0.02, record=False)
        started = time.perf_counter()
        for _, address, data in copies:
            sendto(data, address)
        best_sendto = min(best_sendto, (time.perf_counter() - started) / len(copies))
    room.setblocking(False)
    sender = FanOutSender.start({"room": room})
    best_process = math.nan
    if sender is not None:
        os.sched_setaffinity(sender.pid, {1})
        best_process = math.inf
        batch = [("room", address, data) for _, address, data in copies]
        for _ in range(rounds):
            conference.drain(0.02, record=False)
            done = sender.sent + len(batch)
            started = time.perf_counter()
            assert sender.send(iter(batch), len(batch)) == []
            while sender.sent < done:
                pass
            best_process = min(best_process, (time.perf_counter() - started) / len(batch))
        sender.close()
    room.close()
    conference.close()
    n = len(copies)
    print(f"one speaker's packet to {n} receivers, best of {rounds} (load average "
          f"{os.getloadavg()[0]:.2f}):")
    print(f"  core (outer decrypt, switching, outer encrypt per copy; no I/O): "
          f"{best_core * 1e6:5.2f} us per copy")
    print(f"  a silent participant's packet (outer decrypt, level, switching): "
          f"{best_silent * 1e6:5.2f} us")
    print(f"  sendto from Python (kernel loopback delivery included):        "
          f"{best_sendto * 1e6:5.2f} us per copy")
    print(f"  sender process, sendmmsg on CPU 1 (hand-over to all sent):      "
          f"{best_process * 1e6:5.2f} us per copy")
    print(f"  one process, serial: the last copy leaves {n * (best_core + best_sendto) * 1e3:.2f}"
          f" ms after the packet arrived")
    share = FANOUT_SHARE
    parallel = max(n * best_core + (1 - share) * n * best_sendto, share * n * best_process)
    print(f"  with the sender process taking {share:.0%} as they are encrypted: about "
          f"{parallel * 1e3:.2f} ms (the longer of this process's work and the sender's)")


MODES = {"md2": ("sipperc MD + sender", "sipperc MD with its sender process (2 CPUs)"),
         "md": ("sipperc MD, 1 process", "sipperc MD in one process (1 CPU)"),
         "relay": ("plain UDP relay (ref)", "plain relay")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", default="100,300,500,700",
                        help="conference sizes to run, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs per size; the one with the lowest p99 is shown, and the "
                             "median p99 of all")
    parser.add_argument("--modes", default="md2,md,relay",
                        help="what to run: md2 (the Media Distributor with its sender "
                             "process), md (in one process), relay (the reference)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the plain UDP relay runs")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="profile the Media Distributor with N participants")
    parser.add_argument("--nice", type=int, default=0, metavar="N",
                        help="run everything at this nice value (negative needs root): on a "
                             "machine others are using, -10 keeps their work from adding to "
                             "the latency measured")
    parser.add_argument("--realtime", action="store_true",
                        help="run the servers and this generator under SCHED_FIFO (root): "
                             "what the Media Distributor does when nothing else may "
                             "interrupt it, on a machine others keep busy")
    parser.add_argument("--floor", type=int, metavar="N",
                        help="time the parts of one fan-out to N - 1 receivers, separately")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.nice:
        if os.getsid(0) != os.getpid():
            # Linux shares the CPU between sessions (autogroups) before nice values count:
            # the run gets a session of its own, and that session the nice value.
            sys.exit(subprocess.run([sys.executable, *sys.argv], start_new_session=True,
                                    check=False).returncode)
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(args.nice))
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # the server and its sender inherit it
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    if args.floor:
        floor(args.floor, max(args.rounds, 20))
        return
    os.sched_setaffinity(0, {1})
    if args.profile:
        measure(args.profile, "md", args.seconds, args.warmup, profile=True)
        return
    sizes = [int(n) for n in args.participants.split(",")]
    modes = [m for m in args.modes.split(",") if not (m == "relay" and args.no_reference)]
    if not modes or not set(modes) <= set(MODES):
        parser.error(f"--modes takes some of {', '.join(MODES)}")
    priority = ("SCHED_FIFO" if args.realtime else f"nice {args.nice} (session too)"
                if args.nice else "normal priority")
    print(f"Media Distributor on CPU 0 (its sender process on CPU 1, shared with this load "
          f"generator), last-N={SPEAKERS}, {RATE} pps per participant, {PAYLOAD}-byte payloads,"
          f" {args.seconds:g} s measured after {args.warmup:g} s, "
          f"{priority}; "
          f"load average "
          f"before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'':22}{'N':>5} {'in pkt/s':>9} {'fwd pkt/s':>10} {'loss':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'p99 typ':>7} {'CPU':>5} {'us/fwd':>7} {'gen late':>8}")
    held: dict[str, int] = {}
    cost: dict[str, list[float]] = {}
    for mode in modes:
        label = MODES[mode][0]
        for n in sizes:
            rows = sorted((measure(n, mode, args.seconds, args.warmup)
                           for _ in range(max(1, args.rounds))), key=lambda r: r["p99_ms"])
            row = rows[0]
            typical = rows[len(rows) // 2]["p99_ms"]
            print(f"{label:22}{n:>5} {row['in']:>9,.0f} {row['forwarded']:>10,.0f} "
                  f"{row['loss']:>7.3%} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
                  f"{typical:>7.2f} {row['cpu']:>5.0%} {row['us_per_copy']:>7.2f} "
                  f"{row['late_ms']:>6.1f}ms", flush=True)
            if row["loss"] < 0.001:
                held[mode] = max(held.get(mode, 0), n)
            cost.setdefault(mode, []).append(row["us_per_copy"])
    print("largest conference with < 0.1 % loss (of the sizes run; target >= "
          f"{TARGETS['participants']}): "
          + ", ".join(f"{MODES[mode][1]} {held.get(mode, 0)}" for mode in modes))
    for mode in modes:
        if cost.get(mode):
            best = min(cost[mode])
            print(f"{MODES[mode][1]}: {best:.2f} us of CPU per forwarded packet (input share "
                  f"included): at most {1e6 / best:,.0f} forwarded pkt/s per whole core")
    print(f"targets: >= {TARGETS['forwarded']:,} forwarded pkt/s, p99 < {TARGETS['p99_ms']} ms")
    print("(p99 is the best round's, 'p99 typ' the median round's (of two, the worse); "
          "us/fwd is the server's CPU time, its sender process's included, over the copies "
          "it delivered; 'gen late' is how far this load generator fell behind its schedule: "
          "a late generator understates latency and load, and on a busy machine the server "
          "shares its CPU)")


if __name__ == "__main__":
    main()
