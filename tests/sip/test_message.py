import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipperc.sip import (
    Address,
    Request,
    Response,
    SipParseError,
    SipUri,
    TelUri,
    Via,
    parse_message,
)
from sipperc.sip import headers as h
from sipperc.sip.uri import AbsoluteUri
from tests.sip.corpus import INVITE, TORTURE_NAMES, crlf, torture

# --- RFC 4475 §3.1.1: valid messages parse, with the values the RFC points out -------------


def test_wsinv_short_tortuous_invite():
    m = parse_message(torture("wsinv"))
    assert isinstance(m, Request) and m.method == "INVITE"
    assert isinstance(m.uri, SipUri) and "unknownparam" in m.uri.parameters
    assert m.to.uri == SipUri(host="chair-dnrc.example.com", user="vivekg")
    assert m.to.tag == "1918181833n"
    assert m.from_.display_name == 'J Rosenberg \\"' and m.from_.tag == "98asjd8"
    assert m.max_forwards == 68  # leading zeros
    assert m.cseq.seq == 9 and m.cseq.method == "INVITE"
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert m.get("Subject") == ""
    assert m.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    # Via in long and compact form, one row folded with two values: three Vias in order.
    assert [v.transport for v in m.via] == ["UDP", "TCP", "UDP"]
    assert [v.host for v in m.via] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    assert [v.branch for v in m.via] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    (route,) = m.route
    assert isinstance(route.uri, SipUri) and route.uri.lr
    assert route.uri.parameters.get("unknownwith") == "value"
    assert "unknown-no-value" in route.uri.parameters
    (contact,) = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params.get("newparam") == "newvalue"
    assert "secondparam" in contact.params and contact.q == 0.33
    assert m.content_type is not None and m.content_type.mime == "application/sdp"
    assert len(m.body) == 150 == m.content_length


def test_intmeth_wide_range_of_valid_characters():
    m = parse_message(torture("intmeth"))
    assert isinstance(m, Request)
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq.method == m.method
    assert isinstance(m.uri, SipUri)
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.params.unquoted("fromParam''~+*_!.-%") == "работающий"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.via[0].branch == "z9hG4bK-.!%66*_+`'~"
    assert m.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_esc01_escapes_are_resolved_in_components():
    m = parse_message(torture("esc01"))
    assert isinstance(m, Request) and isinstance(m.uri, SipUri)
    assert m.uri.user == "sips:user@example.com" and m.uri.host == "example.net"
    assert isinstance(m.from_.uri, SipUri) and m.from_.uri.user == "I have spaces"
    assert m.to.uri == SipUri(host="example.com", user="user")
    uri = m.contacts[0].uri
    assert isinstance(uri, SipUri) and uri.user == "caller"
    assert list(uri.parameters) == [("lr", None), ("name", "value%41")]
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234"  # compact "i"


def test_escnull_keeps_escaped_nul():
    m = parse_message(torture("escnull"))
    assert isinstance(m.to.uri, SipUri) and m.to.uri.user == "null-\x00-null"
    users = [c.uri.user for c in m.contacts if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]


def test_esc02_percent_that_is_not_an_escape():
    m = parse_message(torture("esc02"))
    assert isinstance(m, Request)
    assert m.method == "RE%47IST%45R" and m.method != "REGISTER"
    assert m.to.display_name == "%Z%45" and m.from_.display_name == "%Z%45"
    assert m.via[0].branch == "z9hG4bK209%fzsnel234"
    # "C%6Fntact" is a different (unknown) header: two Contacts, not three.
    assert len(m.contacts) == 2
    assert m.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_lwsdisp_no_space_before_laquot():
    assert parse_message(torture("lwsdisp")).from_.display_name == "caller"


