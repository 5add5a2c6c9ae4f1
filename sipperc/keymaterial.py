"""Keeping key material out of logs, exceptions and ``repr()``.

Every object that holds a key or salt prints it through :func:`redacted`, so a key can only leave
the process through the protocol that is meant to carry it.
"""

from __future__ import annotations


def redacted(secret: bytes | bytearray | memoryview | None) -> str:
    """Describe a secret by its length only, e.g. ``<16 bytes>``."""
    if secret is None:
        return "<none>"
    return f"<{len(secret)} bytes>"


def wipe(buffer: bytearray) -> None:
    """Overwrite a mutable buffer holding key material with zeros.

    Python cannot promise that no other copy exists (``bytes`` are immutable and the
    ``cryptography`` backends keep their own), so this is best effort: it shortens how long the
    copies we own stay readable in memory.
    """
    buffer[:] = bytes(len(buffer))
