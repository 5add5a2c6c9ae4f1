"""Structured logging for every sipperc process, through ``twisted.logger``.

Code logs with ``Logger().info("call answered", call_id=..., ssrc=...)``; the observer installed
by :func:`start_logging` writes one line per event, either as text (``key=value`` pairs after the
message) or as JSON objects for log shippers. Any ``bytes`` field is printed as its length only
(:func:`sipperc.keymaterial.redacted`), so a key passed to a log call by mistake still never
reaches the log.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from constantly import NamedConstant
from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    PredicateResult,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import implementer

from sipperc.keymaterial import redacted

LEVELS = ("debug", "info", "warn", "error", "critical")
FORMATS = ("text", "json")


_LEGACY_KEYS = frozenset({"system", "time", "isError", "why"})
"""What Twisted's legacy API adds to every event it converts: already in the line, or noise."""


def event_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """The structured fields of a log event: everything but Twisted's own ``log_*`` keys.

    Values are made safe to print: bytes become ``<N bytes>``, anything that is not a plain
    scalar becomes its ``str()``.
    """
    legacy = event.get("log_namespace") == "log_legacy"
    fields: dict[str, Any] = {}
    for name, value in event.items():
        if (name.startswith("log_") or name in {"format", "message"}
                or (legacy and name in _LEGACY_KEYS)):
            continue
        fields[name] = _safe(value)
    return fields


def is_twisted_chatter(event: Mapping[str, Any]) -> bool:
    """Twisted's own lifecycle lines, logged through its legacy API at info.

    "Starting protocol <...DatagramProtocol object at 0x...>", "(UDP Port 5060 Closed)",
    "Resolver added ('10.0.0.53', 53) to server list": detail for debugging, not news for
    whoever runs sipperc, so they are shown as debug. Errors logged that way keep their level.
    """
    return event.get("log_namespace") == "log_legacy" and not event.get("isError")


@implementer(ILogFilterPredicate)
class LevelFilter:
    """Shows events at ``level`` and above, Twisted's chatter only at debug."""

    def __init__(self, level: LogLevel) -> None:
        self._levels = LogLevelFilterPredicate(defaultLogLevel=level)
        self._chatter = PredicateResult.maybe if level is LogLevel.debug else PredicateResult.no

    def __call__(self, event: dict[str, Any]) -> NamedConstant:
        """Whether to show ``event``."""
        if is_twisted_chatter(event):
            return self._chatter
        return self._levels(event)


def _safe(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return redacted(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _message(event: Mapping[str, Any]) -> str:
    text = formatEvent(dict(event)) if event.get("log_format") is not None else ""
    failure = event.get("log_failure")
    if failure is not None:
        text = f"{text}\n{failure.getTraceback()}".strip()
    return text


@implementer(ILogObserver)
class LineObserver:
    """Writes each event as one text line or one JSON object."""

    def __init__(self, stream: TextIO | None, fmt: str = "text") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self._stream = stream
        self._json = fmt == "json"

    def __call__(self, event: Mapping[str, Any]) -> None:
        """Write one event."""
        when = event.get("log_time", time.time())
        level = ("debug" if is_twisted_chatter(event)
                 else event.get("log_level", LogLevel.info).name)
        namespace = event.get("log_namespace", "-")
        fields = event_fields(event)
        if self._json:
            record = {"time": round(when, 6), "level": level, "namespace": namespace,
                      "message": _message(event), **fields}
            line = json.dumps(record, sort_keys=False)
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
            millis = int((when % 1) * 1000)
            pairs = " ".join(f"{name}={value}" for name, value in fields.items())
            line = f"{stamp}.{millis:03d}Z {level:<5} {namespace}: {_message(event)}"
            if pairs:
                line = f"{line} {pairs}"
        # None means "whatever sys.stderr is now": looked up per line, so a stderr that was
        # swapped and closed (pytest's capsys around a CLI test) is never written to.
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


def start_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send the process's log events at ``level`` and above to ``stream`` (stderr by default)."""
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    predicate = LevelFilter(LogLevel.levelWithName(level))
    observer = FilteringLogObserver(LineObserver(stream, fmt), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False,
                                     discardBuffer=True)
