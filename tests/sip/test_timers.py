import pytest

from sipperc.sip.timers import TimerConfig


def test_rfc3261_table_4_defaults():
    c = TimerConfig()
    assert (c.t1, c.t2, c.t4) == (0.5, 4.0, 5.0)
    assert c.timer_a == c.timer_e == c.timer_g == 0.5
    assert c.timer_b == c.timer_f == c.timer_h == 32.0
    assert c.timer_l == c.timer_m == 32.0  # RFC 6026
    assert c.wait_d(reliable=False) == 32.0
    assert c.wait_i(reliable=False) == c.wait_k(reliable=False) == 5.0
    assert c.wait_j(reliable=False) == 32.0
    assert c.trying_delay == 0.2


def test_reliable_transports_do_not_wait_for_retransmissions():
    c = TimerConfig()
    assert c.wait_d(reliable=True) == c.wait_i(reliable=True) == 0
    assert c.wait_j(reliable=True) == c.wait_k(reliable=True) == 0


def test_everything_follows_t1_and_t4():
    c = TimerConfig(t1=0.1, t2=1.0, t4=2.0)
    assert c.timer_b == c.timer_f == c.timer_h == c.wait_j(reliable=False) == pytest.approx(6.4)
    assert c.wait_k(reliable=False) == c.wait_i(reliable=False) == 2.0


@pytest.mark.parametrize(
    "kwargs", [{"t1": 0}, {"t1": 1.0, "t2": 0.5}, {"t4": -1}, {"timer_d": -1}]
)
def test_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        TimerConfig(**kwargs)


def test_invite_timeout_shortens_timer_b_only():
    c = TimerConfig(invite_timeout=2.0)
    assert c.timer_b == 2.0 and c.timer_f == c.timer_h == 32.0
    assert TimerConfig(invite_timeout=60.0).timer_b == 32.0  # never longer than 64*T1
    with pytest.raises(ValueError, match="INVITE timeout"):
        TimerConfig(invite_timeout=0.0)
