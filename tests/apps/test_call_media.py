"""SDP engines and RTP for the SIP tools: codecs offered, no-media SDP, echo audio, SRTP."""

from __future__ import annotations

import numpy as np
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from sipperc.apps.call_media import DISCARD_PORT, CallMedia, EchoAudio, audio_capabilities
from sipperc.media.null_device import NullSink
from sipperc.media.tone import ToneSource


def test_every_engine_codec_is_offered():
    names = [c.name for c in audio_capabilities().codecs]
    assert names[:4] == ["opus", "G722", "PCMU", "PCMA"] and "telephone-event" in names


def test_echo_audio_says_back_what_it_heard_in_any_frame_size():
    echo = EchoAudio(8000)
    assert not echo.read(160).any()  # nothing heard yet: silence
    heard = np.arange(320, dtype=np.int16)
    echo.write(heard[:160])
    echo.write(heard[160:])
    assert (echo.read(100) == heard[:100]).all()
    assert (echo.read(220) == heard[100:]).all()


def test_without_rtp_the_sdp_names_the_discard_port_and_binds_nothing():
    media = CallMedia("127.0.0.1", rtp=False, reactor=reactor)
    offer = media.engine("c1").create_offer()
    assert offer.media[0].port == DISCARD_PORT
    assert media.statistics("c1") is None


class EchoOverSrtpTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_sdes_srtp_call_hears_its_own_audio_back(self):
        caller = CallMedia("127.0.0.1", rtp=True, offer_sdes=True, reactor=reactor)
        callee = CallMedia("127.0.0.1", rtp=True, reactor=reactor)
        self.addCleanup(caller.stop_all)
        self.addCleanup(callee.stop_all)
        offerer, answerer = caller.engine("a"), callee.engine("b")
        answer = answerer.receive_offer(offerer.create_offer())
        negotiated = offerer.receive_answer(answer.description)
        echo = callee.start("b", answer.negotiated, lambda rate: (EchoAudio(rate),) * 2)
        started = caller.start("a", negotiated,
                               lambda rate: (ToneSource(440.0, rate), NullSink(rate)))
        assert started is not None and echo is not None
        assert started.security.startswith("sdes ") and started.codec == "opus/48000"
        yield deferLater(reactor, 0.6, lambda: None)
        stats = caller.statistics("a")
        assert stats is not None and stats.discarded_rtp == 0
        (back,) = stats.receive
        assert back.packets_received > 5
        callee_stats = callee.statistics("b")
        assert callee_stats is not None and callee_stats.discarded_rtp == 0
