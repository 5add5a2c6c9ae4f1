"""Where a SIP message comes from or goes to: transport, IP address, port (RFC 3261 §18).

:class:`TransportAddress` is the value the transaction layer, the transport layer and their
Twisted edge pass around: the source of every received message and the destination of every
message to send. It names one hop as the socket sees it (an IP literal, never a host name:
resolving names is RFC 3263's job, done before a message reaches the transaction layer), so
it is also the key for reusing TCP/TLS connections in both directions (RFC 3261 §18.3).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_PORTS",
    "RELIABLE_TRANSPORTS",
    "TRANSPORTS",
    "TransportAddress",
]

TRANSPORTS = frozenset({"udp", "tcp", "tls", "ws", "wss"})
"""Transport names, lower case as in the ``transport`` URI parameter (RFC 3261 §19.1.1).

``ws``/``wss`` (RFC 7118) are reserved: no edge carries them yet.
"""

RELIABLE_TRANSPORTS = frozenset({"tcp", "tls", "ws", "wss"})
"""Transports that retransmit for us: timers A, E and G are not run over them (§17.1.1.2)."""

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}
"""The port a Via sent-by or URI without a port means (RFC 3261 §18.2.2, §19.1.2)."""


@dataclass(frozen=True, slots=True)
class TransportAddress:
    """One end of a hop: ``transport`` (``udp``/``tcp``/``tls``), ``host`` (IP), ``port``.

    IPv6 hosts are stored without brackets. ``str()`` gives ``udp:192.0.2.1:5060`` or
    ``tcp:[2001:db8::1]:5060``, the form :meth:`parse` reads (and ``--listen`` options use).
    """

    transport: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r} (one of udp, tcp, tls)")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0-65535")
        if not self.host or self.host.startswith("["):
            raise ValueError(f"host {self.host!r}: give an IP address, IPv6 without brackets")

    @property
    def reliable(self) -> bool:
        """True for stream transports, which need no SIP retransmissions (§17.1.1.2)."""
        return self.transport in RELIABLE_TRANSPORTS

    @property
    def secure(self) -> bool:
        """True for TLS (and WSS): what a SIPS URI requires on every hop (§26.2.2)."""
        return self.transport in ("tls", "wss")

    @property
    def host_port(self) -> str:
        """``host:port`` with IPv6 in brackets, as in a Via sent-by or a URI."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.transport}:{self.host_port}"

    @classmethod
    def parse(cls, text: str) -> TransportAddress:
        """Read ``udp:127.0.0.1:5060``, ``tls:[::1]:5061`` (the port may be omitted).

        Raises :class:`ValueError` naming what is wrong.
        """
        transport, colon, rest = text.partition(":")
        if not colon:
            raise ValueError(f"{text!r}: expected TRANSPORT:HOST[:PORT], e.g. udp:127.0.0.1:5060")
        transport = transport.lower()
        if transport not in TRANSPORTS:
            raise ValueError(f"{text!r}: unknown transport {transport!r} (udp, tcp or tls)")
        port_text: str | None
        if rest.startswith("["):
            host, bracket, after = rest[1:].partition("]")
            if not bracket or (after and not after.startswith(":")):
                raise ValueError(f"{text!r}: malformed IPv6 reference")
            port_text = after[1:] if after else None
        elif rest.count(":") > 1:
            raise ValueError(f"{text!r}: write IPv6 addresses in brackets, e.g. udp:[::1]:5060")
        else:
            host, colon, port_part = rest.partition(":")
            port_text = port_part if colon else None
        if not host:
            raise ValueError(f"{text!r}: missing host")
        if port_text is None:
            port = DEFAULT_PORTS[transport]
        elif port_text.isdigit() and port_text.isascii():
            port = int(port_text)
        else:
            raise ValueError(f"{text!r}: port {port_text!r} is not a number")
        return cls(transport, host, port)
