"""RFC 3263 server location: the planner on hand-fed answers, then over a real DNS server."""

from __future__ import annotations

import collections
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer, protocol, reactor
from twisted.names import client, dns
from twisted.trial import unittest

from sipperc.sip.locate import (
    DnsQuery,
    DnsServerLocator,
    LocatedServers,
    LocateError,
    NaptrRecord,
    RecordType,
    ServerFailover,
    ServerLocator,
    ServerNotFoundError,
    SrvRecord,
    Target,
    dns_server_resolver,
    order_srv,
)
from sipperc.sip.transport_address import TransportAddress
from sipperc.sip.uri import parse_uri
from tests.sip.dns_zone import serve_zone

Q = DnsQuery
T = RecordType


def resolve(uri: str, zone: dict[DnsQuery, list], **kwargs) -> tuple[list[str], list[DnsQuery]]:
    """Drive the planner with answers from ``zone``; returns targets and the queries asked."""
    locator = ServerLocator(uri, draw=lambda: 0.0, **kwargs)
    asked: list[DnsQuery] = []
    while not locator.done:
        batch = locator.queries()
        assert batch, "not done but nothing to ask"
        for query in batch:
            asked.append(query)
            locator.answer(query, zone.get(query, []))
    return [str(t.address) for t in locator.targets], asked


def test_numeric_ip_needs_no_dns():
    assert resolve("sip:bob@192.0.2.1", {}) == (["udp:192.0.2.1:5060"], [])
    assert resolve("sip:bob@192.0.2.1:5070;transport=tcp", {})[0] == ["tcp:192.0.2.1:5070"]
    assert resolve("sips:bob@[2001:db8::1]", {})[0] == ["tls:[2001:db8::1]:5061"]
    assert resolve("sips:bob@192.0.2.1;transport=tcp", {})[0] == ["tls:192.0.2.1:5061"]
    assert resolve("sip:bob@example.com;maddr=192.0.2.7", {})[0] == ["udp:192.0.2.7:5060"]
    (target,) = ServerLocator("sip:192.0.2.1").targets
    assert target == Target(TransportAddress("udp", "192.0.2.1", 5060), "192.0.2.1")


def test_explicit_port_skips_naptr_and_srv():
    zone = {Q("example.com", T.A): ["192.0.2.2"], Q("example.com", T.AAAA): ["2001:db8::2"]}
    targets, asked = resolve("sip:example.com:5080", zone)
    assert targets == ["udp:192.0.2.2:5080", "udp:[2001:db8::2]:5080"]
    located = ServerLocator("sip:example.com:5080")
    for query in located.queries():
        located.answer(query, zone[query])
    assert [t.found_by for t in located.targets] == ["A example.com", "AAAA example.com"]
    assert {q.type for q in asked} == {T.A, T.AAAA}
    v6_first, _ = resolve("sip:example.com:5080", zone, prefer_ipv6=True)
    assert v6_first == ["udp:[2001:db8::2]:5080", "udp:192.0.2.2:5080"]
    assert resolve("sips:example.com:5081", zone)[0][0] == "tls:192.0.2.2:5081"


NAPTR_ZONE = {
    Q("example.com", T.NAPTR): [
        NaptrRecord(20, 10, "S", "SIP+D2U", "_sip._udp.example.com."),
        NaptrRecord(10, 20, "s", "SIP+D2T", "_sip._tcp.example.com."),
        NaptrRecord(10, 10, "S", "SIPS+D2T", "_sips._tcp.example.com."),
        NaptrRecord(5, 10, "S", "SIP+D2S", "_sip._sctp.example.com."),  # not ours
        NaptrRecord(1, 10, "U", "E2U+sip", "", "!^.*$!sip:x@y!"),  # not an S record
    ],
    Q("_sips._tcp.example.com", T.SRV): [SrvRecord(0, 0, 5061, "tls.example.com.")],
    Q("_sip._tcp.example.com", T.SRV): [SrvRecord(0, 0, 5060, "tcp.example.com.")],
    Q("_sip._udp.example.com", T.SRV): [
        SrvRecord(20, 0, 5060, "backup.example.com."),
        SrvRecord(10, 0, 5060, "udp.example.com."),
    ],
    Q("tls.example.com", T.A): ["192.0.2.10"],
    Q("tcp.example.com", T.A): ["192.0.2.11"],
    Q("udp.example.com", T.A): ["192.0.2.12"],
    Q("udp.example.com", T.AAAA): ["2001:db8::12"],
    Q("backup.example.com", T.A): ["192.0.2.13"],
}


