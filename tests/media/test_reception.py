import random

import pytest

from sipperc.media.reception import (
    ReceptionStatistics,
    ntp_short,
    ntp_timestamp,
    round_trip_time,
)


def feed(stats, sequences, clock=8000, frame=160, transit=lambda i: 0.05):
    results = []
    for i, seq in enumerate(sequences):
        results.append(stats.update(seq & 0xFFFF, (seq * frame) & 0xFFFFFFFF,
                                    seq * frame / clock + transit(i)))
    return results


def test_probation_then_counting():
    stats = ReceptionStatistics(8000, 100)
    assert feed(stats, [100, 101, 102]) == [False, True, True]
    assert stats.valid and stats.received == 2 and stats.expected == 2 and stats.lost == 0


def test_loss_and_fraction_per_interval():
    stats = ReceptionStatistics(8000, 0)
    feed(stats, [0, 1])
    rng = random.Random(5)
    kept = [s for s in range(2, 1002) if rng.random() >= 0.1]
    feed(stats, kept)
    dropped = 1000 - len(kept)
    assert stats.lost == dropped
    block = stats.report()
    assert block.cumulative_lost == dropped
    assert block.fraction_lost == (dropped << 8) // 1001
    assert block.extended_highest_sequence == kept[-1]
    feed(stats, range(1002, 1102))  # a clean interval
    assert stats.report().fraction_lost == 0


def test_wraparound_extends_the_sequence():
    stats = ReceptionStatistics(8000, 65530)
    feed(stats, range(65530, 65546))
    assert stats.extended_max == 65545 and stats.cycles == 65536 and stats.lost == 0


def test_duplicates_make_loss_negative_as_rfc_3550_says():
    stats = ReceptionStatistics(8000, 10)
    feed(stats, [10, 11, 12, 12, 13])
    assert stats.lost == -1


def test_restart_after_two_sequential_packets_beyond_dropout():
    stats = ReceptionStatistics(8000, 10)
    feed(stats, [10, 11, 12])
    assert feed(stats, [20000]) == [False]  # one stray packet: ignored
    assert feed(stats, [20001]) == [True]  # a second in sequence: the sender restarted
    assert stats.base_seq == 20001 and stats.lost == 0


def test_jitter_is_zero_on_a_perfect_network_and_tracks_variation():
    steady = ReceptionStatistics(8000, 0)
    feed(steady, range(200))
    assert steady.jitter == pytest.approx(0.0, abs=1e-9)
    # Transit alternating 40/50 ms: |D| is 10 ms = 80 ticks, the estimate converges to it.
    alternating = ReceptionStatistics(8000, 0)
    feed(alternating, range(500), transit=lambda i: 0.04 + 0.01 * (i % 2))
    assert alternating.report().jitter == pytest.approx(80, abs=1)
    assert alternating.jitter == pytest.approx(0.01, rel=0.02)


def test_round_trip_time_example_from_rfc_3550_section_6_4_1():
    arrival = 0xB7108000 << 16
    assert round_trip_time(arrival, 0xB7052000, 0x00054000) == pytest.approx(6.125)
    assert round_trip_time(arrival, 0, 0) is None


def test_ntp_conversions():
    ntp = ntp_timestamp(0.5)
    assert ntp >> 32 == 2208988800 and ntp & 0xFFFFFFFF == 1 << 31
    assert ntp_short(ntp) == (2208988800 & 0xFFFF) << 16 | 0x8000
