import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.sip import Address, HeaderField, MediaType, SipParseError, SipUri, Via
from sipperc.sip import headers as h


def test_names_compact_forms_and_case():
    assert h.header_key("v") == "via" and h.header_key("MaX-fOrWaRdS") == "max-forwards"
    assert h.canonical_name("i") == "Call-ID" and h.canonical_name("www-authenticate") == (
        "WWW-Authenticate"
    )
    assert h.canonical_name("x") == "Session-Expires" and h.canonical_name("rack") == "RAck"
    field = HeaderField.make("l", 0)
    assert field.raw == "Content-Length: 0\r\n" and field.key == "content-length"
    with pytest.raises(ValueError):
        HeaderField.make("Subject", "a\r\nInjected: yes")


def test_parse_fields_unfolds_and_keeps_raw_text():
    lines = ["", "Subject: a", "  b", "X:c", "Via  :  SIP/2.0/UDP h"]
    fields = h.parse_fields(lines, 1)
    assert [(f.name, f.value) for f in fields] == [
        ("Subject", "a  b"),
        ("X", "c"),
        ("Via", "SIP/2.0/UDP h"),
    ]
    assert fields[0].raw == "Subject: a\r\n  b\r\n" and fields[2].raw == "Via  :  SIP/2.0/UDP h\r\n"
    for bad in (["", "No colon"], ["", "Bad Name: x"], ["", "X: a\x00b"]):
        with pytest.raises(SipParseError):
            h.parse_fields(bad, 1)


def test_via_parameters_rport_received_ttl():
    via = Via.parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport;ttl=16;maddr=224.2.0.1")
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "192.0.2.1", 5060, "z9hG4bK1")
    assert via.wants_rport and via.rport is None and via.ttl == 16 and via.maddr == "224.2.0.1"
    answered = via.with_params(
        via.params.with_param("rport", "5070").with_param("received", "198.51.100.1")
    )
    assert answered.rport == 5070 and answered.received == "198.51.100.1"
    assert str(answered).endswith(";rport=5070;ttl=16;maddr=224.2.0.1;received=198.51.100.1")
    assert Via.parse(str(answered)) == answered
    for bad in (
        "SIP/2.0/UDP h;ttl=256",
        "SIP/2.0/UDP h;rport=70000",
        "SIP/2.0/UDP h:99999",
        "SIP/2.0/UDP h;branch",
        "SIP/2.0 h",
        "SIP/2.0/UDP",
    ):
        with pytest.raises(SipParseError):
            Via.parse(bad)


def test_address_forms():
    a = Address.parse('"Bob \\"B\\"" <sip:bob@example.com;transport=tcp>;tag=x;q=0.5;expires=60')
    assert a.display_name == 'Bob "B"' and a.tag == "x" and a.q == 0.5 and a.expires == 60
    assert isinstance(a.uri, SipUri) and a.uri.transport == "tcp"
    bare = Address.parse("sip:bob@example.com;tag=y")
    assert bare.tag == "y" and isinstance(bare.uri, SipUri) and len(bare.uri.parameters) == 0
    tagged = Address(SipUri(host="example.com", user="bob"), "Bob").with_tag("t1")
    assert str(tagged) == '"Bob" <sip:bob@example.com>;tag=t1'
    assert Address.parse(str(tagged)) == tagged
    for bad in ("<sip:bob@example.com", "sip:bob@example.com;q=2", "<sip:b@e>;expires=x"):
        with pytest.raises(SipParseError):
            Address.parse(bad)


def test_media_type_and_auth():
    t = MediaType.parse('multipart/MIXED ; boundary="a b"')
    assert t.mime == "multipart/mixed" and t.boundary == "a b"
    (cred,) = h.AUTHORIZATION.parse_field(
        'Digest username="alice", realm="a.example", nonce="n", uri="sip:a.example", '
        'response="6629fae49393a05397450978507c4ef1", qop=auth, nc=00000001, cnonce="c"'
    )
    assert cred.get("username") == "alice" and cred.get("qop") == "auth"
    assert "6629fae4" not in repr(cred)  # the digest response stays out of logs
    with pytest.raises(SipParseError):
        h.WWW_AUTHENTICATE.parse_field("Digest")


def test_numbers_are_range_checked():
    assert h.MAX_FORWARDS.parse_field("0070") == (70,)
    for header, bad in (
        (h.MAX_FORWARDS, "256"),
        (h.CSEQ, "2147483648 INVITE"),
        (h.RSEQ, "4294967296"),
        (h.CONTENT_LENGTH, "-1"),
        (h.RACK, "1 2147483648 INVITE"),
        (h.SESSION_EXPIRES, "90;refresher=x"),
    ):
        with pytest.raises(SipParseError) as info:
            header.parse_field(bad)
        assert info.value.header == header.name


def test_parse_first_via_reads_only_the_first_element_and_agrees_with_the_full_parse():
    value = (
        "SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKa;rport=4000;received=192.0.2.7 , "
        "SIP/2.0/UDP second.example.com;branch=z9hG4bKb"
    )
    first = h.parse_first_via(value)
    assert first == h.VIA.parse_field(value)[0]
    assert (first.transport, first.port, first.rport) == ("TCP", 5070, 4000)
    assert first.host == "[2001:db8::9]"


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "SIP/2.0/UDP host;branch=z9hG4bKa junk",
        "SIP/2.0/UDP host:70000;branch=z9hG4bKa",
        "SIP/2.0/UDP host;rport=x",
    ],
)
def test_parse_first_via_rejects_a_malformed_first_element_as_a_via_400(value):
    with pytest.raises(SipParseError) as info:
        h.parse_first_via(value)
    assert (info.value.status_code, info.value.header) == (400, "Via")


@pytest.mark.parametrize(
    "value",
    [
        "<sip:bob@biloxi.example.com>;tag=a6c85cf",
        "Bob <sip:bob@biloxi.example.com;tag=uri-param-not-header>",
        "sip:bob@biloxi.example.com;TAG = 42 ;x=y",
        "sip:bob@biloxi.example.com",
        '"Bob >; tag=fake" <sip:bob@example.com>;tag=real',
        "<sip:bob@example.com>;x=1;tag=x;tag=y",
        "<sip:bob@example.com> ; tag = t1",
    ],
)
def test_address_tag_agrees_with_the_full_parse(value):
    assert h.address_tag(value) == Address.parse(value).tag


@given(
    st.sampled_from(["", '"A \\"q\\" >;" ', "Alice "]),
    st.sampled_from(["sip:a@x.example", "sips:a@[2001:db8::1]:5061", "tel:+1234"]),
    st.booleans(),
    st.lists(st.sampled_from([";tag=t1", ";Tag = t2", ";x=y", ";lr", ";tag=t3"]), max_size=3),
)
def test_address_tag_property(display, uri, brackets, params):
    value = f"{display}<{uri}>" if brackets or display else uri
    value += "".join(params)
    assert h.address_tag(value) == Address.parse(value).tag