def test_naptr_srv_address_chain_in_order_and_preference():
    targets, asked = resolve("sip:alice@example.com", NAPTR_ZONE)
    assert targets == [
        "tls:192.0.2.10:5061",
        "tcp:192.0.2.11:5060",
        "udp:192.0.2.12:5060",
        "udp:[2001:db8::12]:5060",
        "udp:192.0.2.13:5060",
    ]
    assert asked[0] == Q("example.com", T.NAPTR)
    assert Q("_sip._sctp.example.com", T.SRV) not in asked


def test_sips_uses_tls_only_and_transports_we_lack_are_skipped():
    assert resolve("sips:alice@example.com", NAPTR_ZONE)[0] == ["tls:192.0.2.10:5061"]
    udp_only, _ = resolve("sip:alice@example.com", NAPTR_ZONE, transports=("udp",))
    assert udp_only == ["udp:192.0.2.12:5060", "udp:[2001:db8::12]:5060", "udp:192.0.2.13:5060"]
    with pytest.raises(LocateError):
        ServerLocator("sips:alice@example.com", transports=("udp", "tcp"))


def test_without_naptr_srv_is_queried_per_transport_in_our_order():
    zone = {k: v for k, v in NAPTR_ZONE.items() if k.type is not T.NAPTR}
    targets, asked = resolve("sip:alice@example.com", zone, transports=("tcp", "udp"))
    assert targets[0] == "tcp:192.0.2.11:5060" and targets[1] == "udp:192.0.2.12:5060"
    assert [q.name for q in asked if q.type is T.SRV] == [
        "_sip._tcp.example.com",
        "_sip._udp.example.com",
    ]


def test_transport_parameter_asks_only_that_srv():
    targets, asked = resolve("sip:alice@example.com;transport=tcp", NAPTR_ZONE)
    assert targets == ["tcp:192.0.2.11:5060"]
    assert T.NAPTR not in {q.type for q in asked}


def test_without_srv_falls_back_to_addresses_on_the_default_port():
    zone = {Q("example.org", T.A): ["192.0.2.30"]}
    assert resolve("sip:example.org", zone)[0] == ["udp:192.0.2.30:5060"]
    assert resolve("sips:example.org", zone)[0] == ["tls:192.0.2.30:5061"]
    assert resolve("sip:example.org;transport=tcp", zone)[0] == ["tcp:192.0.2.30:5060"]
    assert resolve("sip:nothing.example", {})[0] == []


def test_srv_dot_target_means_no_service_and_srv_may_name_an_ip():
    zone = {
        Q("_sip._udp.example.net", T.SRV): [
            SrvRecord(0, 0, 0, "."),
            SrvRecord(1, 0, 5090, "192.0.2.40"),
        ]
    }
    targets, _ = resolve("sip:example.net", zone, transports=("udp",))
    assert targets == ["udp:192.0.2.40:5090"]


