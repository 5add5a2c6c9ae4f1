import numpy as np
import pytest

from sipperc.media.codecs.audio_codec import CodecError
from sipperc.media.negotiated import NegotiatedFormat, NegotiatedMedia

ANSWER = [  # as an answer to our offer might list them
    NegotiatedFormat(111, "opus", 48000, 2, {"useinbandfec": "1", "usedtx": "0"}),
    NegotiatedFormat(0, "PCMU", 8000),
    NegotiatedFormat(18, "G729", 8000),  # not ours: ignored
    NegotiatedFormat(101, "telephone-event", 48000, 1, {"0-15": ""}),
    NegotiatedFormat(100, "telephone-event", 8000),
    NegotiatedFormat(13, "CN", 8000),
]


def test_first_answer_format_is_sent_and_all_common_ones_are_received():
    media = NegotiatedMedia(ANSWER)
    send = media.send_stream()
    assert (send.codec.name, send.payload_type) == ("opus", 111)
    assert send.send_frame(np.zeros(960, np.int16))  # sanity: it encodes
    assert media.telephone_event.payload_type == 101  # at the clock rate of what we send
    types = media.payload_types()
    assert sorted(types.audio) == [0, 111]
    assert types.telephone_event == 101 and types.comfort_noise == 13
    assert media.payload_types().audio[0] is not types.audio[0]  # fresh state per source


def test_g711_answer_uses_8k_events():
    media = NegotiatedMedia([ANSWER[1], ANSWER[4], ANSWER[3]])
    assert media.send_stream().codec.name == "PCMU"
    assert media.telephone_event.payload_type == 100


def test_each_direction_uses_its_own_payload_type_numbers():
    # RFC 3264 §6.1: we send with the peer's number and receive with ours.
    media = NegotiatedMedia([NegotiatedFormat(96, "opus", 48000, 2, receive_payload_type=111),
                             NegotiatedFormat(97, "telephone-event", 48000,
                                              receive_payload_type=101)])
    send = media.send_stream()
    send.queue_dtmf("1")
    assert send.payload_type == 96
    assert send.send_frame(np.zeros(960, np.int16))[0].payload_type == 97
    types = media.payload_types()
    assert list(types.audio) == [111] and types.telephone_event == 101


def test_fmtp_reaches_the_codec():
    send = NegotiatedMedia(ANSWER[:1]).send_stream()
    # usedtx=0 in the answer: silence is still sent.
    assert all(send.send_frame(np.zeros(960, dtype=np.int16)) for _ in range(30))


def test_nothing_in_common():
    with pytest.raises(CodecError, match="G729/8000"):
        NegotiatedMedia([ANSWER[2], ANSWER[5]])