def test_longreq_long_values():
    m = parse_message(torture("longreq"))
    assert m.to.display_name == "I have a user name of " + "extreme" * 10 + " proportion"
    uri = m.to.uri
    assert isinstance(uri, SipUri) and uri.port == 6000
    assert uri.parameters.get("unknownparam1") == "very" + "long" * 20 + "value"
    assert uri.parameters.get("longparam" + "name" * 25) == "shortvalue"
    assert "very" + "long" * 25 + "ParameterNameWithNoValue" in uri.parameters
    assert isinstance(m.from_.uri, SipUri)
    assert m.from_.uri.user == "amazinglylongcallername" * 5
    assert m.from_.params.get("unknownheaderparam" + "name" * 20) == (
        "unknowheaderparam" + "value" * 15
    )
    assert m.from_.tag == "12" + "982" * 50 + "424"
    assert m.call_id == "longreq.one" + "really" * 20 + "longcallid"
    assert len(m.via) == 34
    assert [v.host for v in m.via[:33]] == [f"sip{33 - i}.example.com" for i in range(33)]
    assert m.via[33].branch == "very" + "long" * 50 + "branchvalue"


def test_dblreq_ignores_octets_beyond_content_length():
    data = torture("dblreq")
    m = parse_message(data)
    assert isinstance(m, Request) and m.method == "REGISTER" and m.body == b""
    assert b"INVITE" in data and b"INVITE" not in bytes(m)


def test_semiuri_semicolon_in_user_part():
    m = parse_message(torture("semiuri"))
    assert isinstance(m.uri, SipUri) and m.uri.user == "user;par=u@example.net"
    assert len(m.uri.parameters) == 0
    assert m.typed(h.ACCEPT) == (
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    )


