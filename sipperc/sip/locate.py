"""Locating SIP servers (RFC 3263): which transport, address and port to send a request to.

:class:`ServerLocator` is the sans-I/O planner. Given a URI (the first Route, or the
Request-URI, or an outbound proxy) it asks for DNS records and turns the answers into an
ordered list of :class:`Target` s:

- §4.1 transport: the URI's ``transport`` parameter; else UDP (TLS for SIPS) for a numeric
  IP or an explicit port; else NAPTR records (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``) in
  order/preference; else SRV queries for each transport we support; else A/AAAA on the host.
- §4.2 addresses: SRV records ordered by priority and weighted at random within a priority
  (RFC 2782), each target's A and AAAA records; a SIPS URI only ever yields TLS targets.
- §4.3 failover: the UA tries the targets in order, moving on after a 503, a timeout or a
  transport failure (:class:`ServerFailover`).

:class:`DnsServerLocator` runs the planner over ``twisted.names`` (any ``IResolver``;
:func:`dns_server_resolver` for one given server), and returns a ``Deferred`` that fires
with the targets, or fails with :class:`ServerNotFoundError` listing each query tried and
its outcome. Each :class:`Target` says how it was found (``found_by``) for progress output.
:class:`LocatedServers` keeps targets located ahead of time and serves them as the
synchronous ``locate`` of a ``UserAgent``, so DNS never blocks the reactor.
"""

from __future__ import annotations

import enum
import ipaddress
import random
import socket
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, fail, gatherResults
from twisted.internet.defer import TimeoutError as DeferredTimeoutError
from twisted.logger import Logger
from twisted.names import dns, error
from twisted.names.cache import CacheResolver
from twisted.names.client import Resolver
from twisted.names.hosts import Resolver as HostsResolver
from twisted.names.resolve import ResolverChain
from twisted.python.failure import Failure

from sipperc.sip.transport_address import DEFAULT_PORTS, TransportAddress
from sipperc.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "DnsQuery",
    "DnsServerLocator",
    "LocateError",
    "LocatedServers",
    "Lookup",
    "NaptrRecord",
    "RecordType",
    "ServerFailover",
    "ServerLocator",
    "ServerNotFoundError",
    "SrvRecord",
    "Target",
    "dns_server_resolver",
    "is_numeric_host",
    "order_srv",
    "system_resolver",
]

_log = Logger(namespace="sipperc.sip.locate")


class LocateError(ValueError):
    """A URI that no server can be located for (not SIP, or a transport we cannot use)."""


class RecordType(enum.Enum):
    """The DNS record types RFC 3263 uses."""

    NAPTR = "NAPTR"
    SRV = "SRV"
    A = "A"
    AAAA = "AAAA"


@dataclass(frozen=True, slots=True)
class DnsQuery:
    """One lookup the planner needs: ``name`` (no trailing dot) and record type."""

    name: str
    type: RecordType


@dataclass(frozen=True, slots=True)
class Lookup:
    """One DNS query that was run and what came of it ("2 records", "no such name"...)."""

    query: DnsQuery
    outcome: str

    def __str__(self) -> str:
        return f"{self.query.type.value} {self.query.name}: {self.outcome}"


class ServerNotFoundError(LocateError):
    """DNS gave no address for the URI: ``lookups`` are the queries tried, in order."""

    def __init__(self, uri: Uri, lookups: Sequence[Lookup]) -> None:
        self.uri = uri
        self.lookups = tuple(lookups)
        tried = "; ".join(str(lookup) for lookup in self.lookups) or "nothing to look up"
        host = uri.host if isinstance(uri, SipUri) else str(uri)
        super().__init__(f"no SIP server found for {host} (RFC 3263), tried: {tried}")


