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

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import implementer

from sipperc.keymaterial import redacted

LEVELS = ("debug", "info", "warn", "error", "critical")
FORMATS = ("text", "json")


def event_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """The structured fields of a log event: everything but Twisted's own ``log_*`` keys.

    Values are made safe to print: bytes become ``<N bytes>``, anything that is not a plain
    scalar becomes its ``str()``.
    """
    fields: dict[str, Any] = {}
    for name, value in event.items():
        if name.startswith("log_") or name in {"format", "message"}:
            continue
        fields[name] = _safe(value)
    return fields


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
        level = event.get("log_level", LogLevel.info).name
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
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    observer = FilteringLogObserver(LineObserver(stream, fmt), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False,
                                     discardBuffer=True)
