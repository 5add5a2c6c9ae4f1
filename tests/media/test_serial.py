from hypothesis import given
from hypothesis import strategies as st

from sipperc.media.serial import extend


def test_across_the_wrap():
    assert extend(2, 65534, 16) == 65538
    assert extend(65534, 65538, 16) == 65534
    assert extend(5, 10, 16) == 5
    assert extend(0, 0xFFFFFFF0, 32) == 0x100000000


@given(st.integers(0, 1 << 40), st.integers(-32767, 32767))
def test_nearby_values_extend_exactly(reference, delta):
    value = reference + delta
    if value >= 0:
        assert extend(value & 0xFFFF, reference, 16) == value