@dataclass(frozen=True, slots=True)
class NaptrRecord:
    """A NAPTR record (RFC 3403 §4.1); only ``S``-flag SIP services matter here."""

    order: int
    preference: int
    flags: str
    service: str
    replacement: str
    regexp: str = ""


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """An SRV record (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str


Record = NaptrRecord | SrvRecord | str
"""What an answer holds: NAPTR or SRV records, or addresses (text) for A/AAAA."""


@dataclass(frozen=True, slots=True)
class Target:
    """One place to send the request: a transport address and the server's name.

    ``server_name`` is the host of the URI being resolved: what a TLS client checks the
    server certificate against (RFC 5922 §4.1), not the SRV target. ``found_by`` says how
    the address was found, for people ("SRV _sip._udp.example.com", "A example.com",
    "numeric host"); it is not part of the target's identity.
    """

    address: TransportAddress
    server_name: str
    found_by: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.address} ({self.server_name})"


# NAPTR services of RFC 3263 §4.1 and RFC 3261 §26 -> our transport names.
_SERVICES = {"sip+d2u": "udp", "sip+d2t": "tcp", "sips+d2t": "tls"}
# SRV owner-name prefixes of RFC 3263 §4.1.
_SRV_PREFIX = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}

DEFAULT_TRANSPORTS = ("udp", "tcp", "tls")
"""Transports we can send on, in the order we prefer them when DNS leaves the choice to us
(UDP first, as RFC 3263 §4.1 has it for a SIP URI without NAPTR records)."""


def order_srv(records: Iterable[SrvRecord], draw: Callable[[], float]) -> list[SrvRecord]:
    """SRV records in the order to try them (RFC 2782 "Usage rules").

    Lowest priority first; within a priority, a weighted random choice: records of weight 0
    first among their peers, the running sum of weights compared with a uniform number in
    [0, sum], the first record whose running sum reaches it chosen, removed, and the process
    repeated. ``draw`` gives numbers in [0, 1). A target of ``.`` means "no such service"
    and is dropped.
    """
    usable = [r for r in records if r.target not in ("", ".")]
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in usable}):
        group = sorted((r for r in usable if r.priority == priority), key=lambda r: r.weight != 0)
        while group:
            total = sum(r.weight for r in group)
            chosen = draw() * total
            running = 0
            pick = len(group) - 1
            for i, record in enumerate(group):
                running += record.weight
                if running >= chosen:
                    pick = i
                    break
            ordered.append(group.pop(pick))
    return ordered


def is_numeric_host(host: str) -> bool:
    """True for an IPv4 or IPv6 address (brackets allowed): a host RFC 3263 needs no DNS for."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class ServerLocator:
    """The RFC 3263 planner for one URI.

    Ask :meth:`queries`, feed :meth:`answer`, read :attr:`targets` once :attr:`done`. All
    queries returned by one :meth:`queries` call can run in parallel; the next batch is known
    once every one of them has been answered (an empty list for no records, a
    name error or a failed lookup: RFC 3263 then falls back to the next step).
    ``transports`` are the transports we can use, in our order of preference; ``draw``
    gives the random numbers of the RFC 2782 weighting; ``prefer_ipv6`` puts AAAA
    addresses before A addresses of the same name.
    """

    def __init__(
        self,
        uri: Uri | str,
        *,
        transports: Sequence[str] = DEFAULT_TRANSPORTS,
        prefer_ipv6: bool = False,
        draw: Callable[[], float] = random.random,
    ) -> None:
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        if not isinstance(parsed, SipUri):
            raise LocateError(f"cannot locate a server for {uri}: not a SIP or SIPS URI")
        unknown = set(transports) - set(_SRV_PREFIX)
        if unknown or not transports:
            raise LocateError(f"transports must be chosen from udp, tcp, tls: {transports}")
        if parsed.secure and "tls" not in transports:
            raise LocateError(f"{uri} needs TLS (RFC 3261 §26.2.2), which is not enabled")
        self.uri = parsed
        self.transports = tuple(transports)
        self.prefer_ipv6 = prefer_ipv6
        self._draw = draw
        self._answers: dict[DnsQuery, list[Record]] = {}
        self._batch: list[DnsQuery] = []
        self._targets: list[Target] | None = None
        self._started = False
        self._plan = self._run()
        self._advance()

    def __repr__(self) -> str:
        return f"<ServerLocator {self.uri} done={self.done}>"

    @property
    def done(self) -> bool:
        """True when :attr:`targets` is final."""
        return self._targets is not None

    @property
    def targets(self) -> tuple[Target, ...]:
        """The targets in the order to try them (empty when nothing was found)."""
        if self._targets is None:
            raise RuntimeError("the lookup is not finished: answer the outstanding queries")
        return tuple(self._targets)

    def queries(self) -> list[DnsQuery]:
        """The lookups to run now (empty once done)."""
        return [q for q in self._batch if q not in self._answers]

    def answer(self, query: DnsQuery, records: Iterable[Record]) -> None:
        """Give the result of one query of the current batch; [] for none or a failure."""
        if query not in self._batch:
            raise ValueError(f"{query} was not asked for")
        self._answers[query] = list(records)
        if not self.queries():
            self._advance()

    def _advance(self) -> None:
        answers = {q: self._answers.get(q, []) for q in self._batch}
        try:
            batch = self._plan.send(answers) if self._started else next(self._plan)
            self._started = True
            while not batch:  # nothing to look up at this step: go on to the next
                batch = self._plan.send({})
        except StopIteration as finished:
            self._batch = []
            self._targets = finished.value
            return
        self._batch = list(dict.fromkeys(batch))  # two NAPTRs may name one SRV owner
        self._answers = {}

    # --- the plan, written as the RFC reads (a generator: yield queries, get answers) ------

    def _run(self) -> Generator[list[DnsQuery], dict[DnsQuery, list[Record]], list[Target]]:
        uri = self.uri
        host = uri.maddr or uri.host_key  # §4: maddr overrides the host
        host = host.strip("[]").rstrip(".")
        name = uri.host_key.strip("[]").rstrip(".")
        transport = self._transport_parameter()
        default = "tls" if uri.secure else "udp"
        if is_numeric_host(host):
            chosen = transport or default
            self._check_supported(chosen)
            port = uri.port or DEFAULT_PORTS[chosen]
            return [Target(TransportAddress(chosen, host, port), name, "numeric host")]
        if uri.port is not None:  # §4.1/§4.2: an explicit port skips NAPTR and SRV
            chosen = transport or default
            self._check_supported(chosen)
            addresses = yield from self._addresses([host])
            return [
                Target(TransportAddress(chosen, a, uri.port), name, f"{kind.value} {host}")
                for a, kind in addresses[host]
            ]
        services: list[tuple[str, str]] = []  # (transport, SRV owner name) in order
        from_naptr = False
        if transport is not None:
            self._check_supported(transport)
            services = [(transport, f"{_SRV_PREFIX[transport]}.{host}")]
        else:
            naptr_query = DnsQuery(host, RecordType.NAPTR)
            naptr = (yield [naptr_query])[naptr_query]
            services = self._naptr_services(naptr)
            from_naptr = bool(services)
            if not services:
                services = [
                    (t, f"{_SRV_PREFIX[t]}.{host}") for t in self._allowed() if t in self.transports
                ]
        srv_queries = [DnsQuery(owner, RecordType.SRV) for _, owner in services]
        srv_answers = yield srv_queries
        plan: list[tuple[str, str, SrvRecord]] = []
        for (service_transport, owner), query in zip(services, srv_queries, strict=True):
            records = [r for r in srv_answers[query] if isinstance(r, SrvRecord)]
            found_by = f"SRV {owner}" + (f" from NAPTR {host}" if from_naptr else "")
            plan.extend((service_transport, found_by, r) for r in order_srv(records, self._draw))
        if not plan:  # §4.2: no SRV records -> A/AAAA on the host, default port
            chosen = transport or default
            self._check_supported(chosen)
            addresses = yield from self._addresses([host])
            port = DEFAULT_PORTS[chosen]
            return [
                Target(TransportAddress(chosen, a, port), name, f"{kind.value} {host}")
                for a, kind in addresses[host]
            ]
        names = list(
            dict.fromkeys(r.target.rstrip(".") for _, _, r in plan if not is_numeric_host(r.target))
        )
        addresses = yield from self._addresses(names)
        targets: list[Target] = []
        for service_transport, found_by, record in plan:
            target_name = record.target.rstrip(".")
            found = (
                [target_name]
                if is_numeric_host(target_name)
                else [a for a, _ in addresses[target_name]]
            )
            for address in found:
                address_of = TransportAddress(service_transport, address, record.port)
                target = Target(address_of, name, found_by)
                if target not in targets:
                    targets.append(target)
        return targets

    def _addresses(
        self, names: list[str]
    ) -> Generator[
        list[DnsQuery], dict[DnsQuery, list[Record]], dict[str, list[tuple[str, RecordType]]]
    ]:
        """Each name's addresses, with the record type that gave each (A or AAAA)."""
        if not names:
            return {}
        kinds = (
            (RecordType.AAAA, RecordType.A)
            if self.prefer_ipv6
            else (
                RecordType.A,
                RecordType.AAAA,
            )
        )
        queries = [DnsQuery(n, kind) for n in names for kind in kinds]
        answers = yield queries
        found: dict[str, list[tuple[str, RecordType]]] = {n: [] for n in names}
        for query in queries:
            known = {a for a, _ in found[query.name]}
            for record in answers[query]:
                if isinstance(record, str) and is_numeric_host(record) and record not in known:
                    found[query.name].append((record, query.type))
                    known.add(record)
        return found

    def _transport_parameter(self) -> str | None:
        """The transport the URI names (§4.1), as a transport we know, or None."""
        param = self.uri.transport
        if param is None:
            return None
        if self.uri.secure:
            # RFC 3261 §26.2.2: SIPS means TLS; transport=tcp says TLS over TCP.
            if param in ("tcp", "tls"):
                return "tls"
            raise LocateError(f"{self.uri}: a SIPS URI cannot use transport={param}")
        if param not in _SRV_PREFIX:
            raise LocateError(f"{self.uri}: transport={param} is not supported here")
        return param

    def _allowed(self) -> tuple[str, ...]:
        """Transports this URI may use in our order of preference: TLS only for SIPS."""
        return ("tls",) if self.uri.secure else self.transports

    def _check_supported(self, transport: str) -> None:
        if transport not in self.transports:
            raise LocateError(f"{self.uri} needs {transport}, which is not enabled")

    def _naptr_services(self, records: list[Record]) -> list[tuple[str, str]]:
        """NAPTR records we can use, in order then preference (RFC 3403 §4.1, RFC 3263 §4.1)."""
        usable = []
        allowed = self._allowed()
        for record in records:
            if not isinstance(record, NaptrRecord) or record.flags.lower() != "s":
                continue
            transport = _SERVICES.get(record.service.lower())
            if transport is None or transport not in allowed or not record.replacement:
                continue
            usable.append((record.order, record.preference, transport, record.replacement))
        usable.sort(key=lambda item: (item[0], item[1]))
        return [(t, replacement.rstrip(".")) for _, _, t, replacement in usable]


