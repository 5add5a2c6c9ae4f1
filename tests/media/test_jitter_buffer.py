import random

import pytest

from sipperc.media.jitter_buffer import (
    BufferedPacket,
    JitterBuffer,
    PlayoutKind,
    Push,
)

FRAME = 160
RATE = 8000
TICK = FRAME / RATE


def packets(count, first_seq=1000, first_ts=50000, gaps=()):
    """``count`` 20 ms packets; ``gaps`` adds silent (DTX) time before the given indexes."""
    out, ts = [], first_ts
    for i in range(count):
        ts += dict(gaps).get(i, 0)
        out.append(BufferedPacket((first_seq + i) & 0xFFFF, ts & 0xFFFFFFFF, 0, bytes([i % 256])))
        ts += FRAME
    return out


def run(buffer, arrivals, ticks, clock=1.0):
    """Push (time, packet) arrivals and pop once per tick of the receiver's clock."""
    arrivals = sorted(arrivals, key=lambda a: a[0])
    played, results = [], []
    index = 0
    for tick in range(ticks):
        now = tick * TICK * clock
        while index < len(arrivals) and arrivals[index][0] <= now:
            results.append(buffer.push(arrivals[index][1], arrivals[index][0]))
            index += 1
        played.append(buffer.pop(now))
    return played, results


def audio_order(played):
    return [p.packet.payload[0] for p in played if p and p.kind is PlayoutKind.AUDIO]


def test_in_order_stream_plays_everything_in_order():
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(100)
    played, results = run(buffer, [(i * TICK, p) for i, p in enumerate(stream)], 110)
    assert set(results) == {Push.ACCEPTED}
    assert audio_order(played) == [i % 256 for i in range(100)]
    assert played[0] is None  # pre-buffering to the 40 ms minimum
    stats = buffer.statistics()
    assert stats.lost == 0 and stats.target_delay == pytest.approx(0.04)


def test_reordering_and_duplicates_are_absorbed():
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(200)
    arrivals = []
    for i, packet in enumerate(stream):
        # Overtaken by the next packet (once the buffer has seen a second of the stream).
        late = 1.5 * TICK if i % 7 == 3 and i > 50 else 0.0
        arrivals.append((i * TICK + late, packet))
        if i % 11 == 0:
            arrivals.append((i * TICK + 0.001, packet))  # network duplicate
    played, results = run(buffer, arrivals, 240)
    # Only the first reordered packet is lost: it is the buffer's first sight of that much
    # jitter, and the target rises at once to absorb every later one.
    assert audio_order(played) == [i % 256 for i in range(200) if i != 52]
    assert results.count(Push.DUPLICATE) == len(range(0, 200, 11))
    assert buffer.statistics().lost == 1
    assert buffer.target_delay == pytest.approx(0.05)


def test_random_loss_is_declared_once_per_missing_packet_with_fec_candidate():
    rng = random.Random(7)
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(1000)
    kept = [(i * TICK, p) for i, p in enumerate(stream) if rng.random() >= 0.1]
    dropped = 1000 - len(kept)
    played, _ = run(buffer, kept, 1010)
    lost = [p for p in played if p and p.kind is PlayoutKind.LOST]
    assert buffer.statistics().lost == len(lost) == dropped
    assert len(audio_order(played)) == len(kept)
    # The packet after a lost one rides along, for Opus FEC, whenever it has arrived.
    assert sum(1 for p in lost if p.following is not None) > 0.8 * len(lost)


def test_packet_after_its_turn_is_late():
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(50)
    arrivals = [(i * TICK, p) for i, p in enumerate(stream) if i != 20]
    arrivals.append((30 * TICK, stream[20]))  # 200 ms late: long declared lost
    _, results = run(buffer, arrivals, 60)
    assert results.count(Push.LATE) == 1
    assert buffer.statistics().lost == 1 and buffer.statistics().late == 1


def test_target_follows_network_jitter():
    rng = random.Random(3)
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(1500)
    arrivals = [(i * TICK + rng.uniform(0, 0.08), p) for i, p in enumerate(stream)]
    played, _ = run(buffer, arrivals, 1510)
    stats = buffer.statistics()
    assert 0.08 <= stats.target_delay <= 0.14
    # Once the target has adapted (after the first second), jitter alone costs no audio.
    later = played[100:1400]
    assert sum(1 for p in later if p and p.kind is PlayoutKind.LOST) < 15
    assert len(audio_order(played)) > 1450


@pytest.mark.parametrize("sender_speed", [1.01, 0.99])
def test_clock_drift_keeps_delay_bounded(sender_speed):
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(3000)  # 60 s
    arrivals = [(i * TICK / sender_speed, p) for i, p in enumerate(stream)]
    depths = []
    played = []
    index = 0
    for tick in range(2950):
        now = tick * TICK
        while index < len(arrivals) and arrivals[index][0] <= now:
            buffer.push(arrivals[index][1], arrivals[index][0])
            index += 1
        played.append(buffer.pop(now))
        depths.append(buffer.buffered)
    assert max(depths[500:]) < buffer.target_delay + 4 * TICK
    stats = buffer.statistics()
    if sender_speed > 1:
        assert stats.skipped >= 15  # 1% of 60 s is 30 frames too many
    else:
        assert stats.underruns >= 15 and stats.lost == 0


def test_silence_suppression_is_not_loss():
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(60, gaps=[(30, 3 * FRAME)])  # 60 ms of DTX before packet 30
    arrivals = []
    for i, packet in enumerate(stream):
        arrivals.append(((i + (3 if i >= 30 else 0)) * TICK, packet))
    played, _ = run(buffer, arrivals, 70)
    kinds = [p.kind for p in played if p]
    kinds = kinds[:len(kinds) - kinds[::-1].index(PlayoutKind.AUDIO)]  # up to the last packet
    # The 60 ms pause takes exactly 3 frames (concealing while it could still be lateness,
    # then silence once the next packet shows it was a pause): no delay is added.
    assert kinds.count(PlayoutKind.SILENCE) + kinds.count(PlayoutKind.UNDERRUN) == 3
    assert PlayoutKind.SILENCE in kinds and PlayoutKind.LOST not in kinds
    assert audio_order(played) == list(range(60))


def test_long_silence_goes_idle_then_restarts_on_the_next_talkspurt():
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(40, gaps=[(20, 100 * FRAME)])  # 2 s pause
    arrivals = [((i + (100 if i >= 20 else 0)) * TICK, p) for i, p in enumerate(stream)]
    played, _ = run(buffer, arrivals, 150)
    assert audio_order(played) == list(range(40))
    assert sum(1 for p in played[:130] if p and p.kind is PlayoutKind.UNDERRUN) <= 10
    assert played[60] is None  # idle in the middle of the pause, not concealing


def test_sequence_and_timestamp_wrap():
    buffer = JitterBuffer(RATE, FRAME)
    stream = packets(100, first_seq=65500, first_ts=0xFFFFFFFF - 5000)
    played, _ = run(buffer, [(i * TICK, p) for i, p in enumerate(stream)], 110)
    assert audio_order(played) == [i % 256 for i in range(100)]
    assert buffer.statistics().lost == 0


def test_sender_restart_resets_the_buffer():
    buffer = JitterBuffer(RATE, FRAME)
    first = packets(30, first_seq=100)
    second = packets(30, first_seq=40000, first_ts=9000)
    arrivals = [(i * TICK, p) for i, p in enumerate(first + second)]
    played, results = run(buffer, arrivals, 70)
    assert Push.LATE not in results
    assert len(audio_order(played)) >= 55
