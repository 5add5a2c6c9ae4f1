"""A pjsua2 phone in a child process, driven from the test's reactor.

:class:`Pjsua2Phone` spawns ``tests/interop/pjsua2_phone.py`` (see its docstring for the
config and the JSON-lines protocol) with ``reactor.spawnProcess``, so the test's own SIP user
agents keep running on the same reactor while pjsua2 runs its threads in its own process.
pjsua2's log is written to ``log_path`` for the failure message of a test.

The ``pjsua2`` module comes from the ``pjsua2-python`` wheel (test extra); without it the
:func:`require_pjsua2` check skips, saying so (scripts/setup installs it, so CI never skips).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, reactor
from twisted.internet.protocol import ProcessProtocol

SCRIPT = Path(__file__).with_name("pjsua2_phone.py")
ROOT = Path(__file__).resolve().parents[2]


def require_pjsua2() -> None:
    """Skip the test when the pjsua2 wheel is not installed."""
    if importlib.util.find_spec("pjsua2") is None:
        pytest.skip("pjsua2 is not installed (pip install pjsua2-python; scripts/setup does)")


@dataclass(frozen=True)
class StreamFigures:
    """The audio stream figures of pjsua2's call dump (``pjsua_call_dump``).

    ``rx_*``: what pjsua2 measured on the RTP it received from us. ``tx_reported``: whether
    an RTCP report about its own stream came from us (the dump's TX "last update" is not
    "never"), ``tx_loss`` what our reports said, ``tx_jitter_ms`` the mean and
    ``tx_last_jitter_ms`` the last of the jitter figures they carried, as pjsua2 read them.
    """

    rx_packets: int
    rx_loss: int
    rx_discard: int
    rx_dup: int
    rx_reorder: int
    rx_jitter_ms: float
    tx_reported: bool
    tx_loss: int
    tx_jitter_ms: float
    tx_last_jitter_ms: float
    dump: str

    @classmethod
    def parse(cls, dump: str) -> StreamFigures:
        rx_text, _, tx_text = dump.partition(" TX pt=")
        if not tx_text:
            raise ValueError(f"no RX/TX figures in the call dump:\n{dump}")

        def number(pattern: str, text: str) -> int:
            match = re.search(pattern, text)
            if match is None:
                raise ValueError(f"{pattern!r} not in the call dump:\n{dump}")
            return int(match.group(1))

        def jitter(text: str, column: int) -> float:
            # The row reads: jitter : min avg max last dev (ms)
            match = re.search(r"jitter\s*:((?:\s+[\d.]+){5})", text)
            if match is None:
                raise ValueError(f"no jitter in the call dump:\n{dump}")
            return float(match.group(1).split()[column])

        return cls(
            rx_packets=number(r"total (\d+)pkt", rx_text),
            rx_loss=number(r"pkt loss=(\d+)", rx_text),
            rx_discard=number(r"discrd=(\d+)", rx_text),
            rx_dup=number(r"dup=(\d+)", rx_text),
            rx_reorder=number(r"reord=(\d+)", rx_text),
            rx_jitter_ms=jitter(rx_text, 1),
            tx_reported="last update:never" not in tx_text.split("\n", 1)[0],
            tx_loss=number(r"pkt loss=(\d+)", tx_text),
            tx_jitter_ms=jitter(tx_text, 1),
            tx_last_jitter_ms=jitter(tx_text, 3),
            dump=dump,
        )


class Pjsua2Phone(ProcessProtocol):
    """One pjsua2 child process; ``events`` holds every event it reported, in order."""

    def __init__(self, config: dict[str, Any], log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.events: list[dict[str, Any]] = []
        self.ports: dict[str, int] = {}
        self._buffer = b""
        self._log = log_path.open("wb")
        self._waiters: list[tuple[Any, defer.Deferred[dict[str, Any]]]] = []
        self.ended: defer.Deferred[int] = defer.Deferred()
        self.exit_code: int | None = None

    @classmethod
    def start(cls, config: dict[str, Any], log_path: Path, timeout: float = 10.0
              ) -> defer.Deferred[Pjsua2Phone]:
        """Spawn the phone; fires with it once it listens (``ports`` filled in)."""
        require_pjsua2()
        phone = cls(config, log_path)
        ready = phone.wait("ready", timeout=timeout)
        reactor.spawnProcess(  # type: ignore[attr-defined]
            phone, sys.executable, [sys.executable, str(SCRIPT), json.dumps(config)],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, path=str(ROOT))

        def started(event: dict[str, Any]) -> Pjsua2Phone:
            phone.ports = {name: int(port) for name, port in event["ports"].items()}
            return phone

        return ready.addCallback(started)

    @property
    def log(self) -> str:
        """What pjsua2 logged so far (for assertion messages)."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def uri(self, transport: str = "udp", user: str = "pjsua") -> str:
        """A SIP URI reaching this phone over ``transport``."""
        suffix = "" if transport == "udp" else f";transport={transport}"
        return f"sip:{user}@127.0.0.1:{self.ports[transport]}{suffix}"

    def send(self, command: str, **fields: Any) -> None:
        """A command for the phone (``call``, ``hangup``, ``quit``)."""
        assert self.transport is not None
        self.transport.write((json.dumps({"cmd": command, **fields}) + "\n").encode())

    def call(self, uri: str) -> None:
        self.send("call", uri=uri)

    def statistics(self) -> defer.Deferred[StreamFigures]:
        """pjsua2's figures for the current call's audio stream, from its call dump."""
        self.events = [e for e in self.events if e["event"] != "stats"]
        self.send("stats")
        return self.wait("stats").addCallback(lambda event: StreamFigures.parse(event["dump"]))

    def hangup(self) -> None:
        self.send("hangup")

    def quit(self) -> defer.Deferred[int]:
        """Ask the phone to stop (it finishes its recording first); fires with its exit code."""
        if self.exit_code is None:
            self.send("quit")
        return self.ended

    def kill(self) -> defer.Deferred[int]:
        """End the child if it is still there (test cleanup); fires once it is gone."""
        if self.exit_code is None and self.transport is not None:
            self.transport.signalProcess("KILL")
        return self.ended

    def states(self) -> list[str]:
        """The call states reported so far."""
        return [e["state"] for e in self.events if e["event"] == "state"]

    def find(self, event: str, **fields: Any) -> dict[str, Any] | None:
        """The first event of that kind with those fields, if any came."""
        for item in self.events:
            if self._matches(item, event, fields):
                return item
        return None

    @staticmethod
    def _matches(item: dict[str, Any], event: str, fields: dict[str, Any]) -> bool:
        return item["event"] == event and all(item.get(k) == v for k, v in fields.items())

    def wait(self, event: str, timeout: float = 5.0, **fields: Any
             ) -> defer.Deferred[dict[str, Any]]:
        """Fires with the first event of that kind with those fields (past ones count)."""
        found = self.find(event, **fields)
        if found is not None:
            return defer.succeed(found)
        d: defer.Deferred[dict[str, Any]] = defer.Deferred()

        entry = ((event, fields), d)

        def explain(failure: Any) -> Any:
            failure.trap(defer.TimeoutError, defer.CancelledError)
            if entry in self._waiters:
                self._waiters.remove(entry)
            raise AssertionError(f"pjsua2 did not report {event} {fields} in {timeout} s; "
                                 f"events {self.events} (exit code {self.exit_code})\n"
                                 f"--- pjsua2 log ---\n{self.log}")

        self._waiters.append(entry)
        d.addTimeout(timeout, reactor)
        d.addErrback(explain)
        return d

    # -- ProcessProtocol ----------------------------------------------------------------

    def outReceived(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            event = json.loads(line)
            self.events.append(event)
            for key, d in list(self._waiters):
                if self._matches(event, key[0], key[1]):
                    self._waiters.remove((key, d))
                    # On the next turn: the test resumes outside this callback.
                    reactor.callLater(0, d.callback, event)  # type: ignore[attr-defined]

    def errReceived(self, data: bytes) -> None:
        self._log.write(data)

    def processEnded(self, reason: Any) -> None:
        self.exit_code = getattr(reason.value, "exitCode", None)
        self._log.close()
        self.ended.callback(self.exit_code)
        for _, d in list(self._waiters):  # nothing more will come: fail now, not at timeout
            d.cancel()