class ServerFailover:
    """Walks a target list the RFC 3263 §4.3 way.

    The UA sends to :attr:`current`; when that target fails (a 503, a timeout, a transport
    error: :meth:`fails_over`), it calls :meth:`next` and sends the same request as a new
    transaction (new branch) to the next target, until none is left.
    """

    def __init__(self, targets: Iterable[Target]) -> None:
        self.targets = tuple(targets)
        self._index = 0

    def __repr__(self) -> str:
        return f"<ServerFailover {self._index + 1}/{len(self.targets)}>"

    @property
    def current(self) -> Target | None:
        """The target to use now, or None when all have failed."""
        return self.targets[self._index] if self._index < len(self.targets) else None

    def next(self) -> Target | None:
        """Give up on the current target; the next one, or None when there is none."""
        if self._index < len(self.targets):
            self._index += 1
        return self.current

    @staticmethod
    def fails_over(status: int) -> bool:
        """True for the outcomes that move to the next target (RFC 3263 §4.3).

        503 Service Unavailable, and the 408 and 503 a UA makes up itself for a transaction
        timeout or a transport failure (RFC 3261 §8.1.3.1).
        """
        return status in (408, 503)


class LocatedServers:
    """Targets located ahead of time, as the synchronous ``locate`` of a user agent.

    The application looks the first hop up (:class:`DnsServerLocator`, asynchronously) and
    :meth:`remember` s the targets; the user agent then calls this with each next-hop URI and
    gets the addresses remembered for the same scheme, host, port and transport (``lr`` and
    other parameters aside: a Record-Route naming the proxy finds the proxy's targets), or
    the address of a numeric host (RFC 3263 needs no DNS for those), or nothing.
    """

    def __init__(self, transports: Sequence[str] = DEFAULT_TRANSPORTS) -> None:
        self.transports = tuple(transports)
        self._known: dict[tuple[bool, str, int | None, str | None], tuple[Target, ...]] = {}

    def __repr__(self) -> str:
        return f"<LocatedServers {len(self._known)} URIs>"

    @staticmethod
    def _key(uri: SipUri) -> tuple[bool, str, int | None, str | None]:
        host = (uri.maddr or uri.host_key).strip("[]").rstrip(".").lower()
        transport = uri.transport.lower() if uri.transport else None
        return uri.secure, host, uri.port, transport

    def remember(self, uri: Uri | str, targets: Iterable[Target]) -> None:
        """Keep ``targets`` (in order) as where requests to ``uri`` go."""
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        if not isinstance(parsed, SipUri):
            raise LocateError(f"{uri} is not a SIP or SIPS URI")
        self._known[self._key(parsed)] = tuple(targets)

    def targets(self, uri: SipUri) -> tuple[Target, ...]:
        """The targets for ``uri``: remembered, or its numeric host's; () when unknown.

        A URI naming a transport also finds the targets of that transport remembered for
        the same URI without one (a Record-Route ``;transport=tcp`` of the outbound proxy).
        """
        key = self._key(uri)
        known = self._known.get(key)
        if known is not None:
            return known
        secure, host, port, transport = key
        if transport is not None:
            wanted = "tls" if secure else transport
            some = self._known.get((secure, host, port, None), ())
            matching = tuple(t for t in some if t.address.transport == wanted)
            if matching:
                return matching
        locator = ServerLocator(uri, transports=self.transports)
        return locator.targets if locator.done else ()

    def __call__(self, uri: SipUri) -> list[TransportAddress]:
        """The addresses to try for ``uri``, in order (the user agent's ``locate``)."""
        return [target.address for target in self.targets(uri)]


