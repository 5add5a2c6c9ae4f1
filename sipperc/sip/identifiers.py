"""Fresh identifiers for new requests: branch, tag and Call-ID values.

RFC 3261 §8.1.1.7: a branch is unique across space and time and starts with the magic
cookie ``z9hG4bK``; §19.3: tags and Call-IDs need at least 32 bits of randomness. These use
the ``secrets`` module (an attacker who guesses a tag or branch can inject into a dialog or
cancel a transaction).
"""

from __future__ import annotations

import secrets

__all__ = ["MAGIC_COOKIE", "new_branch", "new_call_id", "new_tag"]

MAGIC_COOKIE = "z9hG4bK"
"""RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this."""


def new_branch() -> str:
    """A new Via branch: the magic cookie followed by 128 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(16)


def new_tag() -> str:
    """A new From/To tag (RFC 3261 §19.3): 64 random bits."""
    return secrets.token_hex(8)


def new_call_id(host: str | None = None) -> str:
    """A new Call-ID (RFC 3261 §8.1.1.4), ``random@host`` when a host is given."""
    local = secrets.token_hex(16)
    return local if host is None else f"{local}@{host}"
