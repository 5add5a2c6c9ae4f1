"""Registering a user agent's contacts with a registrar (RFC 3261 §10.2).

:class:`RegistrationClient` is a sans-I/O state machine. It produces REGISTER requests and
events, and takes the responses (or the news that none came) and the time:

- :meth:`~RegistrationClient.start` -> the first REGISTER;
- :meth:`~RegistrationClient.handle_response` -> Registered / RegistrationFailed events and,
  when needed, the next REGISTER (digest answer, 423 Min-Expires, unregister after a stop);
- :meth:`~RegistrationClient.handle_failure` -> the same for a timeout (408) or a transport
  failure (503), where no response arrived;
- :meth:`~RegistrationClient.get_timer` / :meth:`~RegistrationClient.handle_timer` -> the
  refresh before the binding expires, or the retry after a failure (RFC 5626 §4.5 back-off);
- :meth:`~RegistrationClient.stop` -> the REGISTER with ``Expires: 0`` removing our bindings.

Outputs are :class:`~sipperc.sip.message.Request` objects (hand them to the transaction layer
as new client transactions, to the registrar's address) and event dataclasses.
One REGISTER is outstanding at a time (§10.2: "A UA MUST NOT send a new registration ...
until it has received a final response ... or the previous REGISTER request has timed
out"). :class:`RegistrationTU` runs the client on a ``TransactionLayer``, with RFC 3263
failover between the located servers.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from twisted.logger import Logger

from sipperc.sip import headers as h
from sipperc.sip.digest import DigestClient
from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import Address
from sipperc.sip.identifiers import new_call_id, new_tag
from sipperc.sip.locate import ServerFailover, Target
from sipperc.sip.message import Request, Response
from sipperc.sip.transaction_effects import (
    ResponseReceived,
    TransactionId,
    TransactionTimeout,
    TransportFailure,
    TuEffect,
)
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.uri import Parameters, SipUri, parse_uri, quote_string

__all__ = [
    "Backoff",
    "Registered",
    "RegistrationClient",
    "RegistrationEvent",
    "RegistrationFailed",
    "RegistrationOutput",
    "RegistrationState",
    "RegistrationTU",
    "Unregistered",
]

_log = Logger(namespace="sipperc.sip.registration")


@dataclass(frozen=True, slots=True)
class Registered:
    """The registrar accepted our contacts for ``expires`` seconds (RFC 3261 §10.2.4).

    ``bindings`` are all the contacts the registrar lists for the AOR (other devices too);
    ``service_route`` is the route to preload on requests sent through this registrar's
    domain (RFC 3608 §6).
    """

    expires: int
    bindings: tuple[Address, ...] = ()
    service_route: tuple[Address, ...] = ()


@dataclass(frozen=True, slots=True)
class RegistrationFailed:
    """A REGISTER failed with ``status`` (408 for a timeout, 503 for a transport failure).

    ``retry_in`` is how many seconds until the next attempt, or None when none is planned
    (after a stop).
    """

    status: int
    reason: str
    retry_in: float | None


@dataclass(frozen=True, slots=True)
class Unregistered:
    """Our bindings are gone (or, after a failed unregister, will simply expire)."""

    removed: bool = True


RegistrationEvent = Registered | RegistrationFailed | Unregistered
RegistrationOutput = Request | RegistrationEvent


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before registering again after failures (RFC 5626 §4.5).

    Wait ``min(max_time, base_time * 2**(failures - 1))`` scaled by a random factor in
    [0.5, 1), so that a registrar coming back is not hit by all its phones at once. A
    ``Retry-After`` in the failure response wins when it is longer.
    """

    base_time: float = 30.0
    max_time: float = 1800.0

    def delay(self, failures: int, draw: float) -> float:
        """The wait after ``failures`` consecutive failures, ``draw`` a random number in [0, 1)."""
        ceiling = min(self.max_time, self.base_time * 2.0 ** max(0, failures - 1))
        return ceiling * (0.5 + draw / 2)


class RegistrationState(enum.Enum):
    """Where a registration stands."""

    IDLE = "idle"  # not started
    REGISTERING = "registering"  # a REGISTER (first or refresh) is outstanding
    REGISTERED = "registered"  # bound; the refresh timer runs
    WAITING = "waiting"  # the last attempt failed; the retry timer runs
    STOPPING = "stopping"  # stop() came while a REGISTER was outstanding
    UNREGISTERING = "unregistering"  # the Expires: 0 REGISTER is outstanding
    STOPPED = "stopped"