# --- the twisted.names adapter ----------------------------------------------------------------

_LOOKUPS = {
    RecordType.NAPTR: "lookupNamingAuthorityPointer",
    RecordType.SRV: "lookupService",
    RecordType.A: "lookupAddress",
    RecordType.AAAA: "lookupIPV6Address",
}


def _records(query: DnsQuery, result: Any) -> list[Record]:
    """Our records from a twisted.names ``(answers, authority, additional)`` result."""
    answers = result[0]
    out: list[Record] = []
    for rr in answers:
        payload = rr.payload
        if query.type is RecordType.NAPTR and rr.type == dns.NAPTR:
            out.append(
                NaptrRecord(
                    order=payload.order,
                    preference=payload.preference,
                    flags=payload.flags.string.decode("ascii", "replace"),
                    service=payload.service.string.decode("ascii", "replace"),
                    replacement=payload.replacement.name.decode("ascii", "replace"),
                    regexp=payload.regexp.string.decode("ascii", "replace"),
                )
            )
        elif query.type is RecordType.SRV and rr.type == dns.SRV:
            out.append(
                SrvRecord(
                    payload.priority,
                    payload.weight,
                    payload.port,
                    payload.target.name.decode("ascii", "replace"),
                )
            )
        elif query.type is RecordType.A and rr.type == dns.A:
            out.append(payload.dottedQuad())
        elif query.type is RecordType.AAAA and rr.type == dns.AAAA:
            out.append(socket.inet_ntop(socket.AF_INET6, payload.address))
    return out


