"""SIP messages (RFC 3261 §7, §20, §25): grammar, parsing, serializing, building, framing.

Owns everything about one SIP message as bytes on the wire: the transcribed ABNF
(:mod:`~sipperc.sip.grammar`), URIs (SIP, SIPS, tel, RFC 3986), header fields with typed
values, requests and responses, multipart bodies (RFC 5621) and stream/datagram framing.
The message modules may import only the shared top-level modules (``sipperc.config``,
``sipperc.log``). Transactions (:mod:`~sipperc.sip.transaction_layer`, RFC 3261 §17) and
transports (:mod:`~sipperc.sip.transport`, §18, sans-I/O; :mod:`~sipperc.sip.twisted_transport`,
the one module with sockets and the reactor) build on them; dialogs and sessions
(:mod:`~sipperc.sip.dialog`, :mod:`~sipperc.sip.invite_session`, subscriptions, REFER) and the
user agent (:mod:`~sipperc.sip.user_agent`, the transaction user for calls, with its events in
:mod:`~sipperc.sip.user_agent_events` and its Twisted glue
:mod:`~sipperc.sip.twisted_user_agent`) on those; they also use the SDP layer's offer/answer
engine (``sipperc.sdp`` never imports SIP). Beside them:
digest authentication (:mod:`~sipperc.sip.digest`, RFC 7616/8760), registration and the
registrar (:mod:`~sipperc.sip.registration`, :mod:`~sipperc.sip.registrar`, §10) and server
location (:mod:`~sipperc.sip.locate`, RFC 3263; its adapter uses ``twisted.names``). Never
media, PERC or application layers.

Entry points: :func:`parse_message` (bytes -> :class:`Request`/:class:`Response`),
``bytes(message)``, :class:`SipParseError` (``.status_code``, ``.reason``, recovered
fields), :meth:`Request.build`, :meth:`Request.response`.
"""

from sipperc.sip.errors import SipParseError
from sipperc.sip.framing import KeepAlive, StreamFramer, parse_datagram
from sipperc.sip.headers import (
    Address,
    AuthValue,
    CSeq,
    EventValue,
    HeaderField,
    MediaType,
    RAck,
    ReasonValue,
    Replaces,
    SessionExpires,
    TypedHeader,
    Via,
)
from sipperc.sip.identifiers import new_branch, new_call_id, new_tag
from sipperc.sip.message import Message, Request, Response, parse_message
from sipperc.sip.multipart import BodyPart, MultipartBody
from sipperc.sip.uri import AbsoluteUri, Parameters, SipUri, TelUri, Uri, parse_uri

__all__ = [
    "AbsoluteUri",
    "Address",
    "AuthValue",
    "BodyPart",
    "CSeq",
    "EventValue",
    "HeaderField",
    "KeepAlive",
    "MediaType",
    "Message",
    "MultipartBody",
    "Parameters",
    "RAck",
    "ReasonValue",
    "Replaces",
    "Request",
    "Response",
    "SessionExpires",
    "SipParseError",
    "SipUri",
    "StreamFramer",
    "TelUri",
    "TypedHeader",
    "Uri",
    "Via",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_datagram",
    "parse_message",
    "parse_uri",
]
