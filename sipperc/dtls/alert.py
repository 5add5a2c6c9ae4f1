"""Alert protocol (RFC 5246 §7.2, RFC 6347 §4.1.2.7) and the layer's error types.

Every way a handshake can fail is a :class:`DtlsAlertError` carrying the alert the connection
sends before it closes, so that a test or a log names exactly what went wrong. Parsers raise
:class:`DecodeError` (a ``decode_error`` alert), never ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import enum


class AlertLevel(enum.IntEnum):
    """RFC 5246 §7.2."""

    WARNING = 1
    FATAL = 2


class AlertDescription(enum.IntEnum):
    """RFC 5246 §7.2 with RFC 5746's ``no_renegotiation`` and RFC 7507's values."""

    CLOSE_NOTIFY = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    RECORD_OVERFLOW = 22
    HANDSHAKE_FAILURE = 40
    BAD_CERTIFICATE = 42
    UNSUPPORTED_CERTIFICATE = 43
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    ILLEGAL_PARAMETER = 47
    UNKNOWN_CA = 48
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    INAPPROPRIATE_FALLBACK = 86
    USER_CANCELED = 90
    NO_RENEGOTIATION = 100
    UNSUPPORTED_EXTENSION = 110


class DtlsError(Exception):
    """Base class of every error the DTLS layer raises."""


class DtlsStateError(DtlsError):
    """The API was used in a state that does not allow it (e.g. ``send`` before the handshake)."""


class DtlsAlertError(DtlsError):
    """A protocol failure; ``description`` is the fatal alert the connection sends for it."""

    def __init__(self, description: AlertDescription, message: str) -> None:
        super().__init__(f"{description.name.lower()}: {message}")
        self.description = description
        self.message = message


class DecodeError(DtlsAlertError):
    """A message or record that does not parse (``decode_error``)."""

    def __init__(self, message: str) -> None:
        super().__init__(AlertDescription.DECODE_ERROR, message)


def encode_alert(level: AlertLevel, description: AlertDescription) -> bytes:
    """The two-byte Alert body."""
    return bytes((level, description))


def decode_alert(body: bytes) -> tuple[AlertLevel, AlertDescription | int]:
    """Parse an Alert body; an unknown description is returned as its number."""
    if len(body) != 2:
        raise DecodeError(f"alert of {len(body)} bytes, expected 2")
    try:
        level = AlertLevel(body[0])
    except ValueError:
        raise DtlsAlertError(AlertDescription.ILLEGAL_PARAMETER,
                             f"alert level {body[0]}") from None
    try:
        return level, AlertDescription(body[1])
    except ValueError:
        return level, body[1]
