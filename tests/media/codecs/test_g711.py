import warnings

import numpy as np
import pytest

from sipperc.media.codecs.g711 import G711
from tests.media.audio_checks import snr, speech

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the C G.711 of CPython <= 3.12: our bit-exact reference

EVERY_SAMPLE = np.arange(65536, dtype=np.uint16).view(np.int16)
EVERY_CODE = bytes(range(256))


@pytest.mark.parametrize(("name", "reference"), [("PCMU", audioop.lin2ulaw),
                                                 ("PCMA", audioop.lin2alaw)])
def test_encoding_is_bit_exact_for_every_sample(name, reference):
    assert G711(name).encode(EVERY_SAMPLE) == reference(EVERY_SAMPLE.tobytes(), 2)


@pytest.mark.parametrize(("name", "reference"), [("PCMU", audioop.ulaw2lin),
                                                 ("PCMA", audioop.alaw2lin)])
def test_decoding_is_bit_exact_for_every_code(name, reference):
    assert G711(name).decode(EVERY_CODE).tobytes() == reference(EVERY_CODE, 2)


def test_known_codes():
    # Silence is 0xFF in mu-law and 0xD5 in A-law; full-scale positive is 0x80 / 0xAA.
    assert G711("pcmu").encode(np.array([0, 32767], dtype=np.int16)) == b"\xff\x80"
    assert G711("PCMA").encode(np.array([0, 32767], dtype=np.int16)) == b"\xd5\xaa"


@pytest.mark.parametrize("name", ["PCMU", "PCMA"])
def test_speech_round_trip_snr(name):
    codec = G711(name)
    pcm = speech(8000)
    out = np.concatenate([codec.decode(codec.encode(pcm[i:i + 160]))
                          for i in range(0, len(pcm) - 160, 160)])
    assert snr(pcm, out, max_lag=2) > 30.0  # G.711 SQNR on speech is about 35-38 dB
    assert codec.duration(codec.encode(pcm[:160])) == 160


def test_loss_is_concealed_not_silent():
    codec = G711("PCMU")
    t = np.arange(1600) / 8000
    voice = (8000 * np.sin(2 * np.pi * 200 * t)).astype(np.int16)
    for i in range(0, 1600, 160):
        codec.decode(codec.encode(voice[i:i + 160]))
    hidden = codec.conceal(160)
    assert len(hidden) == 160
    assert np.sqrt(np.mean(hidden.astype(float) ** 2)) > 3000  # the voice goes on


def test_unknown_law_rejected():
    with pytest.raises(ValueError, match="PCMU or PCMA"):
        G711("G729")
