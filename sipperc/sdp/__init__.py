"""SDP (RFC 8866) and the offer/answer model (RFC 3264), including media security negotiation.

Owns session descriptions (parse, inspect, serialise), the typed attributes sipperc interprets,
SDES keys (RFC 4568), DTLS-SRTP attributes (RFC 8122, RFC 4145, RFC 8842), sipperc's PERC marker
(:mod:`sipperc.sdp.perc`) and the sans-I/O offer/answer engine (:mod:`sipperc.sdp.offer_answer`).

May import ``sipperc.srtp.profile`` (profile names and key lengths), ``sipperc.dtls.identity``
(certificate fingerprints: hashing and checking are the DTLS layer's) and the shared top-level
modules (``sipperc.keymaterial``); never ``sipperc.sip``, the rest of DTLS, media or the
application layers.
The SIP layer carries descriptions as message bodies and maps the engine's outcomes to responses
(``OfferRefused.status_code`` 488/491).

PERC signalling: a PERC stream is a DTLS-SRTP stream (``UDP/TLS/RTP/SAVP(F)``, ``a=fingerprint``,
``a=setup``, ``a=tls-id``) with one more attribute, ``a=sipperc-perc:1 endpoint`` or
``a=sipperc-perc:1 focus``, which legacy peers ignore (RFC 8866 §5.13). The endpoint is always the
DTLS client: it offers ``actpass``, a focus answers (and offers) ``passive`` with the Media
Distributor's address and the Key Distributor's fingerprint and tls-id.
"""

from sipperc.sdp.attributes import (
    AUDIO_LEVEL_URI,
    Attribute,
    Direction,
    ExtMap,
    Fmtp,
    Group,
    Rtcp,
    RtpMap,
    Ssrc,
)
from sipperc.sdp.codec import Codec, NegotiatedCodec
from sipperc.sdp.crypto import Crypto, InlineKey
from sipperc.sdp.description import (
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SdpParseError,
    SessionDescription,
    TimeDescription,
    parse_sdp,
)
from sipperc.sdp.dtls import DtlsRole, Fingerprint, Setup, TlsId
from sipperc.sdp.offer_answer import (
    Answer,
    AnswerRefused,
    MediaCapabilities,
    NegotiatedExtension,
    NegotiatedSession,
    NegotiatedStream,
    OfferAnswer,
    OfferAnswerState,
    OfferAnswerStateError,
    OfferRefused,
    TransportAddress,
)
from sipperc.sdp.perc import PERC_ATTRIBUTE, PercMarker, PercRole
from sipperc.sdp.security import (
    DtlsIdentity,
    DtlsSrtp,
    MediaSecurityPolicy,
    PlainRtp,
    SdesSrtp,
    SecurityMechanism,
    SrtpKey,
)

__all__ = [
    "AUDIO_LEVEL_URI",
    "PERC_ATTRIBUTE",
    "Answer",
    "AnswerRefused",
    "Attribute",
    "Bandwidth",
    "Codec",
    "Connection",
    "Crypto",
    "Direction",
    "DtlsIdentity",
    "DtlsRole",
    "DtlsSrtp",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "InlineKey",
    "MediaCapabilities",
    "MediaDescription",
    "MediaSecurityPolicy",
    "NegotiatedCodec",
    "NegotiatedExtension",
    "NegotiatedSession",
    "NegotiatedStream",
    "OfferAnswer",
    "OfferAnswerState",
    "OfferAnswerStateError",
    "OfferRefused",
    "Origin",
    "PercMarker",
    "PercRole",
    "PlainRtp",
    "Rtcp",
    "RtpMap",
    "SdesSrtp",
    "SdpParseError",
    "SecurityMechanism",
    "SessionDescription",
    "Setup",
    "SrtpKey",
    "Ssrc",
    "TimeDescription",
    "TlsId",
    "TransportAddress",
    "parse_sdp",
]
