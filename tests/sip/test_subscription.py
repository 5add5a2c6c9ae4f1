import itertools

import pytest

from sipperc.sip import Address, Request, parse_message
from sipperc.sip import headers as h
from sipperc.sip.dialog import Dialog
from sipperc.sip.subscription import (
    NOTIFIER_TRANSITIONS,
    SUBSCRIBER_TRANSITIONS,
    Notifier,
    NotifierInput,
    NotifierState,
    Subscriber,
    SubscriberInput,
    SubscriberState,
    SubscriptionKey,
    SubscriptionStateError,
)

T1 = 0.5
KEY = SubscriptionKey("conference")


def wire(message):
    if "Via" not in message:
        message = message.prepend("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKs")
    return parse_message(bytes(message))


def subscribe(subscriber, expires=None):
    return wire(Request.build(
        "SUBSCRIBE", "sip:conf@192.0.2.2", from_="<sip:alice@192.0.2.1>;tag=a",
        to="<sip:conf@192.0.2.2>", call_id="sub1", cseq=1, contact="<sip:alice@192.0.2.1>",
        headers=subscriber.subscribe_headers(expires)))


def notifier_for(request, now=0.0):
    dialog = Dialog.for_uas(request, local_tag="n", local_contact=Address.parse(
        "<sip:conf@192.0.2.2>"), early=False)
    notifier = Notifier(SubscriptionKey.of(request), dialog, max_expires=600)
    return notifier, notifier.granted(request, now)


def notify(notifier, now):
    return wire(notifier.dialog.create_request(
        "NOTIFY", headers=notifier.notify_headers(now), body=notifier.body,
        content_type=notifier.content_type))


def test_key_and_event_header():
    key = SubscriptionKey("refer", "93809824")
    assert str(key.event()) == "refer;id=93809824"
    request = wire(Request.build("NOTIFY", "sip:a@192.0.2.1", from_="<sip:b@x>;tag=1",
                                 to="<sip:a@y>;tag=2", call_id="k", cseq=1,
                                 headers=[("Event", "Refer;id=93809824")]))
    assert SubscriptionKey.of(request) == SubscriptionKey("refer", "93809824")


def test_subscribe_notify_refresh_and_unsubscribe():
    sub = Subscriber(KEY, expires=3600, t1=T1, accept=("application/conference-info+xml",))
    request = subscribe(sub)
    assert request.first(h.EXPIRES) == 3600 and request.get("Accept") == (
        "application/conference-info+xml")
    notifier, granted = notifier_for(request)
    assert granted == 600  # capped by the notifier
    ok = wire(request.response(200, to_tag="n", headers=[("Expires", granted)],
                               contact="<sip:conf@192.0.2.2>"))
    sub.accepted(ok, now=0.0)
    assert sub.state is SubscriberState.NOTIFY_WAIT
    assert sub.get_timer() == 32.0  # 64*T1 for the first NOTIFY
    notifier.accept()
    notifier.set_state(b"<conference-info/>", "application/conference-info+xml")
    first = notify(notifier, now=0.0)
    assert first.get("Subscription-State") == "active;expires=600"
    seen = sub.receive_notify(first, now=0.1)
    assert seen.state == "active" and seen.body == b"<conference-info/>"
    assert seen.content_type.mime == "application/conference-info+xml"
    assert sub.state is SubscriberState.ACTIVE
    assert sub.get_timer() == pytest.approx(0.1 + 600 - 32)
    # Refresh at the deadline.
    refresh = sub.handle_timer(sub.get_timer())
    assert dict(refresh)["Expires"] == 3600
    assert notifier.receive_subscribe(subscribe(sub), now=570.0) == 600
    assert notify(notifier, now=570.0).get("Subscription-State") == "active;expires=600"
    # Unsubscribe: Expires 0, the notifier's final NOTIFY says timeout and is still taken.
    bye = sub.unsubscribe()
    assert dict(bye)["Expires"] == 0 and sub.terminated
    assert notifier.receive_subscribe(subscribe(sub, 0), now=600.0) == 0
    final = notify(notifier, now=600.0)
    assert final.get("Subscription-State") == "terminated;reason=timeout"
    assert sub.receive_notify(final, now=600.1).reason == "timeout"


def test_notify_may_overtake_the_2xx():
    sub = Subscriber(KEY, expires=60, t1=T1)
    notifier, _ = notifier_for(subscribe(sub))
    notifier.accept(pending=True)
    sub.receive_notify(notify(notifier, 0.0), now=0.0)
    assert sub.state is SubscriberState.PENDING
    sub.accepted(wire(subscribe(sub).response(200, to_tag="n", headers=[("Expires", 60)])), 0.1)
    assert sub.state is SubscriberState.PENDING
    assert sub.get_timer() == pytest.approx(0.1 + 60 - 20)


def test_missing_first_notify_ends_the_subscription():
    sub = Subscriber(KEY, expires=60, t1=T1)
    sub.accepted(wire(subscribe(sub).response(202, to_tag="n", headers=[("Expires", 60)])), 0.0)
    assert sub.handle_timer(31.9) is None and not sub.terminated
    assert sub.handle_timer(32.0) is None and sub.terminated


