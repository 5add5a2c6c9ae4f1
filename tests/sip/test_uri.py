import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.sip import Parameters, SipParseError, SipUri, TelUri, parse_uri
from sipperc.sip.uri import AbsoluteUri, quote_string, unescape, unquote_string


def test_sip_uri_components_and_original_text():
    text = (
        "sips:alice:secret@[2001:db8::1]:5061;transport=TCP;lr;maddr=239.0.0.1?Subject=hi%20there"
    )
    uri = parse_uri(text)
    assert isinstance(uri, SipUri) and str(uri) == text and uri.secure
    assert (uri.user, uri.password, uri.host, uri.port) == (
        "alice",
        "secret",
        "[2001:db8::1]",
        5061,
    )
    assert uri.transport == "tcp" and uri.lr and uri.maddr == "239.0.0.1"
    assert uri.headers == (("Subject", "hi there"),)
    assert uri.without_headers().headers == () and "?" not in str(uri.without_headers())


def test_rfc3261_19_1_4_equivalences():
    # The RFC's own examples of equivalent and non-equivalent URIs.
    assert parse_uri("sip:%61lice@atlanta.com;transport=TCP") == parse_uri(
        "sip:alice@AtLanTa.CoM;Transport=tcp"
    )
    assert (
        parse_uri("sip:carol@chicago.com")
        == parse_uri("sip:carol@chicago.com;newparam=5")
        == parse_uri("sip:carol@chicago.com;security=on")
    )
    assert parse_uri("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com") == (
        parse_uri("sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com")
    )
    assert parse_uri("SIP:ALICE@AtLanTa.CoM;Transport=udp") != parse_uri(
        "sip:alice@AtLanTa.CoM;Transport=UDP"
    )  # user is case-sensitive
    assert parse_uri("sip:bob@biloxi.com") != parse_uri("sip:bob@biloxi.com:5060")
    assert parse_uri("sip:bob@biloxi.com") != parse_uri("sip:bob@biloxi.com;transport=udp")
    assert parse_uri("sip:carol@chicago.com;security=on") != parse_uri(
        "sip:carol@chicago.com;security=off"
    )
    assert parse_uri("sip:alice@example.com") != parse_uri("sips:alice@example.com")


def test_building_escapes_what_needs_escaping():
    uri = SipUri(host="example.com", user="a b@c;d", parameters=Parameters([("x", "1 2")]))
    assert str(uri) == "sip:a%20b%40c;d@example.com;x=1%202"
    again = parse_uri(str(uri))
    assert isinstance(again, SipUri) and again.user == "a b@c;d"
    assert again.parameters.get("X") == "1 2"
    assert str(SipUri(host="2001:db8::1", port=5060)) == "sip:[2001:db8::1]:5060"
    changed = uri.with_changes(port=5070)
    assert changed.port == 5070 and str(changed).endswith("example.com:5070;x=1%202")


def test_tel_and_absolute_uris():
    tel = parse_uri("tel:+1-201-555-0123;ext=1")
    assert isinstance(tel, TelUri) and tel.is_global and tel.digits == "+12015550123"
    assert tel == parse_uri("tel:+1.201.555.0123;EXT=1")
    local = parse_uri("tel:7042;phone-context=example.com")
    assert isinstance(local, TelUri) and not local.is_global
    with pytest.raises(SipParseError):
        parse_uri("tel:7042")  # RFC 3966 §5.1.5: local numbers need phone-context
    other = parse_uri("urn:service:sos")
    assert isinstance(other, AbsoluteUri) and other.scheme == "urn"
    assert parse_uri("HTTP://example.com/x") == parse_uri("http://example.com/x")
    for bad in ("<sip:user@example.com>", "sip:user@example.com; lr", "sip:2001:db8::1", "sip:"):
        with pytest.raises(SipParseError):
            parse_uri(bad)
    with pytest.raises(SipParseError):
        parse_uri("sip:host.example:99999")


def test_parameters_are_case_insensitive_and_immutable():
    p = Parameters([("Tag", "a"), ("lr", None)])
    assert p.get("tag") == "a" and "LR" in p and p.names() == ["tag", "lr"]
    q = p.with_param("TAG", "b").without("lr")
    assert list(q) == [("Tag", "b")] and list(p) == [("Tag", "a"), ("lr", None)]
    assert Parameters([("text", '"a \\"q\\""')]).unquoted("text") == 'a "q"'


@given(st.text())
def test_quoting_and_escaping_round_trip(text):
    if "\r" in text or "\n" in text:
        with pytest.raises(ValueError):
            quote_string(text)
    else:
        assert unquote_string(quote_string(text)) == text
    surrogate_free = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)
    uri = SipUri(host="example.com", user=surrogate_free or None)
    parsed = parse_uri(str(uri))
    assert isinstance(parsed, SipUri) and parsed.user == (surrogate_free or None)
    assert unescape("%41%zz%") == "A%zz%"
