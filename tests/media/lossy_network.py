"""Test doubles for the wire and the speaker: a lossy, reordering network and a recording sink."""

import random
from dataclasses import dataclass, field

import numpy as np

from sipperc.media.rtp_session import is_rtcp


@dataclass
class RecordingSink:
    sample_rate: int
    frames: list = field(default_factory=list)

    def write(self, pcm):
        self.frames.append(pcm.copy())

    def close(self):
        pass

    def audio(self):
        return np.concatenate(self.frames)


class LossyNetwork:
    """Wraps a transport: drops ``loss`` of the RTP packets, delays ``reorder`` of them past
    the next one. RTCP passes untouched so the reports can be checked against the truth."""

    def __init__(self, transport, seed, loss, reorder):
        self._transport = transport
        self._rng = random.Random(seed)
        self.loss, self.reorder = loss, reorder
        self.dropped = 0
        self.reordered = 0
        self._held = None

    def write(self, datagram, address):
        if is_rtcp(datagram):
            return self._transport.write(datagram, address)
        roll = self._rng.random()
        if roll < self.loss:
            self.dropped += 1
            return None
        held, self._held = self._held, None
        if roll < self.loss + self.reorder and held is None:
            self._held = (datagram, address)
            self.reordered += 1
            return None
        self._transport.write(datagram, address)
        if held is not None:
            self._transport.write(*held)
        return None

    def __getattr__(self, name):
        return getattr(self._transport, name)