def test_rfc2782_priority_then_weight():
    records = [
        SrvRecord(10, 60, 5060, "a"),
        SrvRecord(10, 40, 5060, "b"),
        SrvRecord(5, 0, 5060, "first"),
        SrvRecord(10, 0, 5060, "zero"),
    ]
    rng = random.Random(7)
    firsts = collections.Counter()
    for _ in range(4000):
        ordered = order_srv(records, rng.random)
        assert ordered[0].target == "first" and len(ordered) == 4
        firsts[ordered[1].target] += 1
    # Weight 60 vs 40 vs 0: about 60% / 40% / almost never.
    assert 0.55 < firsts["a"] / 4000 < 0.65 and 0.35 < firsts["b"] / 4000 < 0.45
    assert firsts["zero"] < 40
    # With a draw of 0 a zero-weight record goes first among its peers (RFC 2782).
    assert [r.target for r in order_srv(records, lambda: 0.0)] == ["first", "zero", "a", "b"]


def test_uris_that_cannot_be_located():
    for uri in ("tel:+15551234", "sips:a@example.com;transport=udp", "sip:a@b.c;transport=sctp"):
        with pytest.raises(LocateError):
            resolve(uri, {})
    with pytest.raises(LocateError):
        ServerLocator("sip:a@192.0.2.1;transport=tls", transports=("udp",))
    with pytest.raises(LocateError):
        ServerLocator("sip:a@example.com", transports=("ws",))


def test_planner_misuse_is_reported():
    locator = ServerLocator("sip:example.com")
    with pytest.raises(RuntimeError):
        _ = locator.targets
    with pytest.raises(ValueError):
        locator.answer(Q("other.example", T.A), [])


def test_located_servers_serve_the_user_agent_for_the_same_hop():
    proxy = Target(TransportAddress("udp", "192.0.2.5", 5060), "proxy.example.com", "A")
    servers = LocatedServers(("udp",))
    servers.remember("sip:proxy.example.com;lr", [proxy])
    route = parse_uri("sip:PROXY.example.com.;lr;ftag=x")  # a Record-Route naming it
    assert servers(route) == [proxy.address]
    assert servers.targets(route) == (proxy,)
    assert servers(parse_uri("sip:proxy.example.com:5080")) == []  # another hop: unknown
    both = LocatedServers(("udp", "tcp"))
    over_tcp = Target(TransportAddress("tcp", "192.0.2.6", 5060), "proxy.example.com")
    both.remember("sip:proxy.example.com;lr", [proxy, over_tcp])
    assert both(parse_uri("sip:proxy.example.com;transport=TCP;lr")) == [over_tcp.address]
    assert servers(parse_uri("sip:bob@192.0.2.9:5070")) == [
        TransportAddress("udp", "192.0.2.9", 5070)]  # numeric: no DNS needed
    assert servers(parse_uri("sip:bob@elsewhere.example.com")) == []
    with pytest.raises(LocateError, match="needs tcp"):
        servers(parse_uri("sip:proxy.example.com;transport=tcp"))
    with pytest.raises(LocateError):
        servers.remember("tel:+15551234", [proxy])


def test_failover_walks_the_list():
    targets = [Target(TransportAddress("udp", f"192.0.2.{i}", 5060), "example.com") for i in (1, 2)]
    failover = ServerFailover(targets)
    assert failover.current == targets[0]
    assert failover.next() == targets[1]
    assert failover.next() is None and failover.current is None and failover.next() is None
    assert ServerFailover.fails_over(503) and ServerFailover.fails_over(408)
    assert not ServerFailover.fails_over(486) and not ServerFailover.fails_over(500)


# --- through a real DNS server on 127.0.0.1 ------------------------------------------------


