"""``sipperc responder`` and ``sipperc call`` as processes, and SIPp runs against them.

:class:`ResponderProcess` starts the responder on ``127.0.0.1`` port 0, reads the bound
addresses from its JSON log (``responder ready``), collects its call records (``call ended``)
and stops it with SIGTERM, checking it exits 0. :func:`sipp` runs SIPp in the foreground with
a built-in or XML scenario on a free port, with a deadline; :func:`sipperc_call` runs the
call command.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.interop.kamailio import free_port

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).resolve().parent / "sipp"
ENV = {**os.environ, "TERM": "dumb"}


def sipperc_command(*args: str) -> list[str]:
    """The sipperc CLI of this checkout, run with the test's interpreter."""
    return [sys.executable, "-m", "sipperc", "--log-format", "json", *args]


class ResponderProcess:
    """A running ``sipperc responder`` (use as a context manager)."""

    def __init__(self, *options: str, transports: tuple[str, ...] = ("udp", "tcp")) -> None:
        listen = []
        for transport in transports:
            listen += ["--listen", f"{transport}:127.0.0.1:0"]
        self.process = subprocess.Popen(
            sipperc_command("responder", *listen, *options),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        self.addresses: dict[str, int] = {}
        self.records: list[dict[str, object]] = []
        self.lines: list[dict[str, object]] = []
        self._buffer = b""
        self._stopped = False
        deadline = time.monotonic() + 30
        while len(self.addresses) < len(transports):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"responder did not start: {self.lines[-5:]}")
            self.read(0.2)

    def port(self, transport: str = "udp") -> int:
        """Where it listens on ``transport``."""
        return self.addresses[transport]

    def read(self, timeout: float) -> None:
        """Take in whatever the responder logged within ``timeout`` seconds."""
        stream = self.process.stderr
        assert stream is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            end = time.monotonic() + timeout
            while (left := end - time.monotonic()) > 0 and selector.select(left):
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    break
                self._take(chunk)

    def _take(self, chunk: bytes) -> None:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            self.lines.append(line)
            if line.get("message") == "responder ready":
                transport, _, rest = str(line["address"]).partition(":")
                self.addresses[transport] = int(rest.rsplit(":", 1)[1])
            elif line.get("message") == "call ended":
                self.records.append(line)

    def wait_records(self, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
        """The call records, once at least ``count`` came (or the timeout passed)."""
        end = time.monotonic() + timeout
        while len(self.records) < count and time.monotonic() < end:
            self.read(0.1)
        return self.records

    def stop(self) -> int:
        """SIGTERM; the exit status (read everything it logged on the way). Once is enough."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, out = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, out = self.process.communicate()
        self._take(out + b"\n")
        return self.process.returncode

    def __enter__(self) -> ResponderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        code = self.stop()
        if exc[0] is None:
            assert code == 0, f"responder exited {code}: {self.lines[-5:]}"


@dataclass(frozen=True, slots=True)
class SippRun:
    """What a SIPp run ended with."""

    code: int
    output: str

    def counter(self, name: str) -> int:
        """A cumulative counter of SIPp's final screen (``Successful call``...)."""
        for line in self.output.splitlines():
            if line.strip().startswith(name):
                return int(line.split("|")[2].split()[0])
        raise AssertionError(f"no {name!r} in SIPp's output:\n{self.output[-2000:]}")


def sipp(*args: str, timeout: float = 60.0, cwd: Path | None = None) -> SippRun:
    """SIPp in the foreground on 127.0.0.1 (a free port), its exit status and screen."""
    assert SIPP is not None
    command = [SIPP, *args, "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin",
               "-timeout", f"{int(timeout) - 5}s", "-timeout_error"]
    result = subprocess.run(command, capture_output=True, timeout=timeout, env=ENV, check=False,
                            cwd=cwd)
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    return SippRun(result.returncode, output)


class SippServer:
    """SIPp running a scenario in the background, until :meth:`finish`.

    A UAS scenario waiting for calls, or a UAC one the test plays something against while it
    runs (stopping the responder it calls).
    """

    def __init__(self, *args: str, directory: Path) -> None:
        assert SIPP is not None
        self.port = free_port()
        self.process = subprocess.Popen(
            [SIPP, *args, "-i", "127.0.0.1", "-p", str(self.port), "-nostdin",
             "-timeout", "25s", "-timeout_error"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV, cwd=directory)
        time.sleep(0.3)  # SIPp binds within a few ms; a call before that would be refused

    def finish(self, timeout: float = 30.0) -> SippRun:
        """Wait for SIPp to end its scenario (``-m``); stop it if it does not."""
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return SippRun(self.process.returncode, out.decode(errors="replace"))

    def __enter__(self) -> SippServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@dataclass(frozen=True, slots=True)
class CallRun:
    """What ``sipperc call`` printed and returned."""

    code: int
    progress: list[str]
    log: str


def sipperc_call(uri: str, *options: str, timeout: float = 60.0) -> CallRun:
    """``sipperc call URI OPTIONS`` to the end."""
    result = subprocess.run(sipperc_command("call", uri, *options), capture_output=True,
                            timeout=timeout, env=ENV, check=False)
    return CallRun(result.returncode, result.stdout.decode().splitlines(),
                   result.stderr.decode(errors="replace"))
