"""Dialogs (RFC 3261 §12): the peer-to-peer relationship two user agents keep between requests.

A :class:`Dialog` holds what RFC 3261 §12 lists as dialog state — the dialog id (Call-ID, local
tag, remote tag), local and remote CSeq numbers, local and remote URI, remote target, route set
and the secure flag — and does the dialog's part of every request and response:

- creation by the UAS from a dialog-creating request (§12.1.1) and by the UAC from a tagged
  1xx or a 2xx (§12.1.2), early or confirmed;
- building requests inside the dialog (§12.2.1.1) with loose and strict routing, the ACK for a
  2xx (§13.2.2.4) and the next local CSeq;
- checking requests that arrive inside it (§12.2.2: a CSeq lower than the last one is
  answered 500);
- target refresh (§12.2.1.2, §12.2.2) and the route set recomputed from the 2xx that confirms
  an early dialog (§13.2.2.4).

It never sends anything: the invite session and the user agent above decide when to build a
request, and the transaction layer below sends it. State changes follow :data:`TRANSITIONS`.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sipperc.sip.headers import Address, MediaType, Replaces
from sipperc.sip.message import Request, Response
from sipperc.sip.uri import Parameters, SipUri, Uri

__all__ = [
    "TARGET_REFRESH_METHODS",
    "TRANSITIONS",
    "Dialog",
    "DialogId",
    "DialogInput",
    "DialogState",
    "DialogStateError",
    "next_hop",
]

TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
"""Requests that may change the remote target (RFC 3261 §12.2, RFC 3311 §5.1, RFC 6665 §4.1.2,
RFC 3515 §2.4.1 inherits it for REFER through the subscription it creates)."""


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID, local tag and remote tag (RFC 3261 §12): the key of a dialog at one UA.

    An RFC 2543 peer may send no From tag: its remote tag is the empty string.
    """

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def of_request(cls, request: Request) -> DialogId:
        """The id of the dialog a received request belongs to (local tag = To tag, §12.2.2)."""
        return cls(request.call_id, request.to.tag or "", request.from_.tag or "")

    @classmethod
    def of_response(cls, response: Response) -> DialogId:
        """The id of the dialog a response to our request belongs to (local = From tag)."""
        return cls(response.call_id, response.from_.tag or "", response.to.tag or "")

    def __str__(self) -> str:
        return f"{self.call_id};local-tag={self.local_tag};remote-tag={self.remote_tag}"


class DialogState(enum.Enum):
    """Where a dialog stands (RFC 3261 §12)."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogInput(enum.Enum):
    """What can happen to a dialog."""

    PROVISIONAL = "provisional"
    """A 1xx with the dialog's tags to the dialog-creating request (keeps it early)."""
    SUCCESS = "success"
    """A 2xx to the dialog-creating request, sent or received (§12.1)."""
    FAILURE = "failure"
    """A non-2xx final response to the dialog-creating request, or its timeout (§12.3)."""
    TERMINATE = "terminate"
    """The last usage ended: BYE, an expired subscription, a fatal 481/408 (RFC 5057 §5)."""


TRANSITIONS: dict[tuple[DialogState, DialogInput], DialogState | None] = {
    (DialogState.EARLY, DialogInput.PROVISIONAL): DialogState.EARLY,
    (DialogState.EARLY, DialogInput.SUCCESS): DialogState.CONFIRMED,
    (DialogState.EARLY, DialogInput.FAILURE): DialogState.TERMINATED,
    # RFC 3261 §15: a BYE (or CANCEL) ends early dialogs too.
    (DialogState.EARLY, DialogInput.TERMINATE): DialogState.TERMINATED,
    # A late 1xx after the 2xx changes nothing (it can overtake nothing but is legal to see).
    (DialogState.CONFIRMED, DialogInput.PROVISIONAL): DialogState.CONFIRMED,
    # 2xx retransmissions of the dialog-creating request.
    (DialogState.CONFIRMED, DialogInput.SUCCESS): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.FAILURE): None,
    (DialogState.CONFIRMED, DialogInput.TERMINATE): DialogState.TERMINATED,
    (DialogState.TERMINATED, DialogInput.PROVISIONAL): None,
    (DialogState.TERMINATED, DialogInput.SUCCESS): None,
    (DialogState.TERMINATED, DialogInput.FAILURE): None,
    (DialogState.TERMINATED, DialogInput.TERMINATE): DialogState.TERMINATED,
}
"""Every (state, input) pair and the state it leads to; None: the input cannot happen there."""


class DialogStateError(RuntimeError):
    """A dialog was used out of turn (a programming error in the layer above)."""


def next_hop(request: Request) -> Uri:
    """Where a request goes first (RFC 3261 §8.1.2): the top Route, else the Request-URI."""
    routes = request.route
    return routes[0].uri if routes else request.uri


