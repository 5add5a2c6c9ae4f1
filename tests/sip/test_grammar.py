import re

import pytest

from sipperc.sip import grammar


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2001:db8::1", True),
        ("::", True),
        ("::ffff:192.0.2.1", True),
        ("2001:db8::192.0.2.1", True),  # RFC 5118 §4.10: two colons
        ("2001:db8:::192.0.2.1", False),  # RFC 5118 §4.10: the RFC 3261 ABNF bug
        ("1:2:3:4:5:6:7:8", True),
        ("1:2:3:4:5:6:7:8:9", False),
        ("2001:db8::10:5070", True),  # RFC 5118 §4.3: an address, not address+port
        ("12345::1", False),
    ],
)
def test_ipv6address_is_the_rfc3986_rule(text, ok):
    assert (grammar.IPV6ADDRESS.fullmatch(text) is not None) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("example.com", True),
        ("example.com.", True),
        ("a-b.example", True),
        ("-a.example", False),
        ("example.123", False),  # toplabel starts with ALPHA
        ("192.0.2.1", True),
        ("[2001:db8::1]", True),
        ("2001:db8::1", False),  # RFC 5118 §4.2: references need brackets
    ],
)
def test_host(text, ok):
    assert (grammar.HOST.fullmatch(text) is not None) is ok


def test_token_word_and_quoted_string():
    assert grammar.TOKEN.fullmatch("!interesting-Method0123456789_*+`.%indeed'~")
    assert not grammar.TOKEN.fullmatch("a b") and not grammar.TOKEN.fullmatch("a:b")
    assert grammar.CALLID.fullmatch("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    assert not grammar.CALLID.fullmatch("a@b@c")
    qs = re.compile(grammar.quoted_string)
    assert qs.fullmatch('"a \\" b"') and qs.fullmatch('"\\\x00"')
    assert not qs.fullmatch('"unterminated') and not qs.fullmatch('"a"b"')
    assert not qs.fullmatch('"\udc80"')  # invalid UTF-8 octets (surrogate-escaped) rejected


def test_list_rules_reject_empty_elements():
    assert grammar.VIA_VALUE.fullmatch("SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/TCP b")
    assert not grammar.VIA_VALUE.fullmatch("SIP/2.0/UDP 192.0.2.15;;,;,,")  # RFC 4475 badinv01
    assert grammar.TOKEN_LIST.fullmatch("") and grammar.TOKEN_LIST.fullmatch("a , b")
    assert not grammar.TOKEN_LIST.fullmatch("a,,b")


def test_addresses_and_the_bare_addr_spec_rule():
    assert grammar.ADDRESS_VALUE.fullmatch("caller<sip:caller@example.com>;tag=323")
    assert not grammar.ADDRESS_VALUE.fullmatch('"Watson, Thomas" < sip:t.watson@example.org >')
    assert not grammar.ADDRESS_VALUE.fullmatch("Bell, Alexander <sip:a.g.bell@example.com>")
    # RFC 3261 §20.10: an unbracketed URI cannot carry "?" headers.
    assert not grammar.CONTACT_VALUE.fullmatch("sip:user@example.com?Route=%3Csip:x%3E")
    assert grammar.CONTACT_VALUE.fullmatch("<sip:user@example.com?Route=%3Csip:x%3E>")
    assert grammar.CONTACT_VALUE.fullmatch("*")


def test_date_and_status_line_rules():
    assert grammar.RFC1123_DATE.fullmatch("Sat, 13 Nov 2010 23:29:00 GMT")
    assert not grammar.RFC1123_DATE.fullmatch("Fri, 01 Jan 2010 16:00:00 EST")
    assert grammar.STATUS_CODE.fullmatch("200") and not grammar.STATUS_CODE.fullmatch("4294967301")
    assert grammar.REASON_PHRASE.fullmatch("") and not grammar.REASON_PHRASE.fullmatch("a\x00")
