from sipperc.sip.status import reason_phrase


def test_reason_phrases():
    assert reason_phrase(200) == "OK" and reason_phrase(481) == "Call/Transaction Does Not Exist"
    assert reason_phrase(422) == "Session Interval Too Small"
    assert reason_phrase(499) == "Bad Request" and reason_phrase(299) == "OK"  # class default
