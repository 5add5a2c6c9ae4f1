"""tshark reads our RTP and RTCP as valid, and our RTCP's loss and jitter agree with the wire.

A real-clock call between two media endpoints on 127.0.0.1 (plain RTP so tshark can read the
reports; RTCP on its own ports as RFC 3550 §11 has it), 10% of A's RTP dropped before the wire.
tshark captures it; then, from the capture alone, we check that:

- every packet dissects without a malformed or error expert item; every RTP packet of ours
  carries the RFC 8285 one-byte header extension; the first has the marker bit;
- the RTCP packets are SR/RR + SDES whose CNAME is the session's random 16-character one;
- each report block B sent about A states exactly the cumulative loss visible in the capture
  up to the highest sequence number it reports (RFC 3550 A.3), and an interarrival jitter
  inside the range tshark's own RTP stream analysis computed for A's stream;
- Wireshark's round-trip delay, computed from our LSR/DLSR, is a few milliseconds at most.
"""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from twisted.internet import reactor, task
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from sipperc.media.codecs.g711 import G711
from sipperc.media.endpoint import MediaEndpoint
from sipperc.media.receive_stream import PayloadTypes
from sipperc.media.rtp_session import RtpSession
from sipperc.media.send_stream import SendStream
from sipperc.media.serial import extend
from sipperc.media.wav_file import WavFileSource
from tests.media.audio_checks import AUDIO
from tests.media.lossy_network import LossyNetwork, RecordingSink

SECONDS = 8.0


def g711_session(sequence=None):
    return RtpSession(SendStream(G711("PCMU"), 0, sequence=sequence),
                      lambda: PayloadTypes({0: G711("PCMU")}), now=reactor.seconds())


