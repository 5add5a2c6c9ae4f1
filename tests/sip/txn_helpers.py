"""Messages and layers for the transaction tests."""

from __future__ import annotations

from sipperc.sip import Request, Response
from sipperc.sip.transaction_layer import TransactionLayer
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress

UAC = TransportAddress("udp", "192.0.2.1", 5060)
UAS = TransportAddress("udp", "192.0.2.2", 5060)


def layer(address: TransportAddress = UAS, *extra: TransportAddress, **kwargs) -> TransactionLayer:
    points = [ListeningPoint(address), *(ListeningPoint(a) for a in extra)]
    return TransactionLayer(transport=TransportLayer(points, **kwargs))


def request(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bKclient1",
    via_host: str = "192.0.2.1:5060",
    transport: str = "UDP",
    to_tag: str | None = None,
    cseq: int = 1,
    call_id: str = "call-1@192.0.2.1",
    from_tag: str = "fromtag1",
    uri: str = "sip:bob@192.0.2.2",
    rport: bool = False,
) -> Request:
    """A request as a client would send it (with its Via), or without Via if branch=None."""
    via = ()
    if branch is not None:
        via = (f"SIP/2.0/{transport} {via_host};branch={branch}" + (";rport" if rport else ""),)
    return Request.build(
        method,
        uri,
        from_=f"<sip:alice@192.0.2.1>;tag={from_tag}",
        to="<sip:bob@192.0.2.2>" + (f";tag={to_tag}" if to_tag else ""),
        call_id=call_id,
        cseq=cseq,
        via=via,
    )


def response_to(req: Request, code: int, to_tag: str = "totag1") -> Response:
    return req.response(code, to_tag=to_tag)