def _zone() -> dict[str, list]:
    def naptr(order: int, service: str, replacement: str) -> dns.Record_NAPTR:
        return dns.Record_NAPTR(order, 50, b"S", service.encode(), b"", replacement.encode())

    return {
        "sip.test": [
            naptr(10, "SIPS+D2T", "_sips._tcp.sip.test"),
            naptr(20, "SIP+D2T", "_sip._tcp.sip.test"),
            naptr(30, "SIP+D2U", "_sip._udp.sip.test"),
        ],
        "_sips._tcp.sip.test": [dns.Record_SRV(0, 0, 5061, b"edge.sip.test")],
        "_sip._tcp.sip.test": [dns.Record_SRV(0, 0, 5060, b"edge.sip.test")],
        "_sip._udp.sip.test": [
            dns.Record_SRV(10, 0, 5060, b"edge.sip.test"),
            dns.Record_SRV(20, 0, 5062, b"spare.sip.test"),
        ],
        "edge.sip.test": [dns.Record_A("127.0.0.1"), dns.Record_AAAA("::1")],
        "spare.sip.test": [dns.Record_A("127.0.0.2")],
        "_sip._udp.nonaptr.sip.test": [dns.Record_SRV(0, 0, 5070, b"edge.sip.test")],
        "plain.sip.test": [dns.Record_A("127.0.0.3")],
        "alias.sip.test": [dns.Record_CNAME(b"plain.sip.test")],
    }


class RealDnsTests(unittest.TestCase):
    timeout = 20

    def setUp(self) -> None:
        port, stop = serve_zone("sip.test", _zone())
        self.addCleanup(stop)
        # Each query gets its own UDP port, closed when the answer arrives.
        self.resolver = client.Resolver(servers=[("127.0.0.1", port)], resolv=None)

    @defer.inlineCallbacks
    def test_naptr_srv_a_aaaa_over_real_dns(self):
        locator = DnsServerLocator(self.resolver, draw=lambda: 0.0)
        targets = yield locator.locate("sip:conference@sip.test")
        assert [str(t.address) for t in targets] == [
            "tls:127.0.0.1:5061",
            "tls:[::1]:5061",
            "tcp:127.0.0.1:5060",
            "tcp:[::1]:5060",
            "udp:127.0.0.1:5060",
            "udp:[::1]:5060",
            "udp:127.0.0.2:5062",
        ]
        assert {t.server_name for t in targets} == {"sip.test"}
        assert targets[0].found_by == "SRV _sips._tcp.sip.test from NAPTR sip.test"
        secure = yield locator.locate("sips:conference@sip.test")
        assert [str(t.address) for t in secure] == ["tls:127.0.0.1:5061", "tls:[::1]:5061"]

    @defer.inlineCallbacks
    def test_fallbacks_over_real_dns(self):
        locator = DnsServerLocator(self.resolver, transports=("udp",))
        no_naptr = yield locator.locate("sip:nonaptr.sip.test")
        assert [str(t.address) for t in no_naptr] == ["udp:127.0.0.1:5070", "udp:[::1]:5070"]
        plain = yield locator.locate("sip:plain.sip.test")
        assert [str(t.address) for t in plain] == ["udp:127.0.0.3:5060"]
        alias = yield locator.locate("sip:alias.sip.test:5099")
        assert [str(t.address) for t in alias] == ["udp:127.0.0.3:5099"]
        with pytest.raises(ServerNotFoundError) as info:
            yield locator.locate("sip:missing.sip.test")
        assert [str(lookup) for lookup in info.value.lookups] == [
            "NAPTR missing.sip.test: no such name",
            "SRV _sip._udp.missing.sip.test: no such name",
            "A missing.sip.test: no such name",
            "AAAA missing.sip.test: no such name",
        ]
        assert "no SIP server found for missing.sip.test" in str(info.value)
        literal = yield locator.locate("sip:192.0.2.1")
        assert [str(t.address) for t in literal] == ["udp:192.0.2.1:5060"]

    @defer.inlineCallbacks
    def test_a_dns_server_that_does_not_answer_is_reported_as_such(self):
        hole = reactor.listenUDP(0, protocol.DatagramProtocol(), interface="127.0.0.1")
        self.addCleanup(hole.stopListening)
        resolver = dns_server_resolver("127.0.0.1", hole.getHost().port)
        resolver.timeout = (0.2,)
        with pytest.raises(ServerNotFoundError) as info:
            yield DnsServerLocator(resolver, transports=("udp",)).locate("sip:x.sip.test:5060")
        assert [str(lookup) for lookup in info.value.lookups] == [
            "A x.sip.test: no answer from the DNS server",
            "AAAA x.sip.test: no answer from the DNS server",
        ]
        with pytest.raises(ValueError, match="IP address"):
            dns_server_resolver("dns.example")

    @defer.inlineCallbacks
    def test_locate_error_fails_the_deferred(self):
        with pytest.raises(LocateError):
            yield DnsServerLocator(self.resolver).locate("tel:+15551234")