def test_refer_subscription_is_never_refreshed():
    sub = Subscriber(SubscriptionKey("refer"), expires=60, t1=T1, refreshes=False)
    sub.accepted(wire(subscribe(sub).response(202, to_tag="n")), 0.0)
    notifier, _ = notifier_for(subscribe(sub))
    notifier.accept()
    sub.receive_notify(notify(notifier, 0.0), now=0.0)
    assert sub.get_timer() is None


def test_malformed_subscription_state_is_refused():
    sub = Subscriber(KEY, expires=60, t1=T1)
    notifier, _ = notifier_for(subscribe(sub))
    bad = notify(notifier, 0.0).replace("Subscription-State", "bogus")
    assert sub.receive_notify(wire(bad), 0.0) is None
    assert sub.state is SubscriberState.SUBSCRIBING


def test_notifier_expiry_and_termination():
    sub = Subscriber(KEY, expires=100, t1=T1)
    notifier, _ = notifier_for(subscribe(sub), now=10.0)
    notifier.accept()
    assert notifier.get_timer() == 110.0
    assert not notifier.handle_timer(109.0)
    assert notifier.handle_timer(110.0)
    assert notify(notifier, 110.0).get("Subscription-State") == "terminated;reason=timeout"
    assert notifier.get_timer() is None
    other, _ = notifier_for(subscribe(sub))
    other.accept()
    other.terminate("deactivated")
    assert notify(other, 1.0).get("Subscription-State") == "terminated;reason=deactivated"


# --- every (state, input) pair -------------------------------------------------------------


def subscriber_in(state):
    sub = Subscriber(KEY, expires=60, t1=T1)
    sub.state = state
    return sub


def subscriber_apply(sub, event):
    ok = wire(subscribe(sub).response(200, to_tag="n", headers=[("Expires", 60)]))
    notifier, _ = notifier_for(subscribe(sub))
    if event is SubscriberInput.ACCEPTED:
        sub.accepted(ok, 0.0)
    elif event is SubscriberInput.REFUSED:
        sub.refused()
    elif event is SubscriberInput.NOTIFY_TIMEOUT:
        sub._notify_deadline = 0.0
        sub.handle_timer(0.0)
    elif event is SubscriberInput.UNSUBSCRIBE:
        sub.unsubscribe()
    else:
        if event is SubscriberInput.NOTIFY_ACTIVE:
            notifier.accept()
        elif event is SubscriberInput.NOTIFY_PENDING:
            notifier.accept(pending=True)
        else:
            notifier.reject()
        sub.receive_notify(notify(notifier, 0.0), 0.0)


def test_subscriber_table_covers_every_pair():
    assert set(SUBSCRIBER_TRANSITIONS) == set(itertools.product(SubscriberState, SubscriberInput))


@pytest.mark.parametrize(("state", "event"),
                         list(itertools.product(SubscriberState, SubscriberInput)))
def test_subscriber_every_state_and_input(state, event):
    sub = subscriber_in(state)
    expected = SUBSCRIBER_TRANSITIONS[(state, event)]
    if expected is None:
        with pytest.raises(SubscriptionStateError):
            subscriber_apply(sub, event)
        assert sub.state is state
    else:
        subscriber_apply(sub, event)
        assert sub.state is expected


def notifier_in(state):
    notifier, _ = notifier_for(subscribe(Subscriber(KEY, expires=60, t1=T1)))
    notifier.state = state
    return notifier


def notifier_apply(notifier, event):
    sub = Subscriber(KEY, expires=60, t1=T1)
    if event is NotifierInput.ACCEPT:
        notifier.accept()
    elif event is NotifierInput.DEFER:
        notifier.accept(pending=True)
    elif event is NotifierInput.REJECT:
        notifier.reject()
    elif event is NotifierInput.REFRESH:
        notifier.receive_subscribe(subscribe(sub), 0.0)
    elif event is NotifierInput.UNSUBSCRIBE:
        notifier.receive_subscribe(subscribe(sub, 0), 0.0)
    elif event is NotifierInput.EXPIRE:
        notifier.expires_at = 0.0
        if not notifier.handle_timer(0.0):
            raise SubscriptionStateError("no expiry in this state")
    elif event is NotifierInput.TERMINATE:
        notifier.terminate()
    else:
        notifier.notify_failed()


def test_notifier_table_covers_every_pair():
    assert set(NOTIFIER_TRANSITIONS) == set(itertools.product(NotifierState, NotifierInput))


@pytest.mark.parametrize(("state", "event"),
                         list(itertools.product(NotifierState, NotifierInput)))
def test_notifier_every_state_and_input(state, event):
    notifier = notifier_in(state)
    expected = NOTIFIER_TRANSITIONS[(state, event)]
    if expected is None:
        with pytest.raises(SubscriptionStateError):
            notifier_apply(notifier, event)
        assert notifier.state is state
    else:
        notifier_apply(notifier, event)
        assert notifier.state is expected
