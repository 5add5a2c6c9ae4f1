"""A registrar and its location service (RFC 3261 §10.3).

:class:`Registrar` answers REGISTER requests: it authenticates them (optionally, through a
:class:`~sipperc.sip.digest.DigestServer`), checks the Call-ID/CSeq ordering of each binding,
enforces Min-Expires (423) and answers 200 listing the AOR's current bindings. The bindings
live in a :class:`LocationService`, which a proxy or the conference server asks where to
send a request for an AOR (:meth:`LocationService.lookup`).

Sans-I/O: ``handle(request, now, source)`` returns the response; expiry is computed from the
``now`` each call is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from twisted.logger import Logger

from sipperc.sip import headers as h
from sipperc.sip.digest import Authenticated, Challenged, DigestServer
from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import Address
from sipperc.sip.message import Request, Response
from sipperc.sip.transaction_effects import RequestReceived, TuEffect
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "Binding",
    "LocationService",
    "Registrar",
    "RegistrarTU",
    "address_of_record",
]

_log = Logger(namespace="sipperc.sip.registrar")


def address_of_record(uri: Uri | str) -> str:
    """The canonical form of an AOR, the key of its bindings (RFC 3261 §10.3 step 5).

    URI parameters and headers are dropped, escapes resolved, the host lower-cased; SIP and
    SIPS name the same AOR. ``sip:Alice@Example.COM;transport=tcp`` -> ``sip:Alice@example.com``.
    Raises ValueError for a URI that is not SIP/SIPS or has no user part.
    """
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    if not isinstance(parsed, SipUri) or not parsed.user:
        raise ValueError(f"{uri} is not a SIP address-of-record (sip:user@domain)")
    host = parsed.host_key
    if ":" in host:
        host = f"[{host}]"
    port = "" if parsed.port is None else f":{parsed.port}"
    return f"sip:{parsed.user}@{host}{port}"


@dataclass(frozen=True, slots=True)
class Binding:
    """One contact registered for an AOR (RFC 3261 §10.3).

    ``contact`` is the Contact value as registered (its ``expires`` parameter removed);
    ``expires_at`` is in the registrar's ``now`` clock. ``call_id`` and ``cseq`` order the
    updates of this binding (§10.3 step 7). ``source`` is where the REGISTER came from: a
    proxy reaching a UA behind NAT sends there rather than to the contact (RFC 5626 §5.3
    idea, without Outbound's flow tokens).
    """

    aor: str
    contact: Address
    expires_at: float
    call_id: str
    cseq: int
    source: TransportAddress | None = None

    @property
    def uri(self) -> Uri:
        """The contact URI: where requests for the AOR are sent."""
        return self.contact.uri

    @property
    def q(self) -> float:
        """The contact's preference (RFC 3261 §20.10): 1.0 when not given."""
        q = self.contact.q
        return 1.0 if q is None else q

    @property
    def instance(self) -> str | None:
        """The ``+sip.instance`` of the device (RFC 5626 §4.1), unquoted."""
        return self.contact.params.unquoted("+sip.instance")

    def remaining(self, now: float) -> int:
        """Whole seconds left, rounded up (a binding is listed with at least 1 until it ends)."""
        left = self.expires_at - now
        return max(0, int(left) + (left % 1 > 0))

    @property
    def identity(self) -> object:
        """What makes two registrations the same binding.

        The device's instance id when it sent one (RFC 5626 §6), else the contact URI
        (RFC 3261 §10.3 step 7).
        """
        return ("instance", self.instance) if self.instance else ("uri", self.uri)


class LocationService:
    """The bindings of every AOR (RFC 3261 §10: the "location service").

    A registrar writes to it; proxies and the conference server read it with :meth:`lookup`.
    Expired bindings are invisible from the moment they expire and removed by :meth:`purge`.
    """

    def __init__(self) -> None:
        self._bindings: dict[str, tuple[Binding, ...]] = {}

    def __repr__(self) -> str:
        return f"<LocationService {len(self._bindings)} AORs>"

    def bindings(self, aor: str, now: float) -> tuple[Binding, ...]:
        """The live bindings of a canonical AOR, most preferred first.

        Higher q first, then the most recently refreshed (RFC 3261 §16.6: a proxy tries
        contacts in q order).
        """
        live = [b for b in self._bindings.get(aor, ()) if b.expires_at > now]
        live.sort(key=lambda b: (-b.q, -b.expires_at))
        return tuple(live)

    def lookup(self, uri: Uri | str, now: float) -> tuple[Binding, ...]:
        """Where to send a request for ``uri`` (a Request-URI naming an AOR), best first.

        Empty when nothing is registered (a proxy answers 480 Temporarily Unavailable, a
        404 when the AOR does not exist at all, RFC 3261 §16.5).
        """
        try:
            aor = address_of_record(uri)
        except ValueError:
            return ()
        return self.bindings(aor, now)

    def aors(self, now: float) -> list[str]:
        """AORs with at least one live binding."""
        return [aor for aor in self._bindings if self.bindings(aor, now)]

    def store(self, aor: str, bindings: Iterable[Binding]) -> None:
        """Replace all bindings of ``aor`` (the registrar commits a REGISTER atomically)."""
        kept = tuple(bindings)
        if kept:
            self._bindings[aor] = kept
        else:
            self._bindings.pop(aor, None)

    def purge(self, now: float) -> int:
        """Forget expired bindings; returns how many were removed."""
        removed = 0
        for aor in list(self._bindings):
            current = self._bindings[aor]
            live = tuple(b for b in current if b.expires_at > now)
            removed += len(current) - len(live)
            self.store(aor, live)
        return removed

    def next_expiry(self) -> float | None:
        """When the earliest binding expires (for a purge timer), or None."""
        times = [b.expires_at for bs in self._bindings.values() for b in bs]
        return min(times) if times else None


class _RefusalError(Exception):
    """A REGISTER that must be refused with this response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class Registrar:
    """Answers REGISTER requests for ``domains`` (RFC 3261 §10.3).

    ``digest`` authenticates every REGISTER when given; ``may_register(username, aor)``
    then decides whether that user may change the AOR's bindings (default: the user name
    equals the AOR's user part, §10.3 step 4 leaves the policy to us). ``known_aor(aor)``
    says whether an AOR exists (404 otherwise, step 5); by default every user of our
    domains does. Requested lifetimes below ``min_expires`` get 423 (step 7), above
    ``max_expires`` are shortened; without any, ``default_expires`` applies (3600 unless
    outside those bounds). An AOR keeps at
    most ``max_bindings`` contacts (more: 403).
    """

    def __init__(
        self,
        domains: Iterable[str],
        *,
        location: LocationService | None = None,
        digest: DigestServer | None = None,
        may_register: Callable[[str, str], bool] | None = None,
        known_aor: Callable[[str], bool] | None = None,
        min_expires: int = 60,
        max_expires: int = 7200,
        default_expires: int | None = None,
        max_bindings: int = 16,
    ) -> None:
        if default_expires is None:
            default_expires = max(min_expires, min(3600, max_expires))
        if not 0 < min_expires <= default_expires <= max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")
        self.domains = frozenset(d.lower().strip("[]") for d in domains)
        if not self.domains:
            raise ValueError("a registrar serves at least one domain")
        self.location = location if location is not None else LocationService()
        self.digest = digest
        self.may_register = may_register or _own_aor
        self.known_aor = known_aor
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_bindings = max_bindings

    def __repr__(self) -> str:
        return f"<Registrar {sorted(self.domains)}>"

    def handle(
        self, request: Request, now: float, source: TransportAddress | None = None
    ) -> Response:
        """The response to a REGISTER (RFC 3261 §10.3 steps 1-8)."""
        if request.method != "REGISTER":
            return request.response(405, headers=[("Allow", "REGISTER")])
        try:
            return self._handle(request, now, source)
        except _RefusalError as refusal:
            return refusal.response
        except SipParseError as exc:
            return request.response(400, exc.reason)

    def _handle(self, request: Request, now: float, source: TransportAddress | None) -> Response:
        # Step 1: is the Request-URI's domain ours?
        uri = request.uri
        if not isinstance(uri, SipUri) or uri.host_key not in self.domains:
            raise _RefusalError(request.response(404, "Domain Not Served Here"))
        # Step 2: no option tags are supported here (§8.2.2.3).
        required = request.typed(h.REQUIRE)
        if required:
            raise _RefusalError(
                request.response(420, headers=[("Unsupported", ", ".join(required))])
            )
        # Step 5 first for the AOR the checks below need.
        to_uri = request.to.uri
        try:
            aor = address_of_record(to_uri)
        except ValueError:
            raise _RefusalError(request.response(404, "Not a Valid Address-of-Record")) from None
        assert isinstance(to_uri, SipUri)
        if to_uri.host_key not in self.domains or (
            self.known_aor is not None and not self.known_aor(aor)
        ):
            raise _RefusalError(request.response(404))
        # Steps 3 and 4: who is asking, and may they?
        if self.digest is not None:
            verdict = self.digest.verify(request, now)
            if isinstance(verdict, Challenged):
                raise _RefusalError(verdict.response)
            self._authorize(request, verdict, aor)
        contacts = request.contacts
        # Step 6: "*" only alone and with Expires: 0 (§10.2.2).
        if request.contact_wildcard:
            if len(request.get_all("Contact")) != 1 or request.first(h.EXPIRES) != 0:
                raise _RefusalError(request.response(400, "Invalid Wildcard Contact"))
            return self._remove_all(request, aor, now)
        if not contacts:
            return self._ok(request, aor, now)  # a query (§10.2.3)
        return self._update(request, aor, contacts, now, source)

    def _authorize(self, request: Request, verdict: Authenticated, aor: str) -> None:
        if not self.may_register(verdict.username, aor):
            _log.warn(
                "REGISTER refused: user may not register this AOR",
                username=verdict.username,
                aor=aor,
                call_id=request.call_id,
            )
            raise _RefusalError(request.response(403))

    def _remove_all(self, request: Request, aor: str, now: float) -> Response:
        call_id, cseq = request.call_id, request.cseq.seq
        for binding in self.location.bindings(aor, now):
            self._check_order(request, binding, call_id, cseq)
        self.location.store(aor, ())
        _log.info("all bindings removed", aor=aor, call_id=call_id)
        return self._ok(request, aor, now)

    def _update(
        self,
        request: Request,
        aor: str,
        contacts: tuple[Address, ...],
        now: float,
        source: TransportAddress | None,
    ) -> Response:
        header_expires = request.first(h.EXPIRES)
        call_id, cseq = request.call_id, request.cseq.seq
        current = {b.identity: b for b in self.location.bindings(aor, now)}
        changes: dict[object, Binding | None] = {}
        for contact in contacts:
            requested = contact.expires
            if requested is None:
                requested = header_expires if header_expires is not None else self.default_expires
            if 0 < requested < self.min_expires:
                raise _RefusalError(
                    request.response(423, headers=[("Min-Expires", self.min_expires)])
                )
            stored = contact.with_params(contact.params.without("expires"))
            new = Binding(
                aor=aor,
                contact=stored,
                expires_at=now + min(requested, self.max_expires),
                call_id=call_id,
                cseq=cseq,
                source=source,
            )
            key = new.identity
            existing = current.get(key)
            if existing is not None:
                self._check_order(request, existing, call_id, cseq)
            changes[key] = new if requested > 0 else None
        merged = dict(current)
        for key, binding in changes.items():
            if binding is None:
                merged.pop(key, None)
            else:
                merged[key] = binding
        if len(merged) > self.max_bindings:
            raise _RefusalError(request.response(403, "Too Many Registered Contacts"))
        # Step 7 commits only when every update succeeded.
        self.location.store(aor, merged.values())
        return self._ok(request, aor, now)

    @staticmethod
    def _check_order(request: Request, binding: Binding, call_id: str, cseq: int) -> None:
        """Step 7: the same Call-ID must come with a higher CSeq; else the update fails.

        RFC 3261 names no status; 500 is what §12.2.2 answers to an out-of-order request.
        """
        if binding.call_id == call_id and cseq <= binding.cseq:
            raise _RefusalError(request.response(500, "Out-of-Order REGISTER"))

    def _ok(self, request: Request, aor: str, now: float) -> Response:
        """Step 8: 200 listing every current binding with its remaining lifetime."""
        contacts = [
            b.contact.with_params(b.contact.params.with_param("expires", str(b.remaining(now))))
            for b in self.location.bindings(aor, now)
        ]
        return request.response(200, contact=contacts)


def _own_aor(username: str, aor: str) -> bool:
    """Default policy: an authenticated user registers only the AOR named after them."""
    try:
        parsed = parse_uri(aor)
    except SipParseError:
        return False
    return isinstance(parsed, SipUri) and parsed.user == username


class RegistrarTU:
    """A :class:`Registrar` as a transaction user on a ``TransactionLayer``.

    REGISTER requests are answered by the registrar; OPTIONS gets 200 (RFC 3261 §11.2: a
    server saying it is alive); anything else 405 with ``Allow``. Its timer purges
    expired bindings. For a server that also handles calls, the call-handling TU calls
    :meth:`Registrar.handle` itself instead.
    """

    def __init__(self, layer: TransactionLayer, registrar: Registrar) -> None:
        self.layer = layer
        self.registrar = registrar

    def __repr__(self) -> str:
        return f"<RegistrarTU {self.registrar!r}>"

    def handle_effect(self, effect: TuEffect, now: float) -> list[object]:
        """Answer each new request; nothing else concerns a registrar."""
        if not isinstance(effect, RequestReceived):
            return []
        request = effect.request
        if request.method == "REGISTER":
            response = self.registrar.handle(request, now, effect.source)
        elif request.method == "OPTIONS":
            response = request.response(200, headers=[("Allow", "REGISTER, OPTIONS")])
        else:
            response = request.response(405, headers=[("Allow", "REGISTER, OPTIONS")])
        return list(self.layer.send_response(effect.transaction, response, now))

    def get_timer(self) -> float | None:
        """When the earliest binding expires."""
        return self.registrar.location.next_expiry()

    def handle_timer(self, now: float) -> list[object]:
        """Purge expired bindings."""
        self.registrar.location.purge(now)
        return []
