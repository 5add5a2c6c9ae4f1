"""REFER (RFC 3515) values: the Refer-To target with Replaces (RFC 3891) and sipfrag progress.

A REFER asks its recipient to send a request — an INVITE here — to the ``Refer-To`` URI; for
an attended transfer that URI carries the dialog to replace as an embedded ``Replaces``
header (RFC 3891 §6, RFC 5589 §7). The recipient reports how its INVITE fares in NOTIFYs of
the ``refer`` event package whose bodies are ``message/sipfrag`` (RFC 3420) status lines:
``SIP/2.0 100 Trying`` first, then the final status (RFC 3515 §2.4.4-2.4.5).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipperc.sip import grammar
from sipperc.sip import headers as h
from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import Address, Replaces
from sipperc.sip.message import Request
from sipperc.sip.status import reason_phrase
from sipperc.sip.uri import SipUri, Uri

__all__ = [
    "REFER_EVENT",
    "SIPFRAG",
    "ReferError",
    "ReferTarget",
    "SipFragStatus",
    "refer_to",
]

SIPFRAG = "message/sipfrag"
"""The body type of REFER progress NOTIFYs (RFC 3420, RFC 3515 §2.4.5)."""

REFER_EVENT = "refer"
"""The event package of the subscription a REFER creates (RFC 3515 §2.4.4)."""


class ReferError(ValueError):
    """A REFER or sipfrag that cannot be acted on; ``status_code`` is the answer to send."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(f"{status_code} {reason}")
        self.status_code = status_code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SipFragStatus:
    """The status line of a ``message/sipfrag`` body: how the referred request fares."""

    status_code: int
    reason: str = ""

    def __post_init__(self) -> None:
        if not 100 <= self.status_code <= 699:
            raise ReferError(400, f"sipfrag status {self.status_code} is outside 100-699")
        if not self.reason:
            object.__setattr__(self, "reason", reason_phrase(self.status_code))

    @property
    def final(self) -> bool:
        """True for a final status: the refer subscription ends with it (RFC 3515 §2.4.5)."""
        return self.status_code >= 200

    def __bytes__(self) -> bytes:
        return f"SIP/2.0 {self.status_code} {self.reason}\r\n".encode()

    @classmethod
    def parse(cls, body: bytes) -> SipFragStatus:
        """Read the Status-Line a sipfrag starts with (RFC 3420 §2); raises :class:`ReferError`."""
        line = body.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
        m = grammar.STATUS_LINE.fullmatch(line)
        if (
            m is None
            or m.group("version").upper() != "SIP/2.0"
            or grammar.STATUS_CODE.fullmatch(m.group("code")) is None
            or grammar.REASON_PHRASE.fullmatch(m.group("reason")) is None
        ):
            raise ReferError(400, "sipfrag body does not start with a SIP Status-Line")
        return cls(int(m.group("code")), m.group("reason"))


@dataclass(frozen=True, slots=True)
class ReferTarget:
    """Where a REFER sends us: the URI to INVITE and the dialog it replaces, if any."""

    uri: SipUri
    replaces: Replaces | None = None
    address: Address | None = None

    @classmethod
    def from_request(cls, refer: Request) -> ReferTarget:
        """The single Refer-To of a REFER (RFC 3515 §2.4.1), with any embedded Replaces.

        Raises :class:`ReferError` with 400 for a missing, repeated or malformed Refer-To, or
        a malformed Replaces, and 603 for a target other than an INVITE to a SIP(S) URI.
        """
        try:
            targets = refer.typed(h.REFER_TO)
        except SipParseError as exc:
            raise ReferError(400, "Bad Refer-To header") from exc
        if len(targets) != 1:
            raise ReferError(400, "A REFER carries exactly one Refer-To (RFC 3515 §2.4.1)")
        address = targets[0]
        uri = address.uri
        if not isinstance(uri, SipUri):
            raise ReferError(603, "Only SIP and SIPS Refer-To targets are followed")
        method = uri.parameters.get("method")
        if method is not None and method.upper() != "INVITE":
            raise ReferError(603, f"Refer-To asks for {method}, only INVITE is followed")
        replaces: Replaces | None = None
        for name, value in uri.headers:
            if name.lower() == "replaces":
                try:
                    replaces = h.REPLACES.parse_field(value)[0]
                except SipParseError as exc:
                    raise ReferError(400, "Bad Replaces in Refer-To") from exc
        target = uri.with_changes(
            parameters=uri.parameters.without("method"), headers=()
        )
        return cls(target, replaces, address)


def refer_to(target: Uri | Address, replaces: Replaces | None = None) -> Address:
    """The Refer-To value for ``target``, with ``Replaces`` embedded when given (RFC 3891 §6)."""
    address = target if isinstance(target, Address) else Address(target)
    if replaces is None:
        return address
    uri = address.uri
    if not isinstance(uri, SipUri):
        raise ValueError("Replaces can only be embedded in a SIP or SIPS URI")
    headers = (*[(n, v) for n, v in uri.headers if n.lower() != "replaces"],
               ("Replaces", str(replaces)))
    return Address(uri.with_changes(headers=headers), address.display_name)
