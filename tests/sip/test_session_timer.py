import pytest

from sipperc.sip import Request, parse_message
from sipperc.sip.session_timer import (
    Refresher,
    SessionTimer,
    SessionTimerAction,
    SessionTimerPolicy,
)


def invite(*headers):
    return parse_message(bytes(Request.build(
        "INVITE", "sip:bob@192.0.2.2", from_="<sip:alice@192.0.2.1>;tag=a",
        to="<sip:bob@192.0.2.2>",
        call_id="st1", cseq=1, via="SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
        contact="<sip:alice@192.0.2.1>", headers=headers)))


def ok(request, *headers):
    return parse_message(bytes(request.response(200, to_tag="b", headers=headers)))


def test_policy_refuses_intervals_below_90_seconds():
    with pytest.raises(ValueError, match="below 90"):
        SessionTimerPolicy(min_se=60)
    with pytest.raises(ValueError, match="below Min-SE"):
        SessionTimerPolicy(interval=100, min_se=120)


# --- the UAC's side (§7) -------------------------------------------------------------------


def test_first_request_asks_for_the_policy_interval_without_refresher():
    timer = SessionTimer(SessionTimerPolicy(interval=1800))
    assert [(n, str(v)) for n, v in timer.request_headers()] == [("Session-Expires", "1800")]


def test_2xx_with_refresher_uac_makes_us_refresh_at_half_the_interval():
    timer = SessionTimer(SessionTimerPolicy())
    request = invite(*timer.request_headers(), ("Supported", "timer"))
    timer.response_received(request, ok(request, ("Session-Expires", "600;refresher=uac"),
                                        ("Require", "timer")), now=100.0)
    assert timer.active and timer.interval == 600 and timer.we_refresh
    assert timer.deadline() == 400.0
    assert timer.due(399.9) is None
    assert timer.due(400.0) is SessionTimerAction.REFRESH
    # A refresh keeps the interval and says who refreshes.
    assert [(n, str(v)) for n, v in timer.request_headers()] == [
        ("Session-Expires", "600;refresher=uac")]


def test_2xx_with_refresher_uas_makes_us_wait_and_then_expire():
    timer = SessionTimer(SessionTimerPolicy())
    request = invite(*timer.request_headers())
    timer.response_received(request, ok(request, ("Session-Expires", "90;refresher=uas")), 0.0)
    assert not timer.we_refresh
    assert timer.deadline() == 90 - 30  # min(32, 90/3) before expiry
    assert timer.due(60.0) is SessionTimerAction.EXPIRE
    timer.response_received(request, ok(request, ("Session-Expires", "1800;refresher=uas")), 0.0)
    assert timer.deadline() == 1800 - 32


def test_2xx_without_session_expires_means_no_timer():
    timer = SessionTimer(SessionTimerPolicy())
    request = invite(*timer.request_headers())
    timer.response_received(request, ok(request), 0.0)
    assert not timer.active and timer.deadline() is None and timer.due(1e9) is None


def test_422_raises_min_se_for_the_retry_and_gives_up_eventually():
    timer = SessionTimer(SessionTimerPolicy(interval=100, min_se=90, max_retries=2))
    request = invite(*timer.request_headers())
    too_small = parse_message(bytes(request.response(422, to_tag="b", headers=[("Min-SE", 400)])))
    assert timer.interval_too_small(too_small)
    assert [(n, str(v)) for n, v in timer.request_headers()] == [
        ("Session-Expires", "400"), ("Min-SE", "400")]
    # The same Min-SE again cannot help: no retry.
    assert not timer.interval_too_small(too_small)
    no_min_se = parse_message(bytes(request.response(422, to_tag="b")))
    assert not timer.interval_too_small(no_min_se)


def test_retries_are_bounded():
    timer = SessionTimer(SessionTimerPolicy(max_retries=2))
    request = invite()
    for n, value in enumerate((1000, 2000, 3000)):
        response = parse_message(bytes(request.response(422, headers=[("Min-SE", value)])))
        assert timer.interval_too_small(response) is (n < 2)


# --- the UAS's side (§9) ------------------------------------------------------------------


def test_interval_below_our_minimum_gets_422_with_min_se():
    timer = SessionTimer(SessionTimerPolicy(min_se=300))
    request = invite(("Session-Expires", "120"), ("Supported", "timer"))
    assert timer.required_min_se(request) == 300
    assert timer.required_min_se(invite(("Session-Expires", "300"), ("Supported", "timer"))) \
        is None
    assert timer.required_min_se(invite()) is None


def test_uac_without_timer_support_gets_the_interval_raised_instead_of_422():
    timer = SessionTimer(SessionTimerPolicy(min_se=300))
    request = invite(("Session-Expires", "120"))  # inserted by a proxy
    assert timer.required_min_se(request) is None
    fields = dict(timer.response_headers(request, now=0.0))
    assert str(fields["Session-Expires"]) == "300;refresher=uas"
    assert "Require" not in fields
    assert timer.we_refresh and timer.deadline() == 150.0


def test_uas_keeps_the_requested_refresher_and_lowers_to_its_interval():
    timer = SessionTimer(SessionTimerPolicy(interval=1200))
    request = invite(("Session-Expires", "1800;refresher=uas"), ("Supported", "timer"))
    fields = timer.response_headers(request, now=10.0)
    assert [(n, str(v)) for n, v in fields] == [("Session-Expires", "1200;refresher=uas")]
    assert timer.we_refresh and timer.deadline() == 610.0


def test_uas_picks_the_refresher_when_left_to_it_and_requires_timer_for_uac():
    timer = SessionTimer(SessionTimerPolicy(interval=1800, uas_refresher=Refresher.UAC))
    request = invite(("Supported", "timer"), ("Min-SE", "600"))
    fields = timer.response_headers(request, now=0.0)
    assert [(n, str(v)) for n, v in fields] == [
        ("Session-Expires", "1800;refresher=uac"), ("Require", "timer")]
    assert not timer.we_refresh and timer.min_se == 600
    # Our own later refresh requests carry the Min-SE seen in the session (§7.4).
    assert ("Min-SE", 600) in timer.request_headers()


def test_uas_never_goes_below_the_requests_min_se():
    timer = SessionTimer(SessionTimerPolicy(interval=200))
    request = invite(("Session-Expires", "900"), ("Min-SE", "900"), ("Supported", "timer"))
    fields = dict(timer.response_headers(request, now=0.0))
    assert fields["Session-Expires"].delta == 900


def test_postpone_and_stop():
    timer = SessionTimer(SessionTimerPolicy())
    request = invite(("Supported", "timer"))
    timer.response_headers(request, now=0.0)
    timer.postpone(50.0)
    assert timer.deadline() == 50.0 + 1800 - 32
    timer.stop()
    assert timer.deadline() is None
