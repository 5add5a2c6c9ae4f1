from sipperc.sip import SipParseError


def test_error_carries_status_reason_and_short_detail():
    error = SipParseError(400, "Bad Via header", header="Via", detail="x" * 1000)
    assert (error.status_code, error.reason, error.header) == (400, "Bad Via header", "Via")
    assert str(error).startswith("400 Bad Via header: 'xxx") and len(error.detail or "") == 200
    assert error.recovered == () and error.method is None and error.message is None
    assert isinstance(error, ValueError)
