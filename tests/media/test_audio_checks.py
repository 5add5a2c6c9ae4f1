"""The measurement the call tests assert on (``heard_in_loop``) passes what a listener would
accept and fails what is broken.

What passes: G.711 speech through a jitter buffer that splices (10 ms frames dropped or
inserted every 200 ms, as PJSIP's does on a loaded machine; 80 ms of concealment; a 250 ms
gap after a stalled clock). What fails: a muted stream, the wrong G.711 law, corrupted
payloads, every other frame missing, noise. The thresholds are the call tests' own: the
median block SNR >= 30 dB and 60% of the blocks >= 30 dB.
"""

import numpy as np
import pytest

from sipperc.media.codecs.g711 import G711
from tests.media.audio_checks import heard_in_loop, speech

RATE = 8000
FRAME = 160
SOURCE = speech(RATE)


def looped(start: int, samples: int) -> np.ndarray:
    """``samples`` of the source played in a loop from ``start``."""
    return SOURCE[(start + np.arange(samples)) % len(SOURCE)]


def through_g711(pcm: np.ndarray, sent: str = "PCMU", heard: str = "PCMU",
                 corrupt=None) -> np.ndarray:
    """``pcm`` encoded per 20 ms frame with ``sent``, decoded with ``heard``."""
    encoder, decoder = G711(sent), G711(heard)
    out = []
    for index, start in enumerate(range(0, len(pcm) - FRAME + 1, FRAME)):
        payload = encoder.encode(pcm[start:start + FRAME])
        if corrupt is not None:
            payload = corrupt(index, payload)
        out.append(decoder.decode(payload))
    return np.concatenate(out)


def verdict(received: np.ndarray) -> tuple[float, float, int]:
    snrs = heard_in_loop(SOURCE, received)
    return float(np.median(snrs)), float(np.mean(snrs >= 30)), len(snrs)


def accepted(received: np.ndarray) -> bool:
    median, good, _ = verdict(received)
    return median >= 30 and good >= 0.6


def spliced(pcm: np.ndarray) -> np.ndarray:
    """What a busy peer's jitter buffer makes of ``pcm``: a 10 ms frame lost every 200 ms,
    one 10 ms frame played twice, 80 ms of silence inserted, and a 250 ms gap."""
    pieces, start = [], 0
    for cut in range(1600, len(pcm) - 80, 1600):
        pieces.append(pcm[start:cut])
        start = cut + 80
        if cut == 4800:
            pieces.append(pcm[cut - 80:cut])  # repeated
        if cut == 9600:
            pieces.append(np.zeros(640, np.int16))
        if cut == 16000:
            pieces.append(np.zeros(2000, np.int16))
    pieces.append(pcm[start:])
    return np.concatenate(pieces)


@pytest.mark.parametrize("start", [0, 12345, len(SOURCE) - 4000])
def test_g711_speech_is_accepted_from_anywhere_in_the_loop(start):
    median, good, blocks = verdict(through_g711(looped(start, 3 * RATE)))
    assert median > 35 and good > 0.95 and blocks > 100


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_jitter_buffer_splices_cost_only_the_blocks_they_touch(law):
    received = spliced(through_g711(looped(5000, 4 * RATE), law, law))
    median, good, _ = verdict(received)
    assert median > 35 and good > 0.8, (median, good)


def test_the_splices_alone_are_not_what_passes():
    # The spliced timeline carrying noise instead of speech is still rejected.
    noise = np.random.default_rng(3).normal(0, 2000, 4 * RATE).astype(np.int16)
    assert not accepted(spliced(noise))


def test_a_muted_stream_fails():
    median, good, blocks = verdict(np.zeros(3 * RATE, np.int16))
    assert blocks > 100 and median < 1 and good == 0


def test_a_stream_that_falls_silent_halfway_fails():
    received = through_g711(looped(0, 3 * RATE))
    received[len(received) // 2 - 4000:] = 0
    assert not accepted(received)


@pytest.mark.parametrize(("sent", "heard"), [("PCMU", "PCMA"), ("PCMA", "PCMU")])
def test_the_wrong_g711_law_fails(sent, heard):
    median, good, _ = verdict(through_g711(looped(0, 3 * RATE), sent, heard))
    assert median < 12 and good < 0.1


def test_corrupted_payloads_fail():
    rng = np.random.default_rng(7)

    def random_bytes(_index: int, payload: bytes) -> bytes:  # e.g. decrypted with a wrong key
        return rng.integers(0, 256, len(payload), dtype=np.uint8).tobytes()

    median, good, _ = verdict(through_g711(looped(0, 3 * RATE), corrupt=random_bytes))
    assert median < 3 and good == 0


def test_flipped_bits_in_every_payload_fail():
    def flipped(_index: int, payload: bytes) -> bytes:
        return bytes(b ^ 0x55 for b in payload)

    assert not accepted(through_g711(looped(0, 3 * RATE), corrupt=flipped))


def test_every_other_frame_missing_fails():
    def every_other(index: int, payload: bytes) -> bytes:
        return payload if index % 2 else b"\xff" * len(payload)  # mu-law silence

    assert not accepted(through_g711(looped(0, 3 * RATE), corrupt=every_other))
