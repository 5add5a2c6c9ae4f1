import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.sip import Address, Replaces, Request, SipUri, parse_message
from sipperc.sip.refer import ReferError, ReferTarget, SipFragStatus, refer_to
from sipperc.sip.uri import Parameters


def refer(*refer_tos):
    return parse_message(bytes(Request.build(
        "REFER", "sip:bob@192.0.2.2", from_="<sip:alice@192.0.2.1>;tag=a",
        to="<sip:bob@192.0.2.2>;tag=b", call_id="r1", cseq=3,
        via="SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr", contact="<sip:alice@192.0.2.1>",
        headers=[("Refer-To", r) for r in refer_tos])))


REPLACES = Replaces("c2@192.0.2.1", Parameters([("to-tag", "x1"), ("from-tag", "y2")]))


def test_sipfrag_status_lines():
    assert bytes(SipFragStatus(100)) == b"SIP/2.0 100 Trying\r\n"
    assert bytes(SipFragStatus(603, "Nope")) == b"SIP/2.0 603 Nope\r\n"
    frag = SipFragStatus.parse(b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n")
    assert frag == SipFragStatus(180, "Ringing") and not frag.final
    assert SipFragStatus.parse(b"SIP/2.0 200 OK").final


@pytest.mark.parametrize("body", [b"", b"INVITE sip:x SIP/2.0\r\n", b"SIP/2.0 2000 OK\r\n",
                                  b"SIP/3.0 200 OK\r\n", b"SIP/2.0 099 Low\r\n"])
def test_bad_sipfrag_is_a_refer_error(body):
    with pytest.raises(ReferError):
        SipFragStatus.parse(body)


@given(st.binary(max_size=100))
def test_any_sipfrag_parses_or_raises_refer_error(body):
    try:
        SipFragStatus.parse(body)
    except ReferError as exc:
        assert exc.status_code == 400


def test_blind_transfer_target():
    target = ReferTarget.from_request(refer("<sip:carol@192.0.2.3>"))
    assert target.uri == SipUri(host="192.0.2.3", user="carol") and target.replaces is None


def test_attended_transfer_round_trips_replaces_through_the_uri():
    value = refer_to(SipUri(host="192.0.2.3", user="carol"), REPLACES)
    assert str(value) == ("<sip:carol@192.0.2.3?Replaces=c2%40192.0.2.1%3Bto-tag%3Dx1"
                          "%3Bfrom-tag%3Dy2>")
    target = ReferTarget.from_request(refer(str(value)))
    assert target.replaces == REPLACES
    assert target.uri == SipUri(host="192.0.2.3", user="carol") and not target.uri.headers
    assert target.address == Address.parse(str(value))


@pytest.mark.parametrize(("refer_tos", "status"), [
    ((), 400),
    (("<sip:a@192.0.2.3>", "<sip:b@192.0.2.3>"), 400),
    (("<sip:a@192.0.2.3?Replaces=%3B%3B>",), 400),
    (("<tel:+15551234>",), 603),
    (("<sip:a@192.0.2.3;method=BYE>",), 603),
])
def test_refer_to_problems_name_the_answer(refer_tos, status):
    with pytest.raises(ReferError) as info:
        ReferTarget.from_request(refer(*refer_tos))
    assert info.value.status_code == status


def test_method_invite_is_accepted_and_dropped():
    target = ReferTarget.from_request(refer("<sip:a@192.0.2.3;method=INVITE>"))
    assert "method" not in target.uri.parameters


def test_replaces_needs_a_sip_uri():
    with pytest.raises(ValueError, match="SIP"):
        refer_to(Address.parse("<tel:+15551234>"), REPLACES)
