"""What the transaction layer asks for: the effects of one step (RFC 3261 §17).

The transaction layer is sans-I/O: each call (``receive``, ``send_request``,
``send_response``, ``handle_timer``...) returns a list of effects and does nothing else.
:class:`SendMessage` goes to the transport edge; the others go to the transaction user (TU:
the dialog layer's ``UserAgent``, a registrar...). All are frozen slotted dataclasses, so
they can be compared in tests and logged as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipperc.sip.message import Request, Response
from sipperc.sip.transport_address import TransportAddress

__all__ = [
    "AckReceived",
    "CancelReceived",
    "Effect",
    "RequestReceived",
    "ResponseReceived",
    "SendMessage",
    "StrayResponse",
    "TransactionId",
    "TransactionTimeout",
    "TransportFailure",
    "TuEffect",
]


@dataclass(frozen=True, slots=True)
class TransactionId:
    """Names one transaction; hashable, so the TU can key its own state on it.

    RFC 3261 §17.1.3 and §17.2.3: ``branch`` (the top Via branch the transaction was created
    with) and ``method`` (the CSeq method; ``INVITE`` for an INVITE transaction, also when an
    ACK or CANCEL is matched to it). Server transactions also carry the top Via ``sent_by``
    (``host:port`` as the client wrote it, host lower case) and ``server=True``, so a request
    looped back to us never matches our own client transaction. Requests from RFC 2543
    peers (no ``z9hG4bK`` branch) get a ``branch`` made from the fields §17.2.3 matches on.
    """

    branch: str
    method: str
    sent_by: str = ""
    server: bool = False


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send ``message`` to ``destination``; for the transport edge.

    ``transaction`` names the transaction it belongs to, so the edge can report a failure
    to send through ``TransactionLayer.transport_failed`` (None for an ACK to a 2xx or a
    response to a malformed request).
    """

    message: Request | Response
    destination: TransportAddress
    transaction: TransactionId | None = None


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request that created a new server transaction (RFC 3261 §17.2.1, §17.2.2).

    The TU answers through ``TransactionLayer.send_response(transaction, ...)``; for an
    INVITE the layer sends 100 Trying itself unless the TU answered within 200 ms.
    ``merged`` is set when the request has no To tag and an ongoing server transaction has
    the same From tag, Call-ID and CSeq but does not match it: the request reached us twice
    over different paths and the UAS core should answer 482 Loop Detected (§8.2.2.2).
    """

    request: Request
    transaction: TransactionId
    source: TransportAddress
    merged: TransactionId | None = None


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK that is not part of a transaction: the ACK for a 2xx (RFC 3261 §17.1.1.3).

    The dialog layer matches it to its dialog and stops retransmitting the 2xx (§13.3.1.4).
    """

    ack: Request
    source: TransportAddress


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for one of our client transactions (RFC 3261 §17.1).

    Includes every 2xx to an INVITE received in the Accepted state (RFC 6026 §8.4): the TU
    must ACK each retransmission again, and a 2xx from another fork creates another dialog.
    """

    response: Response
    transaction: TransactionId


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A 2xx to an INVITE that matches no client transaction (RFC 3261 §13.2.2.4).

    A retransmission after Timer M ended the transaction, or a late fork: the dialog layer
    re-sends its ACK, or ACKs and BYEs a dialog it does not want. Other stray responses
    are discarded silently (RFC 6026 §8.9).
    """

    response: Response
    source: TransportAddress


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """Timer B or F fired: no final response (RFC 3261 §17.1.1.2, §17.1.2.2).

    The TU acts as if it had received a 408 (§8.1.3.1); no 408 is ever sent for a non-INVITE
    request (RFC 4320 §4.1). For a server INVITE transaction: Timer H fired, the ACK to our
    non-2xx final response never came (§17.2.1).
    """

    transaction: TransactionId


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """The edge could not send for this transaction (RFC 3261 §17.1.4, §17.2.4).

    A client TU acts as if it had received a 503 (§8.1.3.1); the transaction is terminated.
    """

    transaction: TransactionId
    reason: str


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL matched a pending INVITE server transaction (RFC 3261 §9.2).

    The layer has already answered the CANCEL with 200; the TU must now answer the INVITE
    (``transaction_of_invite``) with 487 Request Terminated.
    """

    cancel: Request
    transaction_of_invite: TransactionId
    source: TransportAddress


TuEffect = (
    RequestReceived
    | AckReceived
    | ResponseReceived
    | StrayResponse
    | TransactionTimeout
    | TransportFailure
    | CancelReceived
)
"""The effects meant for the transaction user."""

Effect = SendMessage | TuEffect
"""Anything the transaction layer returns."""
