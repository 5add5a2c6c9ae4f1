import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.srtp import KeyLimitError, ReplayError
from sipperc.srtp.stream import SRTP_INDEX_LIMIT, ReplayWindow, SrtcpStream, SrtpStream


@given(st.integers(64, 200), st.lists(st.integers(-300, 300), max_size=300))
def test_replay_window_matches_a_set_model(size, steps):
    window = ReplayWindow(size, 0, highest=1000)
    received: set[int] = set()
    highest = 1000
    index = 1000
    for step in steps:
        index = max(0, index + step)
        should_fail = index in received or (index <= highest and highest - index >= size)
        try:
            window.check(index)
        except ReplayError:
            assert should_fail
            continue
        assert not should_fail
        window.accept(index)
        received.add(index)
        highest = max(highest, index)
        assert window.highest == highest


def test_in_order_stream_is_one_run():
    window = ReplayWindow(64, 0)
    for index in range(1, 1000):
        window.check(index)
        window.accept(index)
    assert (window.run_start, window.highest, window.mask) == (1, 999, 0)
    with pytest.raises(ReplayError, match="already received"):
        window.check(999)
    with pytest.raises(ReplayError, match="outside the 64-packet replay window"):
        window.check(935)
    window.check(1000)


@pytest.mark.parametrize(("highest", "seq", "index"), [
    (0, 5, 5),
    (0, 0xFFFF, 0xFFFF),             # ROC 0 has no earlier roll-over
    (0xFFF0, 0x0005, 0x1_0005),      # wrap forward
    (0x1_0005, 0xFFF0, 0xFFF0),      # late packet from before the wrap
    (0x1_8000, 0x0001, 0x1_0001),    # half-way: exactly 2^15 apart stays in this ROC
    (0x1_8002, 0x0001, 0x2_0001),
    (0x1_7FFF, 0xFFFF, 0x1_FFFF),
    (0x1_7FFE, 0xFFFF, 0x0_FFFF),
    (0x5_1234, 0x1235, 0x5_1235),
])
def test_roc_estimation_rfc3711_appendix_a(highest, seq, index):
    assert SrtpStream(128, 0, highest).estimate(seq) == index


def test_sender_refuses_to_reuse_an_index():
    stream = SrtpStream(128, 0)
    assert [stream.send_index(seq) for seq in (1, 3, 2)] == [1, 3, 2]
    with pytest.raises(ReplayError):
        stream.send_index(2)


def test_key_limits():
    stream = SrtpStream(128, 0, highest=SRTP_INDEX_LIMIT - 1)
    with pytest.raises(KeyLimitError, match="2\\^48"):
        stream.send_index(0)
    rtcp = SrtcpStream(128, 0, highest=(1 << 31) - 1)
    assert rtcp.next_index() == (1 << 31) - 1
    with pytest.raises(KeyLimitError, match="2\\^31"):
        rtcp.next_index()


def test_srtcp_indices_start_at_zero():
    stream = SrtcpStream(128, 0)
    assert [stream.next_index() for _ in range(3)] == [0, 1, 2]
