"""How sipperc says "this media stream does PERC" in SDP.

No RFC defines an SDP attribute for PERC (RFC 8871): the double SRTP profiles (RFC 8723) and EKT
(RFC 8870 §5.3) are chosen inside the DTLS-SRTP handshake, and the SDP of a PERC call is an
ordinary DTLS-SRTP one (``UDP/TLS/RTP/SAVP(F)``, ``a=fingerprint``, ``a=setup``, ``a=tls-id``;
``/work/shared/specs/perc.md`` §6). A signalling element still needs to know before any DTLS
packet flows whether the other side is a PERC endpoint (the conference focus refuses others, the
B2BUA bridges them instead) and whether an answer comes from a PERC focus. sipperc therefore adds
one media-level attribute next to the standard DTLS-SRTP ones::

    a=sipperc-perc:1 endpoint      (in a PERC endpoint's offer or answer)
    a=sipperc-perc:1 focus         (in a conference focus's offer or answer)

``sipperc-perc-value = perc-version SP perc-role *(SP token)``: the version is the highest
version of this convention the writer speaks (1 today: RFC 8723 double SRTP with RFC 8870 EKT
negotiated in DTLS-SRTP, RFC 9185 tunnelled key distribution); the role is ``endpoint`` or
``focus``; later tokens are extensions a reader ignores. Because RFC 8866 §5.13 tells every SDP
reader to ignore attributes it does not understand, a legacy DTLS-SRTP peer (baresip, linphone,
browsers) sees a normal DTLS-SRTP offer and can still answer it with single SRTP profiles.

The DTLS roles follow from PERC's trust model (RFC 8871 §5.2, RFC 9185 §5.4): the endpoint is
always the DTLS client and the Key Distributor the server. So an endpoint offers
``a=setup:actpass``; a focus answers ``a=setup:passive`` and, when it offers, offers
``a=setup:passive``; the focus's ``c=``/``m=`` point at the Media Distributor while its
``a=fingerprint`` and ``a=tls-id`` are the Key Distributor's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Self

from sipperc.sdp import grammar
from sipperc.sdp.attributes import register_validator

PERC_ATTRIBUTE = "sipperc-perc"
"""The attribute name; vendor-prefixed so it cannot collide with a future IETF attribute."""

PERC_VERSION = 1
"""The version of the convention this code implements."""


class PercRole(enum.Enum):
    """Which side of a PERC conference a description comes from (RFC 8871 §3)."""

    ENDPOINT = "endpoint"
    FOCUS = "focus"


@dataclass(frozen=True, slots=True)
class PercMarker:
    """``a=sipperc-perc``: the writer does PERC on this stream, in the given role."""

    version: int
    role: PercRole | str
    extensions: tuple[str, ...] = ()

    name: ClassVar[str] = PERC_ATTRIBUTE

    @classmethod
    def parse(cls, value: str) -> Self:
        """Parse the value; an unknown role is kept as text (a newer sipperc may add roles)."""
        match = grammar.PERC_VALUE.fullmatch(value)
        if match is None:
            raise ValueError("expected '<version> <role>' (see sipperc.sdp.perc)")
        role_text = match["role"]
        role: PercRole | str
        try:
            role = PercRole(role_text)
        except ValueError:
            role = role_text
        return cls(int(match["version"]), role, tuple(match["extensions"].split()))

    @classmethod
    def ours(cls, role: PercRole) -> Self:
        """The marker this version of sipperc writes for ``role``."""
        return cls(PERC_VERSION, role)

    def __str__(self) -> str:
        role = self.role.value if isinstance(self.role, PercRole) else self.role
        return " ".join((str(self.version), role, *self.extensions))


register_validator(PERC_ATTRIBUTE, PercMarker.parse)