# --- properties over random zones ---------------------------------------------------------------

_HOSTS = ["a.example.com", "b.example.com", "c.example.com"]
_OWNERS = ["_sip._udp.example.com", "_sip._tcp.example.com", "_sips._tcp.example.com", "x.example"]
_srv = st.builds(
    SrvRecord,
    st.integers(0, 3),
    st.integers(0, 100),
    st.integers(1, 65535),
    st.sampled_from([*_HOSTS, ".", "192.0.2.99"]),
)
_naptr = st.builds(
    NaptrRecord,
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from(["s", "S", "u", ""]),
    st.sampled_from(["SIP+D2U", "SIP+D2T", "SIPS+D2T", "SIP+D2S", "E2U+sip"]),
    st.sampled_from([*_OWNERS, ""]),
)
_random_zone = st.fixed_dictionaries(
    {
        "naptr": st.lists(_naptr, max_size=5),
        "srv": st.dictionaries(st.sampled_from(_OWNERS), st.lists(_srv, max_size=4)),
        "a": st.dictionaries(
            st.sampled_from([*_HOSTS, "example.com"]),
            st.lists(st.sampled_from(["192.0.2.1", "192.0.2.2", "198.51.100.1"]), max_size=3),
        ),
        "aaaa": st.dictionaries(
            st.sampled_from(_HOSTS), st.lists(st.sampled_from(["2001:db8::1"]), max_size=1)
        ),
    }
)


def _as_answers(zone) -> dict[DnsQuery, list]:
    answers: dict[DnsQuery, list] = {Q("example.com", T.NAPTR): zone["naptr"]}
    answers.update({Q(owner, T.SRV): records for owner, records in zone["srv"].items()})
    answers.update({Q(name, T.A): addresses for name, addresses in zone["a"].items()})
    answers.update({Q(name, T.AAAA): addresses for name, addresses in zone["aaaa"].items()})
    return answers


@settings(max_examples=300, deadline=None)
@given(
    zone=_random_zone,
    uri=st.sampled_from(["sip:example.com", "sips:example.com", "sip:u@example.com;transport=tcp"]),
    transports=st.permutations(["udp", "tcp", "tls"]).map(tuple),
)
def test_planner_invariants_on_random_zones(zone, uri, transports):
    answers = _as_answers(zone)
    targets, asked = resolve(uri, answers, transports=transports)
    assert len(asked) == len(set(asked))  # nothing looked up twice
    assert len(targets) == len(set(targets))
    known = {a for rs in (*zone["a"].values(), *zone["aaaa"].values()) for a in rs}
    known.add("192.0.2.99")
    for target in targets:
        transport, _, rest = target.partition(":")
        host = rest.rpartition(":")[0].strip("[]")
        assert host in known
        assert transport in transports
        if uri.startswith("sips:"):
            assert transport == "tls"
        if "transport=tcp" in uri:
            assert transport == "tcp"


@settings(max_examples=300, deadline=None)
@given(st.lists(_srv, max_size=8), st.randoms(use_true_random=False))
def test_srv_order_is_a_priority_sorted_permutation(records, rng):
    ordered = order_srv(records, rng.random)
    usable = [r for r in records if r.target != "."]
    assert sorted(ordered, key=repr) == sorted(usable, key=repr)
    assert [r.priority for r in ordered] == sorted(r.priority for r in ordered)