class DnsServerLocator:
    """RFC 3263 over ``twisted.names``: ``locate(uri)`` fires with the targets.

    ``resolver`` is any ``twisted.names`` ``IResolver`` (default: the system's, from
    ``/etc/resolv.conf``; :func:`dns_server_resolver` for one given server). A failed lookup
    counts as "no records", so the RFC's fallbacks apply. The Deferred fails with
    :class:`ServerNotFoundError`, naming every query tried and its outcome, when DNS gave no
    address at all, and with :class:`LocateError` for a URI that cannot be located.
    """

    def __init__(
        self,
        resolver: Any = None,
        *,
        transports: Sequence[str] = DEFAULT_TRANSPORTS,
        prefer_ipv6: bool = False,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._resolver = resolver
        self.transports = tuple(transports)
        self.prefer_ipv6 = prefer_ipv6
        self._draw = draw

    def _get_resolver(self) -> Any:
        if self._resolver is None:
            self._resolver = system_resolver()
        return self._resolver

    def locate(self, uri: Uri | str) -> Deferred[list[Target]]:
        """The targets for ``uri``, in the order to try them."""
        try:
            locator = ServerLocator(
                uri, transports=self.transports, prefer_ipv6=self.prefer_ipv6, draw=self._draw
            )
        except LocateError as exc:
            return fail(exc)
        return Deferred.fromCoroutine(self._run(locator))

    async def _run(self, locator: ServerLocator) -> list[Target]:
        lookups: list[Lookup] = []
        while not locator.done:
            batch = locator.queries()
            results = await gatherResults([self._lookup(q) for q in batch])
            for query, (records, outcome) in zip(batch, results, strict=True):
                lookups.append(Lookup(query, outcome))
                locator.answer(query, records)
        _log.debug("located", uri=str(locator.uri), targets=[str(t) for t in locator.targets])
        if not locator.targets:
            raise ServerNotFoundError(locator.uri, lookups)
        return list(locator.targets)

    def _lookup(self, query: DnsQuery) -> Deferred[tuple[list[Record], str]]:
        lookup = getattr(self._get_resolver(), _LOOKUPS[query.type])
        deferred: Deferred[Any] = lookup(query.name)

        def found(result: Any) -> tuple[list[Record], str]:
            records = _records(query, result)
            count = len(records)
            return records, f"{count} record{'s' if count != 1 else ''}" if count else "none"

        def failed(failure: Failure) -> tuple[list[Record], str]:
            outcome = _outcome(failure)
            _log.debug("DNS lookup failed", name=query.name, type=query.type.value,
                       error=outcome)
            return [], outcome

        return deferred.addCallbacks(found, failed)


def _outcome(failure: Failure) -> str:
    """A failed lookup in a few words."""
    reason = failure.value
    if isinstance(reason, error.DNSNameError):
        return "no such name"
    if isinstance(reason, error.DNSQueryTimeoutError | DeferredTimeoutError):
        return "no answer from the DNS server"
    if isinstance(reason, error.DNSServerError):
        return "DNS server failure"
    if isinstance(reason, error.DNSQueryRefusedError):
        return "refused by the DNS server"
    return failure.getErrorMessage() or type(reason).__name__


DNS_TIMEOUTS = (1.0, 3.0, 5.0)
"""Seconds to wait for each try of a query (each try asks the next server): 9 s in all,
rather than twisted.names' 60 s, so that a dead server is reported while the user waits."""


def system_resolver() -> Any:
    """The host's resolver: /etc/hosts, then the servers of /etc/resolv.conf, with a cache.

    What ``twisted.names.client.createResolver`` builds, with :data:`DNS_TIMEOUTS`.
    """
    chain = [
        HostsResolver(b"/etc/hosts"),  # type: ignore[no-untyped-call]
        CacheResolver(),  # type: ignore[no-untyped-call]
        Resolver(b"/etc/resolv.conf", timeout=DNS_TIMEOUTS),  # type: ignore[no-untyped-call]
    ]
    return ResolverChain(chain)  # type: ignore[no-untyped-call]


def dns_server_resolver(host: str, port: int = 53) -> Any:
    """A ``twisted.names`` resolver asking only the DNS server at ``host`` (an IP address).

    No /etc/hosts and no /etc/resolv.conf: a lab or a test names its own server, and every
    answer comes from it.
    """
    if not is_numeric_host(host):
        raise ValueError(f"the DNS server must be an IP address, not {host!r}")
    return Resolver(  # type: ignore[no-untyped-call]
        servers=[(host, port)], resolv=None, timeout=DNS_TIMEOUTS
    )