def test_transports_known_and_unknown():
    m = parse_message(torture("transports"))
    assert [v.transport for v in m.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_multipart_body():
    m = parse_message(torture("mpart01"))
    assert m.content_type is not None and m.content_type.mime == "multipart/mixed"
    assert len(m.body) == m.content_length == 553
    assert m.find_body("text/plain") == b"Hello"
    signature = m.find_body("application/octet-stream")
    assert signature is not None and len(signature) > 300


def test_unreason_and_noreason():
    m = parse_message(torture("unreason"))
    assert isinstance(m, Response) and m.status_code == 200
    expected = bytes.fromhex(
        "D0BDD0BE20D181D182D0BE20D0B4D0B5D0B2D18FD0BDD0BED181D182D0BE20D0B4D0B5D0B2D18FD182D18C"
        "202D20D0BFD180D0BED181D182D0BED0B5"
    ).decode()
    assert m.reason == "= 2**3 * 5**2 " + expected
    m = parse_message(torture("noreason"))
    assert isinstance(m, Response) and m.status_code == 100 and m.reason == ""


VALID = [
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
]


@pytest.mark.parametrize("name", VALID)
def test_valid_torture_messages_validate_and_round_trip(name):
    data = torture(name)
    m = parse_message(data)
    m.validate()
    again = parse_message(bytes(m))
    assert again == m
    # Nothing was changed, so forwarding it is byte-exact (dblreq: up to Content-Length).
    assert data.startswith(bytes(m))


# --- RFC 4475 §3.1.2: invalid messages are rejected with the right answer -----------------

INVALID = {
    # name: (status code, header named or None, words in the reason)
    "badinv01": (400, "Via", "Bad Via"),
    "clerr": (400, "Content-Length", "Content-Length larger"),
    "ncl": (400, "Content-Length", "Bad Content-Length"),
    "scalar02": (400, "CSeq", "Bad CSeq"),
    "quotbal": (400, "To", "Bad To"),
    "ltgtruri": (400, None, "Request-URI"),
    "lwsruri": (400, None, "Request-Line"),
    "lwsstart": (400, None, "Request-Line"),
    "trws": (400, None, "Request-Line"),
    "escruri": (400, None, "Headers in Request-URI"),
    "regbadct": (400, "Contact", "Bad Contact"),
    "badaspec": (400, "To", "Bad To"),
    "baddn": (400, "From", "Bad From"),
    "badvers": (505, None, "Version Not Supported"),
    "mismatch01": (400, "CSeq", "CSeq method"),
    "mismatch02": (400, "CSeq", "CSeq method"),
    # RFC 4475 §3.3.2 / §3.3.9 / §3.3.10: missing or repeated mandatory fields.
    "insuf": (400, "From", "Missing From"),
    "multi01": (400, "CSeq", "Multiple CSeq"),
    "mcl01": (400, "Content-Length", "Multiple Content-Length"),
    # Not one of the RFC's messages: the archive's stray test.dat has no SIP-Version.
    "test": (400, None, "Request-Line"),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_torture_requests_get_the_right_error_response(name):
    status, header, words = INVALID[name]
    with pytest.raises(SipParseError) as info:
        parse_message(torture(name))
    error = info.value
    assert (error.status_code, error.header) == (status, header)
    assert words in error.reason
    assert error.method is not None and error.message is None
    response = Response.for_parse_error(error, to_tag="t1")
    if name in ("insuf", "badinv01", "test"):  # no From, To, Call-ID / no usable Via
        assert response is None
        return
    assert response is not None
    if header in ("From", "To", "CSeq"):  # copied as received (RFC 3261 §8.2.6.2)
        assert bytes(response).startswith(f"SIP/2.0 {status} ".encode())
        return
    assert response is not None and response.status_code == status
    # The answer can be parsed and matched: Via, From, Call-ID and CSeq are the request's.
    answer = parse_message(bytes(response))
    assert isinstance(answer, Response)
    assert [f.raw for f in answer.fields_named("via")] == [
        f.raw for f in error.recovered if f.key == "via"
    ]
    assert answer.to.tag is not None


@pytest.mark.parametrize("name", ["scalarlg", "bigcode"])
def test_invalid_torture_responses_are_rejected_and_not_answered(name):
    with pytest.raises(SipParseError) as info:
        parse_message(torture(name))
    assert info.value.method is None  # a response: discard, never answer
    assert Response.for_parse_error(info.value) is None


def test_baddate_parses_but_its_date_is_flagged():
    # RFC 4475 §3.1.2.12: the Date is not GMT. The message can be processed; reading the
    # Date (or validating the message) raises a 400 naming it.
    m = parse_message(torture("baddate"))
    with pytest.raises(SipParseError) as info:
        m.validate()
    assert (info.value.status_code, info.value.header) == (400, "Date")


# --- RFC 4475 §3.2 - §3.4: well-formed; the layers above decide ----------------------------


@pytest.mark.parametrize("name", ["unkscm", "novelsc"])
def test_unknown_request_uri_scheme_is_well_formed_but_416(name):
    with pytest.raises(SipParseError) as info:
        parse_message(torture(name))
    error = info.value
    assert error.status_code == 416 and error.message is not None
    assert isinstance(error.message.uri, AbsoluteUri)  # type: ignore[attr-defined]
    response = Response.for_parse_error(error)
    assert response is not None and response.status_code == 416
    # A proxy that routes any scheme says so.
    scheme = error.message.uri.scheme  # type: ignore[attr-defined]
    m = parse_message(torture(name), uri_schemes=frozenset({"sip", scheme}))
    assert isinstance(m, Request) and m.uri.scheme == scheme


def test_application_layer_messages_parse_with_their_values():
    m = parse_message(torture("unksm2"))
    assert isinstance(m.to.uri, AbsoluteUri) and m.to.uri.scheme == "isbn"
    assert isinstance(m.from_.uri, AbsoluteUri) and m.from_.uri.scheme == "http"
    assert (
        isinstance(m.contacts[0].uri, AbsoluteUri) and str(m.contacts[0].uri) == "name:John_Smith"
    )
    m = parse_message(torture("bext01"))
    assert m.typed(h.REQUIRE) == ("nothingSupportsThis", "nothingSupportsThisEither")
    assert m.typed(h.PROXY_REQUIRE) == ("noProxiesSupportThis", "norDoAnyProxiesSupportThis")
    m = parse_message(torture("invut"))
    assert m.content_type is not None and m.content_type.mime == "application/unknownformat"
    (auth,) = parse_message(torture("regaut01")).typed(h.AUTHORIZATION)
    assert auth.scheme == "NoOneKnowsThisScheme" and auth.get("opaque-data") == "here"
    m = parse_message(torture("bcast"))
    assert m.via[1].host == "255.255.255.255"
    assert parse_message(torture("zeromf")).max_forwards == 0
    m = parse_message(torture("sdp01"))
    assert m.typed(h.ACCEPT) == ("text/nobodyKnowsThis",)
    # cparam01/02: a parameter after an unbracketed URI belongs to the header, inside <> to
    # the URI (RFC 3261 §20.10).
    (c1,) = parse_message(torture("cparam01")).contacts
    assert "unknownparam" in c1.params
    assert isinstance(c1.uri, SipUri) and len(c1.uri.parameters) == 0
    (c2,) = parse_message(torture("cparam02")).contacts
    assert isinstance(c2.uri, SipUri) and "unknownparam" in c2.uri.parameters
    assert len(c2.params) == 0
    (c3,) = parse_message(torture("regescrt")).contacts
    assert isinstance(c3.uri, SipUri) and c3.uri.headers == (("Route", "<sip:sip.example.com>"),)
    m = parse_message(torture("badbranch"))
    assert m.via[0].branch == "z9hG4bK"  # the transaction layer's problem (RFC 4475 §3.2.1)
    m = parse_message(torture("inv2543"))  # RFC 2543: no branch, no Max-Forwards
    assert m.via[0].branch is None and m.max_forwards is None


def test_every_corpus_file_is_covered():
    covered = set(VALID) | set(INVALID) | {"scalarlg", "bigcode", "baddate", "unkscm"}
    covered |= {"novelsc", "unksm2", "bext01", "invut", "regaut01", "bcast", "zeromf"}
    covered |= {"sdp01", "cparam01", "cparam02", "regescrt", "badbranch", "inv2543"}
    assert covered == set(TORTURE_NAMES)


# --- RFC 5118: IPv6 (messages written after the RFC's §4 cases) ---------------------------


def _register(uri: str, via: str = "SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111") -> bytes:
    return crlf(
        f"""REGISTER {uri} SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=81x2
Via: {via}
Call-ID: SSG9559905523997077@hlau_4100
Max-Forwards: 70
Contact: "Caller" <sip:caller@[2001:db8::1]>
CSeq: 98176 REGISTER
Content-Length: 0

"""
    )


def test_rfc5118_ipv6_references():
    m = parse_message(_register("sip:[2001:db8::10]"))  # §4.1
    assert isinstance(m, Request) and isinstance(m.uri, SipUri)
    assert m.uri.host == "[2001:db8::10]" and m.uri.port is None
    assert m.via[0].host == "[2001:db8::9:1]"
    assert isinstance(m.contacts[0].uri, SipUri) and m.contacts[0].uri.host == "[2001:db8::1]"
    with pytest.raises(SipParseError) as info:  # §4.2: no brackets
        parse_message(_register("sip:2001:db8::10"))
    assert info.value.status_code == 400
    m = parse_message(_register("sip:[2001:db8::10:5070]"))  # §4.3: an address, no port
    assert isinstance(m.uri, SipUri) and m.uri.host == "[2001:db8::10:5070]"
    assert m.uri.port is None
    m = parse_message(_register("sip:[2001:db8::10]:5070"))  # §4.4
    assert isinstance(m.uri, SipUri) and (m.uri.host, m.uri.port) == ("[2001:db8::10]", 5070)
    for received in ("[2001:db8::9:255]", "2001:db8::9:255"):  # §4.5: both accepted
        via = f"SIP/2.0/UDP [2001:db8::9:1];received={received};branch=z9hG4bKas3-111"
        assert parse_message(_register("sip:[2001:db8::10]", via)).via[0].received == received
    vias = (  # §4.7: IPv4 and IPv6 in one header
        "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;received=2001:db8::9:255, "
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144;received=192.0.2.1"
    )
    m = parse_message(_register("sip:[2001:db8::10]", vias))
    assert [(v.host, v.port) for v in m.via] == [("[2001:db8::9:1]", 6050), ("192.0.2.1", None)]
    m = parse_message(_register("sip:[::ffff:192.0.2.10]"))  # §4.9: IPv4-mapped
    assert isinstance(m.uri, SipUri) and m.uri.host == "[::ffff:192.0.2.10]"
    m = parse_message(_register("sip:[2001:db8::192.0.2.1]"))  # §4.10: two colons
    assert isinstance(m.uri, SipUri)
    with pytest.raises(SipParseError):  # §4.10: the RFC 3261 ABNF bug, three colons
        parse_message(_register("sip:[2001:db8:::192.0.2.1]"))


# --- building messages (RFC 3261 §8.1.1, §8.2.6, §9.1, §17.1.1.3) ----------------------------


def _invite() -> Request:
    m = parse_message(INVITE)
    assert isinstance(m, Request)
    return m


def test_build_request_has_mandatory_fields_and_parses_back():
    request = Request.build(
        "OPTIONS",
        "sip:bob@example.com",
        from_='"Alice A." <sip:alice@example.com>;tag=abc',
        to=Address(SipUri(host="example.com", user="bob")),
        call_id="c1@host",
        cseq=7,
        via=Via("UDP", "192.0.2.1", 5060, h.Parameters([("branch", "z9hG4bKx"), ("rport", None)])),
        contact="<sip:alice@192.0.2.1:5060>",
        headers=[("Supported", "100rel, timer"), ("User-Agent", "sipperc")],
        body=b"hello",
        content_type="text/plain",
    )
    m = parse_message(bytes(request))
    assert m == request
    assert isinstance(m, Request) and m.method == "OPTIONS" and m.cseq.seq == 7
    assert m.from_.display_name == "Alice A." and m.from_.tag == "abc"
    assert m.via[0].wants_rport and m.via[0].branch == "z9hG4bKx"
    assert m.max_forwards == 70 and m.body == b"hello" and m.content_length == 5
    assert m.typed(h.SUPPORTED) == ("100rel", "timer")
    with pytest.raises(ValueError, match="token"):
        Request.build(
            "BAD METHOD", "sip:a@b", from_="<sip:a@b>", to="<sip:a@b>", call_id="x", cseq=1
        )
    with pytest.raises(SipParseError):
        Request.build("OPTIONS", "sip:a@b", from_="<sip:a@b", to="<sip:a@b>", call_id="x", cseq=1)


def test_response_copies_fields_as_rfc3261_8_2_6_says():
    invite = _invite()
    ringing = invite.response(180, to_tag="uas1", contact="<sip:bob@192.0.2.4>")
    assert ringing.reason == "Ringing"
    for name in ("via", "from", "call-id", "cseq", "record-route"):
        assert [f.raw for f in ringing.fields_named(name)] == [
            f.raw for f in invite.fields_named(name)
        ]
    assert ringing.to.tag == "uas1" and ringing.to.uri == invite.to.uri
    assert "Timestamp" not in ringing
    trying = invite.response(100)
    assert trying.to.tag is None  # §8.2.6.2: no tag on 100
    assert trying.get("Timestamp") == "54"  # §8.2.6.1
    assert "Record-Route" not in trying
    busy = invite.response(486)
    assert busy.to.tag and "Record-Route" not in busy
    ok = parse_message(
        bytes(invite.response(200, to_tag="uas1", body=b"v=0\r\n", content_type="application/sdp"))
    )
    assert isinstance(ok, Response) and ok.body == b"v=0\r\n" and ok.to.tag == "uas1"
    with pytest.raises(ValueError):
        invite.response(700)


def test_cancel_and_ack_for_non_2xx():
    invite = _invite()
    cancel = invite.cancel()
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.cseq.seq == invite.cseq.seq and cancel.cseq.method == "CANCEL"
    assert cancel.via == invite.via[:1] and cancel.to == invite.to
    assert parse_message(bytes(cancel)) == cancel
    busy = invite.response(486, to_tag="x9")
    ack = invite.ack_for(busy)
    assert ack.method == "ACK" and ack.cseq.method == "ACK" and ack.to.tag == "x9"
    assert ack.via[0].branch == invite.via[0].branch  # same transaction (§17.1.1.3)
    assert parse_message(bytes(ack)) == ack


def test_proxy_style_edits_keep_untouched_fields_byte_exact():
    data = torture("wsinv")
    m = parse_message(data)
    via = Via("UDP", "proxy.example.com", params=h.Parameters([("branch", "z9hG4bKp1")]))
    forwarded = m.prepend("Via", via).replace("Max-Forwards", 67)
    out = bytes(forwarded)
    head = data.split(b"\r\n", 1)[1]
    for f in m.fields:
        if f.key != "max-forwards":
            assert f.raw.encode() in out
    assert out.startswith(
        b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n"
    )
    again = parse_message(out)
    assert again.max_forwards == 67 and len(again.via) == 4
    assert again.via[1:] == m.via and head.endswith(again.body)
    popped = again.remove_first_value("Via")
    assert popped.via == m.via
    assert m.remove("Route").route == ()
    assert m.remove_first_value("Route").route == ()


def test_with_body_and_content_length():
    m = _invite().with_body(b"abc", "text/plain")
    assert m.content_length == 3 and m.content_type is not None
    assert m.content_type.mime == "text/plain"
    assert parse_message(bytes(m)) == m
    empty = m.with_body(b"")
    assert "Content-Type" not in empty and empty.content_length == 0
    no_length = parse_message(
        crlf(
            "OPTIONS sip:a@b.example SIP/2.0\nVia: SIP/2.0/UDP h\n"
            "From: <sip:a@b.example>;tag=1\nTo: <sip:a@b.example>\n"
            "Call-ID: x\nCSeq: 1 OPTIONS\n\nbody"
        )
    )
    assert no_length.body == b"body" and no_length.content_length is None
    assert no_length.with_content_length().content_length == 4


def test_limits():
    with pytest.raises(SipParseError) as info:
        parse_message(INVITE, max_body_size=2)
    assert info.value.status_code == 413
    with pytest.raises(SipParseError) as info:
        parse_message(INVITE, max_header_size=100)
    assert info.value.status_code == 513


def test_typed_access_to_the_other_headers():
    data = crlf(
        """PRACK sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1;rport=5061;received=2001:db8::99
From: <sip:alice@atlanta.example.com>;tag=1
To: <tel:+1-212-555-0101>;tag=2
Call-ID: c@h
CSeq: 2 PRACK
RAck: 776656 1 INVITE
RSeq: 5
Session-Expires: 1800;refresher=uac
Min-SE: 90
Event: dialog;id=7
Subscription-State: terminated;reason=timeout;retry-after=30
Refer-To: <sip:carol@c.example?Replaces=a%40b%3Bto-tag%3D1%3Bfrom-tag%3D2>
Replaces: 425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only
Reason: SIP;cause=580;text="Precondition Failure", Q.850;cause=16
WWW-Authenticate: Digest realm="atlanta.example.com", qop="auth", nonce="84a4cc6f",
  algorithm=SHA-256
Allow: INVITE, ACK
Expires: 30
Date: Sat, 13 Nov 2010 23:29:00 GMT
Content-Length: 0

"""
    )
    m = parse_message(data)
    m.validate()
    via = m.via[0]
    assert via.transport == "TLS" and via.rport == 5061 and via.received == "2001:db8::99"
    assert isinstance(m.to.uri, TelUri) and m.to.uri.is_global
    assert m.first(h.RACK) == h.RAck(776656, 1, "INVITE") and m.first(h.RSEQ) == 5
    (se,) = m.typed(h.SESSION_EXPIRES)
    assert se.delta == 1800 and se.refresher == "uac"
    assert m.first(h.MIN_SE) == h.SessionExpires(90)
    event = m.first(h.EVENT)
    assert event is not None and (event.value, event.id) == ("dialog", "7")
    state = m.first(h.SUBSCRIPTION_STATE)
    assert state is not None and (state.value, state.reason, state.retry_after) == (
        "terminated",
        "timeout",
        30,
    )
    refer = m.first(h.REFER_TO)
    assert refer is not None and isinstance(refer.uri, SipUri)
    assert refer.uri.headers == (("Replaces", "a@b;to-tag=1;from-tag=2"),)
    replaces = m.first(h.REPLACES)
    assert replaces is not None and replaces.call_id == "425928@bobster.example.org"
    assert (replaces.to_tag, replaces.from_tag, replaces.early_only) == ("7743", "6472", True)
    sip_reason, q850 = m.typed(h.REASON)
    assert (sip_reason.protocol, sip_reason.cause, sip_reason.text) == (
        "SIP",
        580,
        "Precondition Failure",
    )
    assert (q850.protocol, q850.cause) == ("Q.850", 16)
    (challenge,) = m.typed(h.WWW_AUTHENTICATE)
    assert challenge.scheme == "Digest" and challenge.get("realm") == "atlanta.example.com"
    assert challenge.get("ALGORITHM") == "SHA-256" and "84a4cc6f" not in repr(challenge)
    assert m.typed(h.ALLOW) == ("INVITE", "ACK") and m.first(h.EXPIRES) == 30
    assert m.first(h.DATE) == 1289690940.0
    # Compact forms and case-insensitive names reach the same header.
    assert m.get("x") == m.get("SESSION-expires") == "1800;refresher=uac"


def test_contact_wildcard_and_header_errors_name_the_header():
    m = parse_message(
        crlf(
            "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
            "From: <sip:a@example.com>;tag=1\nTo: <sip:a@example.com>\n"
            "Call-ID: x\nCSeq: 1 REGISTER\nContact: *\nExpires: 0\n"
            "RAck: x\nl: 0\n\n"
        )
    )
    assert m.contact_wildcard and m.contacts == ()
    with pytest.raises(SipParseError) as info:
        m.first(h.RACK)
    assert (info.value.status_code, info.value.reason, info.value.header) == (
        400,
        "Bad RAck header",
        "RAck",
    )


# --- round trips of generated messages, and fuzzing ------------------------------------------

tokens = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789-.!%*_+`'~", min_size=1, max_size=12
)
hosts = st.sampled_from(
    ["example.com", "a.b.example.org", "192.0.2.7", "[2001:db8::1]", "host-1.example"]
)
display_names = st.one_of(
    st.none(),
    st.text(min_size=0, max_size=20).filter(
        lambda s: (
            "\x00" not in s
            and "\r" not in s
            and "\n" not in s
            and all(not 0xD800 <= ord(c) <= 0xDFFF for c in s)
        )
    ),
)
users = st.one_of(
    st.none(),
    st.text(min_size=1, max_size=15).filter(
        lambda s: all(not 0xD800 <= ord(c) <= 0xDFFF for c in s)
    ),
)


@st.composite
def addresses(draw: st.DrawFn) -> Address:
    uri = SipUri(
        host=draw(hosts),
        user=draw(users),
        port=draw(st.one_of(st.none(), st.integers(1, 65535))),
        parameters=h.Parameters(
            draw(st.lists(st.tuples(tokens, st.one_of(st.none(), tokens)), max_size=3))
        ),
        scheme=draw(st.sampled_from(["sip", "sips"])),
    )
    params = [("tag", draw(tokens))] if draw(st.booleans()) else []
    return Address(uri, draw(display_names), h.Parameters(params))


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(["INVITE", "OPTIONS", "BYE", "REGISTER", "X-CUSTOM"]))
    return Request.build(
        method,
        draw(addresses()).uri,
        from_=draw(addresses()),
        to=draw(addresses()),
        call_id=draw(tokens) + "@" + draw(tokens),
        cseq=draw(st.integers(0, 2**31 - 1)),
        via=[
            Via(
                draw(st.sampled_from(["UDP", "TCP", "TLS"])),
                draw(hosts),
                draw(st.one_of(st.none(), st.integers(1, 65535))),
                h.Parameters([("branch", "z9hG4bK" + draw(tokens))]),
            )
            for _ in range(draw(st.integers(1, 3)))
        ],
        contact=draw(st.lists(addresses(), max_size=2)),
        headers=[
            (
                "X-" + draw(tokens),
                draw(
                    st.text(
                        alphabet=st.characters(
                            min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"
                        ),
                        max_size=30,
                    )
                ).strip(),
            )
            for _ in range(draw(st.integers(0, 3)))
        ],
        body=draw(st.binary(max_size=50)),
    )


@given(requests(), st.integers(100, 699), tokens)
@settings(max_examples=150, deadline=None)
def test_generated_messages_round_trip(request, status, tag):
    parsed = parse_message(bytes(request))
    assert parsed == request
    parsed.validate()
    assert parsed.from_ == request.from_ and parsed.to == request.to
    assert parsed.from_.display_name == request.from_.display_name
    assert parsed.via == request.via and parsed.contacts == request.contacts
    response = request.response(status, to_tag=tag)
    again = parse_message(bytes(response))
    assert again == response and isinstance(again, Response) and again.status_code == status


SEEDS = [torture(n) for n in VALID] + [INVITE, torture("regescrt"), torture("cparam02")]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        pos = rng.randrange(len(out) + 1)
        if kind == 0 and out:
            out[min(pos, len(out) - 1)] = rng.randrange(256)
        elif kind == 1:
            out[pos:pos] = bytes([rng.choice(b' \t\r\n:;,<>"@%[]=\\\x00\xff')])
        elif kind == 2:
            del out[pos : pos + rng.randint(1, 20)]
        elif kind == 3:
            out = out[:pos]
        else:
            start = rng.randrange(len(out) + 1)
            out[pos:pos] = out[start : start + rng.randint(1, 40)]
    return bytes(out)


def _fuzz(count: int, seed: int) -> int:
    rng = random.Random(seed)
    accepted = 0
    for i in range(count):
        data = _mutate(rng, SEEDS[i % len(SEEDS)])
        try:
            m = parse_message(data)
        except SipParseError:
            continue
        accepted += 1
        assert parse_message(bytes(m)) == m
        try:
            m.validate()
            _ = (m.via, m.from_, m.to, m.cseq, m.call_id, m.contacts, m.route, m.content_type)
            if m.content_type is not None:
                m.find_body("application/sdp")
        except SipParseError:
            pass
    return accepted


def test_mutated_and_truncated_input_only_raises_sip_parse_error():
    accepted = _fuzz(3000, seed=1)
    assert 0 < accepted < 3000  # the mutations hit both sides


@pytest.mark.slow
def test_fuzz_100k_mutations():
    assert _fuzz(100_000, seed=2) > 0


def test_top_via_of_a_built_message_and_after_typed_access():
    request = parse_message(INVITE)
    top = request.top_via
    assert top == request.via[0]
    assert request.prepend("Via", "SIP/2.0/TLS 192.0.2.3;branch=z9hG4bKnew").top_via.branch == (
        "z9hG4bKnew"
    )
    with pytest.raises(SipParseError):
        _ = request.remove("Via").top_via


def test_from_and_to_tags_without_the_full_address_parse():
    request = parse_message(INVITE)
    assert (request.from_tag, request.to_tag) == ("1928301774", None)
    answered = parse_message(bytes(request.response(180, to_tag="ring")))
    assert answered.to_tag == "ring" and answered.to.tag == "ring"
    assert answered.to_tag == "ring"  # now from the typed cache
    with pytest.raises(SipParseError, match="To"):
        _ = request.remove("To").to_tag
