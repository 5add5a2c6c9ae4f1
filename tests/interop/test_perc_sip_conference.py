"""The PERC conference over SIP: Key Distributor, Media Distributor and SIP focus processes.

Participants (:class:`sipperc.perc.participant_call.ParticipantCall`) dial the conference URI;
the focus answers only PERC endpoints, with the Media Distributor's address and the Key
Distributor's fingerprint and tls-id, and only once the Key Distributor accepted them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from sipperc.perc.participant_call import PCMU
from sipperc.sdp import MediaCapabilities, MediaSecurityPolicy, OfferAnswer, TransportAddress
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.user_agent import UserAgentConfig
from sipperc.sip.user_agent_events import CallEnded
from tests.interop.sip_conference import SipConference
from tests.perc.conference import until


def plain_phone(on_event):
    """A legacy phone: plain RTP only."""
    engine = lambda request: OfferAnswer(  # noqa: E731
        address="127.0.0.1", capabilities=[MediaCapabilities("audio", (PCMU,))],
        transports=lambda index, kind: TransportAddress("127.0.0.1", 49170),
        security=MediaSecurityPolicy.plain_only())
    return TwistedUserAgent.listen(["udp:127.0.0.1:0"], engine, UserAgentConfig(user="legacy"),
                                   on_event=on_event, reactor=reactor)


@pytest.mark.interop
class PercSipConferenceTests(TestCase):
    timeout = 180

    def setUp(self):
        directory = Path(self.mktemp()).resolve()
        directory.mkdir(parents=True)
        self.conference = SipConference(directory)
        self.addCleanup(self.conference.kd.kill)
        self.addCleanup(self.conference.md.kill)
        self.addCleanup(self.conference.focus.kill)
        self.addCleanup(self.conference.stop)
        return self.conference.start()

    @inlineCallbacks
    def test_participants_join_over_sip_and_decrypt_each_other(self):
        conference = self.conference
        for name in ("alice", "bob", "carol"):
            yield conference.join(name)
        yield until(conference.everyone_hears_everyone, 15)

        # A phone without PERC is refused with 488 and a reason.
        ended = []
        phone = plain_phone(ended.append)
        self.addCleanup(phone.stop)
        phone.invite(conference.uri)
        yield until(lambda: any(isinstance(e, CallEnded) for e in ended), 10)
        end = next(e for e in ended if isinstance(e, CallEnded))
        assert end.status_code == 488

        # Bob leaves with BYE: the others get a new EKT key and keep hearing each other.
        spi = conference.members["alice"].participant.spi
        conference.members["bob"].call.leave()
        yield until(lambda: conference.members["alice"].participant.spi != spi, 10)
        conference.clear()
        yield until(lambda: conference.members["alice"].hears(conference.members["carol"])
                    and conference.members["carol"].hears(conference.members["alice"]), 10)
