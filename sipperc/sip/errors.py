"""The one error the SIP message layer raises: :class:`SipParseError`.

It carries what a UAS needs to answer a bad request (RFC 3261 §8.2, §21.4): the status code
and a reason phrase naming the problem, and the Via, From, To, Call-ID and CSeq header fields
when they could be recovered, so that ``Response.for_parse_error`` can build the response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sipperc.sip.headers import HeaderField
    from sipperc.sip.message import Message

__all__ = ["SipParseError"]


class SipParseError(ValueError):
    """A SIP message (or part of one) that cannot be accepted.

    ``status_code``/``reason``: the response a UAS should send (400 with the bad header's name,
    505 for an unsupported version, 416 for an unsupported Request-URI scheme, 413/513 when
    too large). ``header``: the canonical name of the offending header field, if one is.
    ``detail``: the text that failed (shortened). ``recovered``: the Via, From, To, Call-ID and
    CSeq fields found in the message, raw, in order. ``method``: the request method when the
    start line was a request line (None for responses or an unreadable start line).
    ``message``: the parsed message when it was well-formed but must still be refused (e.g.
    416 for a scheme the parser was not told to accept, RFC 4475 §3.3.1).
    """

    def __init__(
        self,
        status_code: int,
        reason: str,
        *,
        header: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.header = header
        self.detail = None if detail is None else detail[:200]
        self.recovered: tuple[HeaderField, ...] = ()
        self.method: str | None = None
        self.message: Message | None = None
        super().__init__(status_code, reason)

    def __str__(self) -> str:
        text = f"{self.status_code} {self.reason}"
        return text if self.detail is None else f"{text}: {self.detail!r}"

    def __repr__(self) -> str:
        return f"SipParseError({self.status_code}, {self.reason!r})"
