import itertools
import random

import pytest

from sipperc.media.rtcp_schedule import COMPENSATION, RtcpSchedule, rtcp_interval


def two_party(rng, initial):
    return rtcp_interval(2, 1, 400.0, we_sent=True, avg_rtcp_size=100.0, initial=initial,
                         rng=rng)


def test_minimum_interval_and_randomisation_bounds():
    rng = random.Random(1)
    values = [two_party(rng, initial=False) for _ in range(2000)]
    assert min(values) >= 5.0 * 0.5 / COMPENSATION
    assert max(values) <= 5.0 * 1.5 / COMPENSATION
    assert sum(values) / len(values) == pytest.approx(5.0 / COMPENSATION, rel=0.03)
    initial = [two_party(rng, initial=True) for _ in range(2000)]
    assert sum(initial) / len(initial) == pytest.approx(2.5 / COMPENSATION, rel=0.03)


def test_interval_grows_with_a_large_group():
    rng = random.Random(2)
    # 1000 receivers sharing 3/4 of 400 octets/s with 128-octet reports: 1000*128/300 s.
    values = [rtcp_interval(1001, 1, 400.0, we_sent=False, avg_rtcp_size=128.0,
                            initial=False, rng=rng) for _ in range(2000)]
    assert sum(values) / len(values) == pytest.approx(1000 * 128 / 300 / COMPENSATION, rel=0.03)


def test_schedule_reports_roughly_every_five_seconds():
    schedule = RtcpSchedule(64000, now=0.0, rng=random.Random(3))
    sent = []
    now = 0.0
    while now < 300:
        if schedule.due(now):
            schedule.sent(now, 90)
            sent.append(now)
        now += 0.02
    assert sent[0] < 2.5 * 1.5 / COMPENSATION + 0.02
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) > 5 * 0.5 / COMPENSATION and max(gaps) < 5 * 1.5 / COMPENSATION + 0.05
    # Reconsideration stretches the randomised interval back to the nominal 5 s on average.
    assert sum(gaps) / len(gaps) == pytest.approx(5.0, rel=0.1)


def test_reconsideration_postpones_when_the_group_grows():
    schedule = RtcpSchedule(64000, now=0.0, rng=random.Random(4))
    deadline = schedule.deadline
    schedule.members, schedule.avg_rtcp_size = 5000, 200.0
    assert not schedule.due(deadline)
    assert schedule.deadline > deadline + 10
