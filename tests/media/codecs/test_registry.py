import numpy as np
import pytest

from sipperc.media.codecs.audio_codec import CodecError
from sipperc.media.codecs.registry import CODECS, CodecRegistry, PayloadFormat


def test_preference_order_and_static_types():
    names = [(f.encoding_name, f.clock_rate, f.static_payload_type) for f in CODECS.formats()]
    assert names[:4] == [("opus", 48000, None), ("G722", 8000, 9), ("PCMU", 8000, 0),
                         ("PCMA", 8000, 8)]
    assert ("CN", 8000, 13) in names
    assert ("telephone-event", 8000, None) in names


@pytest.mark.parametrize(("name", "rate", "channels", "pcm_rate"),
                         [("pcmu", 8000, 1, 8000), ("PCMA", 8000, 1, 8000),
                          ("g722", 8000, 1, 16000), ("OPUS", 48000, 2, 48000)])
def test_create_from_negotiated_rtpmap(name, rate, channels, pcm_rate):
    codec = CODECS.create(name, rate, channels)
    assert codec.clock_rate == rate and codec.sample_rate == pcm_rate
    frame = np.zeros(pcm_rate // 50, dtype=np.int16)
    assert len(codec.decode(codec.encode(frame) or codec.encode(frame))) == len(frame)


def test_opus_fmtp_passed_through():
    codec = CODECS.create("opus", 48000, 2, {"usedtx": "0"})
    assert all(codec.encode(np.zeros(960, dtype=np.int16)) for _ in range(40))


def test_unsupported_and_non_audio():
    with pytest.raises(CodecError, match="G729/8000"):
        CODECS.create("G729", 8000)
    with pytest.raises(CodecError, match="not an audio codec"):
        CODECS.create("telephone-event", 8000)


def test_registry_rejects_duplicates_and_audio_without_factory():
    registry = CodecRegistry()
    registry.register(PayloadFormat("CN", 8000, 1, 13))
    with pytest.raises(ValueError, match="already"):
        registry.register(PayloadFormat("cn", 8000, 1, 13))
    with pytest.raises(ValueError, match="factory"):
        registry.register(PayloadFormat("L16", 8000))