class Dialog:
    """The state of one dialog at one UA (RFC 3261 §12).

    Build with :meth:`for_uas` or :meth:`for_uac`. ``local_seq``/``remote_seq`` are None while
    empty (§12.1.1, §12.1.2). ``local``/``remote`` are the From/To addresses our requests
    carry, tags included.
    """

    __slots__ = (
        "id",
        "local",
        "local_contact",
        "local_seq",
        "remote",
        "remote_seq",
        "remote_target",
        "route_set",
        "secure",
        "state",
    )

    def __init__(  # noqa: PLR0917 - the dialog state of RFC 3261 §12, in its order
        self,
        id: DialogId,
        state: DialogState,
        local: Address,
        remote: Address,
        local_seq: int | None,
        remote_seq: int | None,
        remote_target: Uri,
        route_set: tuple[Address, ...],
        secure: bool,
        local_contact: Address,
    ) -> None:
        self.id = id
        self.state = state
        self.local = local
        self.remote = remote
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.remote_target = remote_target
        self.route_set = route_set
        self.secure = secure
        self.local_contact = local_contact

    def __repr__(self) -> str:
        return f"<Dialog {self.id} {self.state.value}>"

    # --- creation (§12.1) ---------------------------------------------------------------------

    @classmethod
    def for_uas(
        cls,
        request: Request,
        *,
        local_tag: str,
        local_contact: Address,
        early: bool,
        over_tls: bool = False,
    ) -> Dialog:
        """The dialog a UAS creates when it answers ``request`` with a 1xx or 2xx (§12.1.1).

        Route set: the Record-Route values in order; remote target: the request's Contact;
        remote CSeq: the request's; local CSeq empty. ``over_tls``: the request arrived over
        TLS (with a SIPS Request-URI that makes the dialog secure).
        """
        remote_seq = request.cseq.seq
        contacts = request.contacts
        return cls(
            DialogId(request.call_id, local_tag, request.from_.tag or ""),
            DialogState.EARLY if early else DialogState.CONFIRMED,
            local=request.to.with_tag(local_tag),
            remote=request.from_,
            local_seq=None,
            remote_seq=remote_seq,
            remote_target=contacts[0].uri if contacts else request.from_.uri,
            route_set=request.record_route,
            secure=over_tls and _is_sips(request.uri),
            local_contact=local_contact,
        )

    @classmethod
    def for_uac(
        cls, request: Request, response: Response, *, local_contact: Address | None = None
    ) -> Dialog:
        """The dialog a UAC creates from a 1xx with a To tag or a 2xx to ``request`` (§12.1.2).

        Route set: the response's Record-Route values in reverse order; remote target: its
        Contact; local CSeq: the request's; remote CSeq empty. ``local_contact`` defaults to
        the request's Contact.
        """
        if response.to.tag is None:
            raise ValueError("a response without a To tag creates no dialog (RFC 3261 §12.1.2)")
        contact = local_contact
        if contact is None:
            contacts = request.contacts
            if not contacts:
                raise ValueError("a dialog-creating request carries a Contact (§8.1.1.8)")
            contact = contacts[0]
        contacts = response.contacts
        return cls(
            DialogId.of_response(response),
            DialogState.EARLY if response.is_provisional else DialogState.CONFIRMED,
            local=request.from_,
            remote=response.to,
            local_seq=request.cseq.seq,
            remote_seq=None,
            remote_target=contacts[0].uri if contacts else request.uri,
            route_set=tuple(reversed(response.record_route)),
            secure=_is_sips(request.uri),
            local_contact=contact,
        )

    # --- state ----------------------------------------------------------------------------------

    def advance(self, event: DialogInput) -> DialogState:
        """Apply ``event`` by :data:`TRANSITIONS`; raises :class:`DialogStateError` if illegal."""
        following = TRANSITIONS[(self.state, event)]
        if following is None:
            raise DialogStateError(f"{event.value} is not possible in a {self.state.value} dialog")
        self.state = following
        return following

    @property
    def early(self) -> bool:
        """True while early (RFC 3261 §12: created by a provisional response)."""
        return self.state is DialogState.EARLY

    @property
    def terminated(self) -> bool:
        """True once ended."""
        return self.state is DialogState.TERMINATED

    def confirm(self, response: Response) -> None:
        """Our 2xx to the dialog-creating request arrived (UAC, §13.2.2.4).

        The dialog becomes confirmed and its route set is recomputed from the 2xx (an early
        dialog's route set came from a 1xx, which a proxy may have answered differently).
        """
        if self.state is DialogState.EARLY:
            self.route_set = tuple(reversed(response.record_route))
        self.advance(DialogInput.SUCCESS)
        self.refresh_target(response)

    # --- outgoing requests (§12.2.1) --------------------------------------------------------

    def next_local_seq(self) -> int:
        """Advance and return the local CSeq for a new request (§12.2.1.1).

        An empty local CSeq (a UAS that has sent nothing yet) starts at a random value below
        2**31 as §8.1.1.5 allows, leaving room to count up.
        """
        if self.local_seq is None:
            self.local_seq = secrets.randbelow(2**30)
        self.local_seq += 1
        if self.local_seq >= 2**31:
            raise DialogStateError("local CSeq exhausted (RFC 3261 §8.1.1.5)")
        return self.local_seq

    def create_request(
        self,
        method: str,
        *,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: MediaType | str | None = None,
        contact: bool | None = None,
    ) -> Request:
        """A new request inside this dialog (RFC 3261 §12.2.1.1), with the next local CSeq.

        Request-URI and Route follow the route set: empty, the remote target and no Route;
        loose (first entry has ``lr``), the remote target and the whole route set; strict, the
        first entry as Request-URI and the rest plus the remote target as Route. Contact goes
        into target refresh requests unless ``contact`` says otherwise. Via is left for the
        transaction layer.
        """
        if method in ("ACK", "CANCEL"):
            raise ValueError(f"{method} takes the CSeq of its INVITE: use create_ack/cancel()")
        if self.terminated:
            raise DialogStateError(f"no {method} in a terminated dialog")
        seq = self.next_local_seq()
        with_contact = method in TARGET_REFRESH_METHODS if contact is None else contact
        return self._build(method, seq, headers, body, content_type, with_contact)

    def create_ack(
        self,
        invite: Request,
        *,
        body: bytes = b"",
        content_type: MediaType | str | None = None,
    ) -> Request:
        """The ACK for a 2xx to ``invite`` (RFC 3261 §13.2.2.4).

        Built like any request inside the dialog, but with the INVITE's CSeq number and its
        credentials (Authorization, Proxy-Authorization); the body is the answer when the 2xx
        carried an offer.
        """
        credentials = [
            (f.name, f.value)
            for f in invite.fields
            if f.key in ("authorization", "proxy-authorization")
        ]
        return self._build("ACK", invite.cseq.seq, credentials, body, content_type, False)

    def _build(  # noqa: PLR0917 - private
        self,
        method: str,
        seq: int,
        headers: Iterable[tuple[str, object]],
        body: bytes,
        content_type: MediaType | str | None,
        with_contact: bool,
    ) -> Request:
        uri: Uri = self.remote_target
        route: tuple[Address, ...] = self.route_set
        if route:
            first = route[0].uri
            if not (isinstance(first, SipUri) and first.lr):
                # Strict routing (§12.2.1.1): the first route becomes the Request-URI (without
                # what a Request-URI may not carry) and the remote target the last Route.
                uri = first.without_headers() if isinstance(first, SipUri) else first
                route = (*route[1:], Address(self.remote_target))
        if isinstance(uri, SipUri):
            uri = uri.without_headers()
        return Request.build(
            method,
            uri,
            from_=self.local,
            to=self.remote,
            call_id=self.id.call_id,
            cseq=seq,
            contact=self.local_contact if with_contact else (),
            route=route,
            headers=headers,
            body=body,
            content_type=content_type,
        )

    # --- incoming requests (§12.2.2) ----------------------------------------------------------

    def check_request(self, request: Request) -> int | None:
        """Check the CSeq of a request received inside this dialog (RFC 3261 §12.2.2).

        Returns the status to answer when it must be refused (500 for one lower than the last
        seen: out of order), else None after recording it. ACK and CANCEL carry the CSeq of
        their INVITE and are not checked. A target refresh request replaces the remote target
        with its Contact.
        """
        if request.method in ("ACK", "CANCEL"):
            return None
        seq = request.cseq.seq
        if self.remote_seq is not None and seq < self.remote_seq:
            return 500
        self.remote_seq = seq
        if request.method in TARGET_REFRESH_METHODS:
            self.refresh_target(request)
        return None

    def refresh_target(self, message: Request | Response) -> None:
        """Replace the remote target with the message's Contact, if it has one (§12.2)."""
        contacts = message.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    def matches(self, message: Request | Response) -> bool:
        """True if ``message`` carries this dialog's Call-ID and tags, from either side."""
        if message.call_id != self.id.call_id:
            return False
        from_tag = message.from_.tag or ""
        to_tag = message.to.tag or ""
        local, remote = self.id.local_tag, self.id.remote_tag
        return (from_tag, to_tag) in ((local, remote), (remote, local))

    def replaces_value(self, *, early_only: bool = False) -> Replaces:
        """The Replaces value that lets a third UA take this dialog's place (RFC 3891 §3).

        The peer of this dialog receives the INVITE with Replaces and matches ``to-tag``
        against its local tag: so ``to-tag`` is our remote tag and ``from-tag`` our local one
        (attended transfer, RFC 5589 §7).
        """
        params = Parameters([("to-tag", self.id.remote_tag), ("from-tag", self.id.local_tag)])
        if early_only:
            params = params.with_param("early-only")
        return Replaces(self.id.call_id, params)


def _is_sips(uri: Uri) -> bool:
    return isinstance(uri, SipUri) and uri.secure
