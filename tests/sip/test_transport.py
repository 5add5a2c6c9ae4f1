"""TransportLayer: our Via, the §18.1.1 switch to TCP, SIPS, received/rport, error answers."""

from __future__ import annotations

import pytest

from sipperc.sip import SipParseError, parse_message
from sipperc.sip.transport import ListeningPoint, TransportLayer
from sipperc.sip.transport_address import TransportAddress
from tests.sip.txn_helpers import request

UDP = TransportAddress("udp", "192.0.2.1", 5060)
TCP = TransportAddress("tcp", "192.0.2.1", 5060)
TLS = TransportAddress("tls", "192.0.2.1", 5061)
PEER = TransportAddress("udp", "192.0.2.2", 5060)


def test_our_via_names_the_listening_point_or_its_public_address():
    layer = TransportLayer([ListeningPoint(UDP, public_host="203.0.113.5", public_port=15060)])
    sent, destination = layer.outgoing_request(request("OPTIONS", branch=None), PEER, "z9hG4bKb")
    assert destination == PEER
    assert str(sent.top_via) == "SIP/2.0/UDP 203.0.113.5:15060;branch=z9hG4bKb;rport"
    v6 = ListeningPoint(TransportAddress("tcp", "2001:db8::1", 5060))
    assert v6.sent_by == "[2001:db8::1]:5060"
    assert v6.contact_uri("alice") == "sip:alice@[2001:db8::1]:5060;transport=tcp"
    assert ListeningPoint(TLS).contact_uri() == "sips:192.0.2.1:5061"


def test_large_udp_requests_move_to_tcp_when_we_have_tcp():
    big = request("MESSAGE", branch=None).with_body(b"x" * 1400, "text/plain")
    both = TransportLayer([ListeningPoint(UDP), ListeningPoint(TCP)])
    sent, destination = both.outgoing_request(big, PEER, "z9hG4bKb")
    assert destination == TransportAddress("tcp", "192.0.2.2", 5060)
    assert sent.top_via.transport == "TCP"
    _small, destination = both.outgoing_request(request("OPTIONS", branch=None), PEER, "z9hG4bKc")
    assert destination == PEER
    udp_only = TransportLayer([ListeningPoint(UDP)])
    assert udp_only.outgoing_request(big, PEER, "z9hG4bKd")[1] == PEER
    never = TransportLayer([ListeningPoint(UDP), ListeningPoint(TCP)], udp_size_limit=None)
    assert never.outgoing_request(big, PEER, "z9hG4bKd")[1] == PEER


def test_sips_requires_tls():
    layer = TransportLayer([ListeningPoint(UDP), ListeningPoint(TLS)])
    sips = request("OPTIONS", branch=None, uri="sips:bob@example.com")
    with pytest.raises(ValueError, match="TLS"):
        layer.outgoing_request(sips, PEER, "z9hG4bKb")
    routed = request("OPTIONS", branch=None).prepend("Route", "<sips:proxy.example.com;lr>")
    with pytest.raises(ValueError, match="TLS"):
        layer.outgoing_request(routed, PEER, "z9hG4bKb")
    tls_peer = TransportAddress("tls", "192.0.2.2", 5061)
    sent, _ = layer.outgoing_request(sips, tls_peer, "z9hG4bKb")
    assert sent.top_via.transport == "TLS"


def test_stream_transports_always_carry_content_length():
    layer = TransportLayer([ListeningPoint(TCP)])
    bare = request("OPTIONS", branch=None).remove("Content-Length")
    sent, _ = layer.outgoing_request(bare, TransportAddress("tcp", "192.0.2.2", 5060), "z9hG4bKb")
    assert sent.get("Content-Length") == "0"


def test_stamp_request_received_and_rport():
    req = request("OPTIONS", via_host="client.example.com:5070", rport=True)
    source = TransportAddress("udp", "198.51.100.7", 40123)
    stamped = TransportLayer.stamp_request(req, req.top_via, source)
    top = stamped.top_via
    assert (top.received, top.rport, top.branch) == ("198.51.100.7", 40123, "z9hG4bKclient1")
    assert len(stamped.via) == 1
    v6 = request("OPTIONS", via_host="[2001:db8::7]:5060")
    src6 = TransportAddress("udp", "2001:db8::7", 5060)
    assert TransportLayer.stamp_request(v6, v6.top_via, src6) is v6


def test_response_destination():
    req = request("OPTIONS", via_host="192.0.2.9:5070")
    src = TransportAddress("udp", "192.0.2.9", 40000)
    assert TransportLayer.response_destination(req.top_via, src) == TransportAddress(
        "udp", "192.0.2.9", 5070
    )
    tcp_src = TransportAddress("tcp", "192.0.2.9", 40000)
    assert TransportLayer.response_destination(req.top_via, tcp_src) == tcp_src
    nat = request("OPTIONS", via_host="10.0.0.1", rport=True)
    assert TransportLayer.response_destination(nat.top_via, src) == src
    default = request("OPTIONS", via_host="192.0.2.9")
    assert TransportLayer.response_destination(default.top_via, src).port == 5060


def test_error_response_for_a_malformed_request_and_none_when_there_is_no_way_back():
    layer = TransportLayer([ListeningPoint(UDP)])
    bad = bytes(request("OPTIONS")).replace(b"Max-Forwards: 70", b"Max-Forwards: many")
    with pytest.raises(SipParseError) as info:
        parse_message(bad)
    answer = layer.error_response(info.value, PEER)
    assert answer is not None and answer.message.status_code == 400
    assert answer.destination == PEER
    no_via = bytes(request("OPTIONS")).replace(b"Via: SIP/2.0/UDP", b"Via: garbage")
    with pytest.raises(SipParseError) as info:
        parse_message(no_via)
    assert layer.error_response(info.value, PEER) is None


def test_listening_point_lookup_names_what_exists():
    layer = TransportLayer([ListeningPoint(UDP)])
    assert layer.listening_point("udp").local == UDP
    with pytest.raises(ValueError, match="have: udp"):
        layer.listening_point("tls")
    layer.add(ListeningPoint(TransportAddress("udp", "192.0.2.1", 6000)))
    assert layer.listening_points == (ListeningPoint(TransportAddress("udp", "192.0.2.1", 6000)),)


def test_a_wildcard_bind_must_say_which_address_peers_use():
    with pytest.raises(ValueError, match="public_host"):
        ListeningPoint(TransportAddress("udp", "0.0.0.0", 5060))
    point = ListeningPoint(TransportAddress("udp", "0.0.0.0", 5060), public_host="192.0.2.5")
    assert point.sent_by == "192.0.2.5:5060"
