"""sipperc servers run as child processes: started, watched through their logs, stopped.

``sipperc demo`` and the process-level tests run the Key Distributor, the Media Distributor and
the SIP focus each as its own ``python -m sipperc ...`` process, as an operator would, with the
log (JSON lines, ``--log-format json``) going to a file. :class:`ServerProcess` starts one, tells
when its log says it is ready, reads its log events, and stops it with SIGTERM (the servers stop
cleanly and exit 0) or SIGKILL (a crash). On Linux every child also gets SIGTERM from the kernel
when the process that started it dies (``PR_SET_PDEATHSIG``), so a parent killed outright
leaves no orphans behind.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


class ServerExitedError(RuntimeError):
    """A server process ended while it was expected to run; the message ends with its log.

    ``status`` is its exit status (None: it never started).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing is bound to right now (TCP or UDP) on 127.0.0.1.

    The kernel picks it; a small race remains until the server binds it, which on a loopback
    test machine is acceptable.
    """
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Ask the kernel for SIGTERM when the parent dies (Linux ``prctl``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the parent's own cleanup is all there is


class ServerProcess:
    """One server process, restartable with the same arguments and log file.

    ``args`` follow the Python interpreter (``["-m", "sipperc", "--log-format", "json",
    "keyserver", "--config", path]``); stdout and stderr are appended to ``log``.
    """

    def __init__(self, name: str, args: Sequence[str], log: Path, *,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.args = list(args)
        self.log = log
        self.env = dict(env or {})
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.log_offset = 0
        """Where the current run's output starts in the log file."""

    def start(self) -> None:
        """Start (again): a fresh process writing to the end of the same log."""
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        env = dict(os.environ, **self.env)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, *self.args], cwd=self.cwd, env=env, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None)  # noqa: PLW1509

    @property
    def pid(self) -> int:
        """The process id of the current run."""
        if self.process is None:
            raise ServerExitedError(f"{self.name} was never started")
        return self.process.pid

    @property
    def running(self) -> bool:
        """Whether the current run is alive."""
        return self.process is not None and self.process.poll() is None

    def check_running(self) -> None:
        """Raise :class:`ServerExitedError`, with the end of the log, if the process ended."""
        if self.process is not None and self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise ServerExitedError(f"{self.name} exited with status {self.process.returncode}:\n"
                                    f"{tail}", self.process.returncode)

    def ready(self, marker: str) -> bool:
        """True once the log of the current run says ``marker``; raises if the process ended."""
        self.check_running()
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

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s (then SIGKILL); the exit status (None: never ran)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


class JsonLogFollower:
    """Reads the events a ``--log-format json`` process appends to its log, as they come.

    Each call to :meth:`new_events` returns the complete lines written since the last call,
    decoded; a line that is not JSON (a traceback printed before logging started) comes back
    as ``{"message": line}``.
    """

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self._offset = offset
        self._partial = b""

    def new_events(self) -> Iterator[dict[str, Any]]:
        """The events logged since the previous call."""
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            yield event if isinstance(event, dict) else {
                "message": line.decode("utf-8", "replace")}


__all__ = ["JsonLogFollower", "ServerExitedError", "ServerProcess", "free_port"]
