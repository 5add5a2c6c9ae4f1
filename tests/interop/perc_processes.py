"""The Key and Media Distributors as real processes, and a search of a process's memory.

Each server runs as ``python -m sipperc --log-format json keyserver|distributor --config ...``
(the Media Distributor through tests/interop/leak_seeding_distributor.py, which is the same
program plus a SIGUSR1 handler that deliberately leaks given bytes into memory and log: the
negative control of the key search). Logs go to files the tests read afterwards.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now (TCP or UDP) on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """One server process, restartable with the same configuration and log file."""

    name: str
    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log_offset: int = 0

    def start(self) -> None:
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        env = dict(os.environ, PYTHONPATH=str(ROOT), **self.env)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, *self.args], cwd=ROOT, env=env,
                                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def ready(self, marker: str) -> bool:
        """True once the log of the current run says ``marker``."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n"
                                 f"{self.log.read_text()[-3000:]}")
        if not self.log.exists():
            return False
        with self.log.open("rb") as log:
            log.seek(self.log_offset)
            return marker.encode() in log.read()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing written on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, then the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def readable_writable_regions(pid: int) -> list[tuple[int, int, str]]:
    """(start, end, name) of the process's readable, writable mappings: where data lives.

    Keys can only be in writable memory (heap, anonymous mappings, stacks, data sections);
    read-only code and files mapped read-only cannot hold what the process received.
    """
    regions = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        span, perms = parts[0], parts[1]
        name = parts[5] if len(parts) > 5 else ""
        if perms[0] != "r" or perms[1] != "w" or name in ("[vvar]", "[vsyscall]"):
            continue
        start, end = (int(x, 16) for x in span.split("-"))
        regions.append((start, end, name))
    return regions


def search_memory(pid: int, needles: dict[str, bytes]) -> tuple[dict[str, str], int]:
    """Which needles occur in the process's writable memory (and where), and bytes searched."""
    found: dict[str, str] = {}
    searched = 0
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
        for start, end, name in readable_writable_regions(pid):
            try:
                memory.seek(start)
                data = memory.read(end - start)
            except OSError:
                continue  # a mapping that went away or cannot be read (guard pages)
            searched += len(data)
            for label, needle in needles.items():
                if label not in found and needle in data:
                    found[label] = f"{name or 'anonymous'} @ {start:#x}"
    return found, searched


def text_forms(secret: bytes) -> list[bytes]:
    """How a secret could appear in a log: hex (either case), base64, Python's repr."""
    return [secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
            base64.urlsafe_b64encode(secret), repr(secret).encode()]


def search_text(path: Path, needles: dict[str, bytes]) -> dict[str, str]:
    """Which needles occur in a log file, raw or in any text form."""
    data = path.read_bytes()
    found = {}
    for label, needle in needles.items():
        for form in [needle, *text_forms(needle)]:
            if form in data:
                found[label] = form.decode("latin-1")[:40]
                break
    return found


def wait_for(predicate, timeout: float, what: str) -> float:
    """Block (outside the reactor) until ``predicate()``; the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start
