"""DTMF in SIP INFO bodies: ``application/dtmf-relay``.

The de facto format Cisco introduced and most PBXs and phones (Asterisk, FreeSWITCH, PJSIP,
Polycom) send in INFO requests (RFC 6086 §4.2 lets legacy INFO usage carry it)::

    Signal=5
    Duration=160

``Signal`` is a key (0-9, ``*``, ``#``, A-D; some send 10 and 11 for ``*`` and ``#``, 16 for
hook flash, as RFC 4733 §3.2 numbers events) and ``Duration`` milliseconds. Lines end in CRLF
or LF; names compare case-insensitively; unknown lines are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DTMF_RELAY", "DtmfRelay", "DtmfRelayError"]

DTMF_RELAY = "application/dtmf-relay"
"""The media type of the body."""

KEYS = frozenset("0123456789*#ABCD") | {"!"}
"""Valid signals: the sixteen DTMF keys and ``!`` for a hook flash."""

_EVENT_CODES = {"10": "*", "11": "#", "12": "A", "13": "B", "14": "C", "15": "D", "16": "!"}
"""RFC 4733 §3.2 event numbers some senders write instead of the key."""

DEFAULT_DURATION = 250
"""Milliseconds when the body gives none (Asterisk's default)."""


class DtmfRelayError(ValueError):
    """A dtmf-relay body that cannot be read; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class DtmfRelay:
    """One key press: ``signal`` (``0``-``9``, ``*``, ``#``, ``A``-``D``, ``!`` for flash)."""

    signal: str
    duration: int = DEFAULT_DURATION

    def __post_init__(self) -> None:
        if self.signal not in KEYS:
            raise DtmfRelayError(f"signal {self.signal!r} is not a DTMF key")
        if not 0 < self.duration <= 60_000:
            raise DtmfRelayError(f"duration {self.duration} ms is outside 1-60000")

    def __bytes__(self) -> bytes:
        return f"Signal={self.signal}\r\nDuration={self.duration}\r\n".encode("ascii")

    @classmethod
    def parse(cls, body: bytes) -> DtmfRelay:
        """Read a body; raises :class:`DtmfRelayError` naming the problem."""
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError as exc:
            raise DtmfRelayError("dtmf-relay body is not ASCII") from exc
        signal: str | None = None
        duration = DEFAULT_DURATION
        for line in text.splitlines():
            name, equals, value = line.partition("=")
            if not equals:
                continue
            name, value = name.strip().lower(), value.strip()
            if name == "signal":
                signal = _EVENT_CODES.get(value, value.upper())
            elif name == "duration":
                if not value.isdigit():
                    raise DtmfRelayError(f"Duration {value!r} is not a number of milliseconds")
                duration = int(value)
        if signal is None:
            raise DtmfRelayError("dtmf-relay body has no Signal line")
        return cls(signal, duration)