class _Input(enum.Enum):
    START = "start"
    SUCCESS = "2xx"
    RESUBMIT = "answerable 401/407/423"
    FAILURE = "failure"
    TIMER = "timer"
    STOP = "stop"


S = RegistrationState
I = _Input  # noqa: E741 - the table reads better with a one-letter alias

_TRANSITIONS: dict[tuple[RegistrationState, _Input], RegistrationState] = {
    (S.IDLE, I.START): S.REGISTERING,
    (S.IDLE, I.STOP): S.STOPPED,
    (S.STOPPED, I.START): S.REGISTERING,
    (S.REGISTERING, I.SUCCESS): S.REGISTERED,
    (S.REGISTERING, I.RESUBMIT): S.REGISTERING,
    (S.REGISTERING, I.FAILURE): S.WAITING,
    (S.REGISTERING, I.STOP): S.STOPPING,
    (S.REGISTERED, I.TIMER): S.REGISTERING,
    (S.REGISTERED, I.STOP): S.UNREGISTERING,
    (S.WAITING, I.TIMER): S.REGISTERING,
    (S.WAITING, I.STOP): S.UNREGISTERING,
    (S.STOPPING, I.SUCCESS): S.UNREGISTERING,
    (S.STOPPING, I.RESUBMIT): S.STOPPING,
    (S.STOPPING, I.FAILURE): S.UNREGISTERING,
    (S.UNREGISTERING, I.SUCCESS): S.STOPPED,
    (S.UNREGISTERING, I.RESUBMIT): S.UNREGISTERING,
    (S.UNREGISTERING, I.FAILURE): S.STOPPED,
}
"""(state, input) -> next state. A pair not listed changes nothing and produces nothing
(a response in a state without an outstanding request, a second start...)."""


