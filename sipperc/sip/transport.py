"""The transport layer's decisions, without sockets (RFC 3261 §18, RFC 3581).

What goes in the top Via of a request we send (sent-by from the listening point, possibly a
public address for NAT; ``rport``), which transport actually carries it (§18.1.1: UDP
requests too large go over TCP), what a received request's top Via must say about where it
came from (§18.2.1 ``received``, RFC 3581 ``rport``), and where a response goes (§18.2.2 with
RFC 3581 §4). The Twisted edge owns the sockets and asks this object; the transaction layer
uses it for every request it sends and every request it receives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import Via
from sipperc.sip.message import Request, Response
from sipperc.sip.transaction_effects import SendMessage
from sipperc.sip.transport_address import DEFAULT_PORTS, TransportAddress

__all__ = ["DEFAULT_UDP_SIZE_LIMIT", "ListeningPoint", "TransportLayer"]

DEFAULT_UDP_SIZE_LIMIT = 1300
"""RFC 3261 §18.1.1: larger requests go over TCP when the path MTU is unknown."""


@dataclass(frozen=True, slots=True)
class ListeningPoint:
    """An address we receive on, and how we name it to peers.

    ``local`` is the bound socket address. ``public_host``/``public_port`` (for a host behind
    NAT with a known public address, or a wildcard bind) replace it in the Via sent-by and
    Contact we write; left None, the local address is used.
    """

    local: TransportAddress
    public_host: str | None = None
    public_port: int | None = None

    def __post_init__(self) -> None:
        if self.local.host in ("0.0.0.0", "::") and self.public_host is None:  # noqa: S104
            raise ValueError(
                f"{self.local}: a wildcard bind needs public_host, the address peers reach"
                " us at (it goes into Via and Contact)"
            )

    @property
    def host(self) -> str:
        """The host peers should reach us at (no brackets)."""
        return self.public_host or self.local.host

    @property
    def port(self) -> int:
        """The port peers should reach us at."""
        return self.public_port or self.local.port

    @property
    def sent_by(self) -> str:
        """``host:port`` for a Via sent-by (RFC 3261 §18.1.1), IPv6 in brackets."""
        host = self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def contact_uri(self, user: str | None = None) -> str:
        """A Contact URI reaching this listening point (RFC 3261 §8.1.1.8).

        ``sips:`` for TLS, ``;transport=tcp`` for TCP.
        """
        transport = self.local.transport
        scheme = "sips" if transport == "tls" else "sip"
        userinfo = f"{user}@" if user else ""
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return f"{scheme}:{userinfo}{self.sent_by}{suffix}"


class TransportLayer:
    """Listening points (one per transport) and the §18 rules for using them.

    ``udp_size_limit``: requests larger than this go over TCP when UDP was chosen and a TCP
    listening point exists (§18.1.1; RFC 3261 says 1300 octets without a known path MTU, or
    MTU-200); None never switches.
    """

    __slots__ = ("_points", "udp_size_limit")

    def __init__(
        self,
        listening_points: Iterable[ListeningPoint] = (),
        *,
        udp_size_limit: int | None = DEFAULT_UDP_SIZE_LIMIT,
    ) -> None:
        self._points: dict[str, ListeningPoint] = {}
        for point in listening_points:
            self.add(point)
        self.udp_size_limit = udp_size_limit

    def add(self, point: ListeningPoint) -> None:
        """Add (or replace) the listening point for its transport.

        The edge calls this once a socket is bound, so an ephemeral port is known.
        """
        self._points[point.local.transport] = point

    @property
    def listening_points(self) -> tuple[ListeningPoint, ...]:
        """Every listening point, in the order added."""
        return tuple(self._points.values())

    def listening_point(self, transport: str) -> ListeningPoint:
        """The listening point for ``transport``; ValueError when there is none."""
        point = self._points.get(transport)
        if point is None:
            raise ValueError(
                f"no {transport} listening point: add one to the TransportLayer "
                f"(have: {', '.join(self._points) or 'none'})"
            )
        return point

    # --- requests we send (§18.1.1) ----------------------------------------------------------

    def outgoing_request(
        self,
        request: Request,
        destination: TransportAddress,
        branch: str,
        *,
        may_switch: bool = True,
    ) -> tuple[Request, TransportAddress]:
        """``request`` with our top Via (``branch``, ``rport``), and where it really goes.

        A request to a SIPS URI (Request-URI or first Route) must travel over TLS (RFC 3261
        §26.2.2, §8.1.2): anything else raises ValueError. Stream transports always carry
        Content-Length (§18.3). ``may_switch=False`` keeps UDP whatever the size (the retry
        over UDP after TCP failed, §18.1.1).
        """
        if not destination.secure and _needs_tls(request):
            raise ValueError(
                f"{request.method} to a SIPS URI must go over TLS, not {destination.transport}"
                " (RFC 3261 §26.2.2)"
            )
        limit = self.udp_size_limit
        if (
            may_switch
            and destination.transport == "udp"
            and limit is not None
            and "tcp" in self._points
            and len(bytes(request)) + 80 > limit  # + our Via line
        ):
            destination = TransportAddress("tcp", destination.host, destination.port)
        point = self.listening_point(destination.transport)
        via = f"SIP/2.0/{destination.transport.upper()} {point.sent_by};branch={branch};rport"
        request = request.prepend("Via", via)
        if destination.reliable:
            request = request.with_content_length()
        return request, destination

    # --- requests we receive (§18.2.1, RFC 3581 §4) -----------------------------------------

    @staticmethod
    def stamp_request(request: Request, top: Via, source: TransportAddress) -> Request:
        """``request`` with ``received``/``rport`` added to its top Via as §18.2.1 says.

        ``received`` when the sent-by host is not the source address; both ``received`` and
        ``rport`` (the source port) when the client asked for rport (RFC 3581 §4).
        """
        host = top.host.strip("[]")
        wants_rport = top.wants_rport
        if host == source.host and not wants_rport:
            return request
        params = top.params.with_param("received", source.host)
        if wants_rport:
            params = params.with_param("rport", str(source.port))
        return request.remove_first_value("Via").prepend("Via", top.with_params(params))

    @staticmethod
    def response_destination(top: Via, source: TransportAddress) -> TransportAddress:
        """Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4).

        Over TCP/TLS: back over the connection the request came on (its source). Over UDP:
        to the source address and port when the client asked for rport, otherwise to the
        source address and the sent-by port (the ``received`` rule). ``maddr`` (multicast)
        is not supported.
        """
        if source.reliable or top.wants_rport:
            return source
        port = top.port or DEFAULT_PORTS[source.transport]
        if port == source.port:
            return source
        return TransportAddress(source.transport, source.host, port)

    def error_response(self, error: SipParseError, source: TransportAddress) -> SendMessage | None:
        """The answer to a request that failed to parse, or None when there is none to send.

        RFC 3261 §8.2 and §21.4 through :meth:`Response.for_parse_error`; sent where §18.2.2
        says, from the Via it recovered.
        """
        response = Response.for_parse_error(error)
        if response is None:
            return None
        try:
            top = response.top_via
        except SipParseError:
            return None
        return SendMessage(response, self.response_destination(top, source))


def _needs_tls(request: Request) -> bool:
    if request.uri.scheme.lower() == "sips":
        return True
    if "route" in request:
        route = request.route
        return bool(route) and route[0].uri.scheme.lower() == "sips"
    return False
