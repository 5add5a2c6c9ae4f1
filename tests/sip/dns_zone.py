"""A real authoritative DNS server (twisted.names) on 127.0.0.1 serving a zone of our own.

``serve_zone(records)`` listens on a free UDP port and the same TCP port, and returns the
port and a function that stops both. Records are given as ``{name: [dns.Record_X, ...]}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from twisted.internet import defer, reactor
from twisted.names import authority, common, dns, server


class ZoneAuthority(authority.FileAuthority):
    """An authority for one zone held in memory instead of read from a file."""

    def __init__(self, origin: str, records: Mapping[str, Sequence[object]]) -> None:
        common.ResolverBase.__init__(self)
        soa = dns.Record_SOA(
            mname=f"ns.{origin}", rname=f"hostmaster.{origin}", serial=1, minimum=60, ttl=60
        )
        self.soa = (origin.encode(), soa)
        self.records = {origin.encode(): [soa]}
        for name, rrs in records.items():
            self.records.setdefault(name.lower().encode(), []).extend(rrs)
        self._cache = {}

    def loadFile(self, filename: str) -> None:
        raise NotImplementedError


def serve_zone(
    origin: str, records: Mapping[str, Sequence[object]]
) -> tuple[int, Callable[[], defer.Deferred]]:
    factory = server.DNSServerFactory(authorities=[ZoneAuthority(origin, records)])
    protocol = dns.DNSDatagramProtocol(controller=factory)
    udp = reactor.listenUDP(0, protocol, interface="127.0.0.1")
    port = udp.getHost().port
    tcp = reactor.listenTCP(port, factory, interface="127.0.0.1")

    def stop() -> defer.Deferred:
        return defer.gatherResults(
            [defer.maybeDeferred(udp.stopListening), defer.maybeDeferred(tcp.stopListening)]
        )

    return port, stop