class RegistrationClient:
    """Keeps a user agent's contacts registered for one address-of-record (RFC 3261 §10.2).

    ``aor`` goes in To and From; ``contacts`` are the URIs we are reachable at (several are
    allowed). ``registrar`` is the Request-URI, by default the AOR's domain (§10.2: no user
    part). ``expires`` is what we ask for; the registrar's answer rules, and a 423 raises it
    to the registrar's Min-Expires (§10.2.8). ``digest`` answers challenges from ``hop`` (the
    host REGISTERs are sent to: default the first ``route`` entry's host or the registrar's)
    and authorizes refreshes up front. ``instance_id`` adds ``+sip.instance`` (RFC 5626 §4.1)
    to each contact, a ``urn:uuid:...`` that stays the same across reboots of the device.

    Refreshes go out ``refresh_margin`` seconds before the binding expires, or at half the
    granted time when that is shorter. Failures are retried with :class:`Backoff`.
    """

    def __init__(
        self,
        aor: SipUri | str,
        contacts: Sequence[Address | str],
        *,
        registrar: SipUri | str | None = None,
        expires: int = 3600,
        digest: DigestClient | None = None,
        hop: str | None = None,
        route: Sequence[Address | str] = (),
        instance_id: str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        refresh_margin: float = 60.0,
        backoff: Backoff = Backoff(),
        call_id: str | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        parsed = parse_uri(aor) if isinstance(aor, str) else aor
        if not isinstance(parsed, SipUri):
            raise ValueError(f"the address-of-record must be a SIP or SIPS URI, not {aor}")
        if expires <= 0:
            raise ValueError("expires must be positive (stop() unregisters)")
        if not contacts:
            raise ValueError("register at least one contact")
        self.aor = parsed.without_headers()
        registrar_uri = registrar if registrar is not None else self._domain_uri(self.aor)
        parsed_registrar = (
            parse_uri(registrar_uri) if isinstance(registrar_uri, str) else registrar_uri
        )
        if not isinstance(parsed_registrar, SipUri) or parsed_registrar.user is not None:
            raise ValueError(f"the registrar must be a SIP URI without a user part: {registrar}")
        self.registrar = parsed_registrar
        self.route = tuple(Address.parse(r) if isinstance(r, str) else r for r in route)
        self.contacts = tuple(
            self._with_instance(Address.parse(c) if isinstance(c, str) else c, instance_id)
            for c in contacts
        )
        if hop is None:
            first = self.route[0].uri if self.route else self.registrar
            hop = first.host if isinstance(first, SipUri) else self.registrar.host
        self.hop = hop
        self.expires = expires
        self.digest = digest
        self.refresh_margin = refresh_margin
        self.backoff = backoff
        self.call_id = call_id or new_call_id()
        self._headers = tuple(headers)
        self._draw = draw
        self._from_tag = new_tag()
        self._cseq = 0
        self._state = RegistrationState.IDLE
        self._pending: Request | None = None
        self._timer: float | None = None
        self._failures = 0
        self._bound_until: float | None = None
        self._remove_all = False

    @staticmethod
    def _domain_uri(aor: SipUri) -> SipUri:
        return SipUri(host=aor.host, port=aor.port, scheme=aor.scheme)

    @staticmethod
    def _with_instance(contact: Address, instance_id: str | None) -> Address:
        if instance_id is None:
            return contact
        value = quote_string(f"<{instance_id}>")
        return contact.with_params(contact.params.with_param("+sip.instance", value))

    def __repr__(self) -> str:
        return f"<RegistrationClient {self.aor} {self._state.value}>"

    # --- what the outside sees -----------------------------------------------------------------

    @property
    def state(self) -> RegistrationState:
        """Where the registration stands."""
        return self._state

    @property
    def registered_until(self) -> float | None:
        """When the binding the registrar last confirmed expires, or None when there is none."""
        return self._bound_until

    @property
    def pending(self) -> Request | None:
        """The REGISTER awaiting its final response, if any."""
        return self._pending

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` wants to run next (refresh or retry), or None."""
        return self._timer

    # --- inputs ----------------------------------------------------------------------------

    def start(self, now: float) -> list[RegistrationOutput]:
        """Register: returns the first REGISTER."""
        return self._step(_Input.START, now)

    def stop(self, now: float, *, all_bindings: bool = False) -> list[RegistrationOutput]:
        """Unregister: a REGISTER with ``Expires: 0`` for our contacts (RFC 3261 §10.2.2).

        ``all_bindings`` sends ``Contact: *``, removing the AOR's other devices too. When a
        REGISTER is outstanding the unregister follows its final response.
        """
        self._remove_all = all_bindings
        return self._step(_Input.STOP, now)

    def handle_timer(self, now: float) -> list[RegistrationOutput]:
        """Refresh or retry when the timer is due; nothing otherwise."""
        if self._timer is None or now < self._timer:
            return []
        self._timer = None
        return self._step(_Input.TIMER, now)

    def handle_response(self, response: Response, now: float) -> list[RegistrationOutput]:
        """Take a response to the outstanding REGISTER (others, and 1xx, are ignored)."""
        pending = self._pending
        if pending is None or response.status_code < 200:
            return []
        try:
            matches = response.call_id == pending.call_id and response.cseq == pending.cseq
        except SipParseError:
            return []
        if not matches:
            return []
        if response.is_success:
            return self._step(_Input.SUCCESS, now, response=response)
        retry = self._resubmission(pending, response)
        if retry is not None:
            return self._step(_Input.RESUBMIT, now, request=retry)
        return self._step(
            _Input.FAILURE,
            now,
            status=response.status_code,
            reason=response.reason,
            retry_after=_retry_after(response),
        )

    def handle_failure(self, status: int, reason: str, now: float) -> list[RegistrationOutput]:
        """No response to the outstanding REGISTER (RFC 3261 §8.1.3.1).

        ``status`` is 408 after a timeout, 503 when the transport failed. Try the next server
        first, if there is one (RFC 3263 §4.3); call this when there is none left.
        """
        if self._pending is None:
            return []
        return self._step(_Input.FAILURE, now, status=status, reason=reason)

    # --- the machine ---------------------------------------------------------------------------

    def _step(
        self,
        event: _Input,
        now: float,
        *,
        response: Response | None = None,
        request: Request | None = None,
        status: int = 0,
        reason: str = "",
        retry_after: float | None = None,
    ) -> list[RegistrationOutput]:
        before = self._state
        after = _TRANSITIONS.get((before, event))
        if after is None:
            return []
        self._state = after
        out: list[RegistrationOutput] = []
        if event is _Input.START:
            self._failures = 0
            out.append(self._send(self._register(self.expires)))
        elif event is _Input.TIMER:
            out.append(self._send(self._register(self.expires)))
        elif event is _Input.RESUBMIT:
            assert request is not None
            out.append(self._send(request))
        elif event is _Input.SUCCESS:
            assert response is not None
            self._pending = None
            out.extend(self._succeeded(before, response, now))
        elif event is _Input.FAILURE:
            self._pending = None
            out.extend(self._failed(before, status, reason, retry_after, now))
        elif event is _Input.STOP:
            self._timer = None
        if self._state is S.UNREGISTERING and self._pending is None:
            out.append(self._send(self._unregister()))
        return out

    def _succeeded(
        self, before: RegistrationState, response: Response, now: float
    ) -> list[RegistrationOutput]:
        if before is S.UNREGISTERING:
            self._bound_until = None
            _log.info("unregistered", aor=str(self.aor), call_id=self.call_id)
            return [Unregistered()]
        granted = self._granted(response)
        if granted <= 0:
            # A 2xx that keeps none of our contacts: no binding to refresh.
            self._state = S.WAITING if before is S.REGISTERING else S.UNREGISTERING
            return self._failed(before, response.status_code, "no binding granted", None, now)
        self._failures = 0
        self._bound_until = now + granted
        event = Registered(
            expires=granted,
            bindings=response.contacts,
            service_route=response.typed(_SERVICE_ROUTE),
        )
        if before is S.STOPPING:
            return [event]  # _step sends the unregister
        self._timer = now + granted - min(self.refresh_margin, granted / 2)
        _log.info("registered", aor=str(self.aor), expires=granted, call_id=self.call_id)
        return [event]

    def _failed(
        self,
        before: RegistrationState,
        status: int,
        reason: str,
        retry_after: float | None,
        now: float,
    ) -> list[RegistrationOutput]:
        if self._bound_until is not None and now >= self._bound_until:
            self._bound_until = None
        if before is S.UNREGISTERING:
            _log.warn("unregister failed", aor=str(self.aor), status=status, reason=reason)
            self._bound_until = None
            return [RegistrationFailed(status, reason, None), Unregistered(removed=False)]
        if before is S.STOPPING:
            return [RegistrationFailed(status, reason, None)]
        self._failures += 1
        delay = self.backoff.delay(self._failures, self._draw())
        if retry_after is not None:
            delay = max(delay, retry_after)
        self._timer = now + delay
        _log.warn(
            "registration failed",
            aor=str(self.aor),
            status=status,
            reason=reason,
            retry_in=round(delay, 1),
            call_id=self.call_id,
        )
        return [RegistrationFailed(status, reason, delay)]

    def _send(self, request: Request) -> Request:
        self._pending = request
        self._cseq = request.cseq.seq
        return request

    # --- requests --------------------------------------------------------------------------

    def _register(self, expires: int) -> Request:
        """A REGISTER binding our contacts for ``expires`` seconds (RFC 3261 §10.2.1)."""
        self._cseq += 1
        request = Request.build(
            "REGISTER",
            self.registrar,
            from_=Address(self.aor, params=Parameters([("tag", self._from_tag)])),
            to=Address(self.aor),
            call_id=self.call_id,
            cseq=self._cseq,
            route=self.route,
            contact=self.contacts,
            headers=[("Expires", expires), *self._headers],
        )
        if self.digest is not None:
            request = self.digest.authorize(request, self.hop)
        return request

    def _unregister(self) -> Request:
        """The REGISTER removing our bindings (RFC 3261 §10.2.2)."""
        request = self._register(0)
        if self._remove_all:
            request = request.replace("Contact", "*")
        return request

    def _resubmission(self, pending: Request, response: Response) -> Request | None:
        """The REGISTER to send after a 401/407 or 423, or None when this is a failure."""
        if response.status_code in (401, 407):
            if self.digest is None:
                return None
            return self.digest.answer_challenge(pending, response, self.hop, cseq=self._cseq + 1)
        if response.status_code == 423 and self._state is not S.UNREGISTERING:
            # §10.2.8: retry with an interval at least Min-Expires. Only ever upwards, so a
            # registrar repeating the same 423 cannot keep us looping.
            try:
                minimum = response.first(h.MIN_EXPIRES)
            except SipParseError:
                return None
            if minimum is None or minimum <= self.expires:
                return None
            self.expires = minimum
            return self._register(minimum)
        return None

    def _granted(self, response: Response) -> int:
        """The lifetime the registrar gave our contacts (§10.2.4).

        Our contacts' ``expires`` parameters in the 200, else its Expires header, else what we
        asked for. If the registrar lists bindings but rewrote ours beyond recognition, the
        Expires header or our request is all there is to go by.
        """
        try:
            header_expires = response.first(h.EXPIRES)
            listed = response.contacts
        except SipParseError:
            header_expires, listed = None, ()
        fallback = self.expires if header_expires is None else header_expires
        ours = [b for b in listed if any(b.uri == c.uri for c in self.contacts)]
        if not ours:
            return fallback
        return min(fallback if b.expires is None else b.expires for b in ours)


_SERVICE_ROUTE = h.TypedHeader("service-route", h.ROUTE.parse, single=False)


def _retry_after(response: Response) -> float | None:
    """Seconds from a Retry-After header (RFC 3261 §20.33), ignoring comment and params."""
    value = response.get("Retry-After")
    if value is None:
        return None
    digits = value.split(";")[0].split("(")[0].strip()
    return float(digits) if digits.isdigit() else None


class RegistrationTU:
    """A :class:`RegistrationClient` as a transaction user on a ``TransactionLayer``.

    Sends each REGISTER as a new client transaction to the current target and feeds the
    client its outcome. A 503, a timeout or a transport failure first moves on to the next
    target of the RFC 3263 list (§4.3, the same request in a new transaction); only when
    every target failed does the client hear of it, and the next attempt starts again from
    the first target. Implements the ``TransactionUser`` protocol: the edge hands it the
    layer's TU effects and arms its timer; what it returns are effects for the edge
    (``SendMessage``...) and :data:`RegistrationEvent` s for the application.
    """

    def __init__(
        self,
        layer: TransactionLayer,
        client: RegistrationClient,
        targets: Iterable[Target],
    ) -> None:
        self.layer = layer
        self.client = client
        self._targets = tuple(targets)
        if not self._targets:
            raise ValueError("no target to send REGISTER to (nothing located)")
        self._failover = ServerFailover(self._targets)
        self._transaction: TransactionId | None = None
        self._request: Request | None = None

    def __repr__(self) -> str:
        return f"<RegistrationTU {self.client!r}>"

    def start(self, now: float) -> list[object]:
        """Register (see :meth:`RegistrationClient.start`)."""
        return self._process(self.client.start(now), now)

    def stop(self, now: float, *, all_bindings: bool = False) -> list[object]:
        """Unregister (see :meth:`RegistrationClient.stop`)."""
        return self._process(self.client.stop(now, all_bindings=all_bindings), now)

    def get_timer(self) -> float | None:
        """The client's refresh or retry deadline."""
        return self.client.get_timer()

    def handle_timer(self, now: float) -> list[object]:
        """Refresh or retry when due."""
        return self._process(self.client.handle_timer(now), now)

    def handle_effect(self, effect: TuEffect, now: float) -> list[object]:
        """The outcome of our REGISTER transaction; other effects are not ours."""
        if isinstance(effect, ResponseReceived) and effect.transaction == self._transaction:
            response = effect.response
            if response.status_code == 503 and self._retry_elsewhere():
                return self._send_again(now)
            if response.status_code >= 200:
                self._done()
            return self._process(self.client.handle_response(response, now), now)
        if (
            isinstance(effect, TransactionTimeout | TransportFailure)
            and effect.transaction == self._transaction
        ):
            if self._retry_elsewhere():
                return self._send_again(now)
            self._done()
            if isinstance(effect, TransactionTimeout):
                status, reason = 408, "Request Timeout"
            else:
                status, reason = 503, f"Service Unavailable ({effect.reason})"
            return self._process(self.client.handle_failure(status, reason, now), now)
        return []

    def _retry_elsewhere(self) -> bool:
        if self._failover.next() is not None:
            return True
        self._failover = ServerFailover(self._targets)  # the next attempt starts over
        return False

    def _done(self) -> None:
        self._transaction = None
        self._request = None

    def _send_again(self, now: float) -> list[object]:
        assert self._request is not None
        return self._send(self._request, now)

    def _send(self, request: Request, now: float) -> list[object]:
        target = self._failover.current
        assert target is not None
        self._request = request
        self._transaction, effects = self.layer.send_request(request, target.address, now)
        return list(effects)

    def _process(self, outputs: list[RegistrationOutput], now: float) -> list[object]:
        out: list[object] = []
        for item in outputs:
            if isinstance(item, Request):
                out.extend(self._send(item, now))
            else:
                out.append(item)
        return out