def fields(capture, decode, display_filter, names):
    out = subprocess.run(["tshark", "-r", str(capture), *decode, "-Y", display_filter,
                          "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
                          *[arg for name in names for arg in ("-e", name)]],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
class TsharkMediaTests(TestCase):
    timeout = 60

    def setUp(self):
        # A's sequence numbers wrap mid-call: the reports must count loss across the wrap.
        self.a, self.b = g711_session(sequence=65400), g711_session()
        wav = AUDIO / "speech-8k.wav"
        nowhere = ("127.0.0.1", 9)
        self.endpoint_a = MediaEndpoint(self.a, WavFileSource(wav, loop=True),
                                        RecordingSink(8000), nowhere, remote_rtcp=nowhere)
        self.endpoint_b = MediaEndpoint(self.b, WavFileSource(wav, loop=True),
                                        RecordingSink(8000), nowhere, remote_rtcp=nowhere)
        self.ports = []
        for endpoint in (self.endpoint_a, self.endpoint_b):
            self.ports.append(reactor.listenUDP(0, endpoint, interface="127.0.0.1"))
            self.ports.append(reactor.listenUDP(0, endpoint.rtcp_port, interface="127.0.0.1"))
        for port in self.ports:
            self.addCleanup(port.stopListening)
        rtp_a, rtcp_a, rtp_b, rtcp_b = (p.getHost().port for p in self.ports)
        self.endpoint_a.remote, self.endpoint_a.remote_rtcp = ("127.0.0.1", rtp_b), \
            ("127.0.0.1", rtcp_b)
        self.endpoint_b.remote, self.endpoint_b.remote_rtcp = ("127.0.0.1", rtp_a), \
            ("127.0.0.1", rtcp_a)
        self.network = LossyNetwork(self.ports[0], 3, 0.10, 0.0)
        self.endpoint_a.transport = self.network
        self.rtp_ports, self.rtcp_ports = (rtp_a, rtp_b), (rtcp_a, rtcp_b)

    @inlineCallbacks
    def test_tshark_validates_rtp_and_rtcp(self):
        workdir = Path(tempfile.mkdtemp(prefix="sipperc-media-tshark-"))
        self.addCleanup(shutil.rmtree, workdir, ignore_errors=True)
        capture = str(workdir / "call.pcapng")
        ports = " or ".join(f"port {p}" for p in (*self.rtp_ports, *self.rtcp_ports))
        tshark = subprocess.Popen(["tshark", "-i", "lo", "-f", f"udp and ({ports})",
                                   "-a", f"duration:{SECONDS + 10:.0f}", "-w", capture],
                                  stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: tshark.poll() is None and tshark.kill())
        deadline = time.monotonic() + 20
        while "Capturing on" not in tshark.stderr.readline():
            if tshark.poll() is not None or time.monotonic() > deadline:
                raise self.skipTest("tshark cannot capture on the loopback here")
        time.sleep(1.0)  # dumpcap reports before its filter sees the first packets
        yield task.deferLater(reactor, SECONDS, lambda: None)
        self.endpoint_a.hang_up()
        self.endpoint_b.hang_up()
        yield task.deferLater(reactor, 0.5, lambda: None)
        tshark.terminate()
        tshark.wait(timeout=30)

        decode = [arg for p in self.rtp_ports for arg in ("-d", f"udp.port=={p},rtp")] + \
                 [arg for p in self.rtcp_ports for arg in ("-d", f"udp.port=={p},rtcp")]
        bad = fields(capture, decode, "_ws.malformed || _ws.expert.severity >= error",
                     ["frame.number", "_ws.expert.message"])
        self.assertEqual(bad, [])

        rtp = fields(capture, decode, "rtp", ["frame.time_epoch", "rtp.ssrc", "rtp.seq",
                                              "rtp.marker", "rtp.ext.profile"])
        from_a = [(float(t), int(seq), marker) for t, ssrc, seq, marker, profile in rtp
                  if int(ssrc, 16) == self.a.ssrc]
        self.assertEqual({row[4] for row in rtp}, {"0xbede"})  # RFC 8285 one-byte form
        self.assertGreater(len(from_a), SECONDS * 50 * 0.85)
        self.assertEqual(from_a[0][2], "1")  # marker on the talkspurt's first packet
        self.assertGreater(self.network.dropped, 20)

        cnames = {text for (text,) in fields(capture, decode, "rtcp.sdes.text",
                                             ["rtcp.sdes.text"])}
        self.assertEqual(cnames, {self.a.cname, self.b.cname})

        blocks = fields(capture, decode, f"rtcp && ip.src == 127.0.0.1 && "
                        f"udp.srcport == {self.rtcp_ports[1]}",
                        ["frame.time_epoch", "rtcp.ssrc.identifier", "rtcp.ssrc.cum_nr",
                         "rtcp.ssrc.high_cycles", "rtcp.ssrc.high_seq", "rtcp.ssrc.jitter",
                         "rtcp.ssrc.fraction"])
        # rtcp.ssrc.identifier lists the block's SSRC, then the SDES chunk's and BYE's.
        # The extended highest sequence number: cycles in the top 16 bits (RFC 3550 §6.4.1).
        reports = [(float(t), int(lost), int(cycles) << 16 | int(high), int(jitter))
                   for t, ssrc, lost, cycles, high, jitter, _ in blocks
                   if ssrc and int(ssrc.split(",")[0], 16) == self.a.ssrc]
        self.assertGreaterEqual(len(reports), 2)
        # Extend the 16-bit sequence numbers across the wrap as the report's highest sequence
        # number is (wraps since the first packet, then the sequence number).
        extended, previous = [], from_a[0][1]
        for t, seq, _ in from_a:
            previous = extend(seq, previous, 16)
            extended.append((t, previous))
        first_counted = extended[1][1]  # RFC 3550 A.1: counting starts after probation
        for when, lost, high, _jitter in reports:
            seen = {seq for t, seq in extended if t <= when and first_counted <= seq <= high}
            expected = high - first_counted + 1
            received = len(seen)
            self.assertEqual(lost, expected - received)

        analysis = subprocess.run(["tshark", "-r", capture, *decode, "-q", "-z", "rtp,streams"],
                                  capture_output=True, text=True, timeout=60,
                                  check=True).stdout
        line = next(line for line in analysis.splitlines() if f"0x{self.a.ssrc:08X}" in line
                    or f"0x{self.a.ssrc:08x}" in line)
        columns = line.split()
        if columns[-1] == "X":  # the "Problems?" flag: sequence gaps, as we made them
            columns.pop()
        min_jitter, _mean_jitter, max_jitter = (float(c) for c in columns[-3:])
        # Our last report's jitter is the A.8 estimate at that moment: it must lie within the
        # range tshark's own running A.8 estimate went through over the stream.
        our_jitter_ms = reports[-1][3] / 8.0
        self.assertGreaterEqual(our_jitter_ms, min_jitter - 0.25, analysis)
        self.assertLessEqual(our_jitter_ms, max_jitter + 0.25, analysis)

        rtts = fields(capture, [*decode, "-o", "rtcp.show_roundtrip_calculation:TRUE",
                                "-o", "rtcp.roundtrip_min_threshhold:0"],
                      "rtcp.roundtrip-delay", ["rtcp.roundtrip-delay"])
        self.assertTrue(rtts)
        self.assertTrue(all(float(ms) < 50 for (ms,) in rtts))
