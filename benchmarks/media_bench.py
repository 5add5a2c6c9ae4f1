"""Receive + decode + mix cost per source: can one core mix 50 G.711 sources in real time?

One command: ``.venv/bin/python benchmarks/media_bench.py [--sources 50] [--seconds 10]``.

sipperc's figures run the receive path for ``--sources`` simultaneous PCMU streams of speech,
20 ms packets, in simulated time as fast as the CPU allows:

- "RtpSession + SRTP (GCM)": SRTP datagrams (AEAD_AES_128_GCM, ``sipperc.srtp``) into one
  ``RtpSession``: authentication and decryption, then as the next line;
- "RtpSession datagrams in": whole RTP datagrams (with the RFC 6464 level extension) into one
  ``RtpSession``: RTP parsing, the extension lookup, RFC 3550 reception statistics, then as
  below; the playout is ``read_frame``;
- "ConferenceReceiver": from already-parsed packets: per packet the jitter buffer push, per
  20 ms tick and source the playout decision, G.711 decoding and concealment bookkeeping, then
  the mix of all sources with soft clipping and the active-speaker update.

CPU time is
``time.process_time`` over the run; the real-time load is CPU seconds per second of audio (the
target: under 25% of one core for 50).

Reference figures from the same run, on the same packets:

- "numpy G.711 decode only": the bare table-gather decode of every payload plus a plain
  ``sum`` of the frames (no buffering, no concealment, no clipping): the floor of our design;
- "audioop decode only": CPython's C ``audioop.ulaw2lin`` per payload (stdlib up to 3.12,
  PyPI ``audioop-lts`` after), plus the same plain sum: a C implementation of just the codec.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sipperc.media.codecs.g711 import G711, ULAW_DECODE
from sipperc.media.conference_receiver import ConferenceReceiver
from sipperc.media.jitter_buffer import BufferedPacket
from sipperc.media.receive_stream import PayloadTypes
from sipperc.media.rtp_session import RtpSession
from sipperc.media.send_stream import SendStream
from sipperc.media.transform import PlainRtp, Transform
from sipperc.media.wav_file import read_wav
from sipperc.rtp import AudioLevel, HeaderExtension, RtpPacket
from sipperc.srtp import Profile, SrtpSession

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # stdlib up to 3.12; PyPI audioop-lts installs the same module after
    except ImportError:
        audioop = None

FRAME = 160
AUDIO = Path(__file__).resolve().parents[1] / "audio" / "speech-8k.wav"


def make_packets(sources: int, ticks: int) -> list[list[bytes]]:
    """Per tick, one PCMU payload per source (each source starts at a different offset)."""
    speech, _ = read_wav(AUDIO)
    encoder = G711("PCMU")
    frames = [encoder.encode(speech[i:i + FRAME]) for i in range(0, len(speech) - FRAME, FRAME)]
    return [[frames[(tick + 37 * s) % len(frames)] for s in range(sources)]
            for tick in range(ticks)]


def sipperc_run(packets: list[list[bytes]]) -> float:
    receiver = ConferenceReceiver(lambda: PayloadTypes({0: G711("PCMU")}), 8000)
    start = time.process_time()
    for tick, payloads in enumerate(packets):
        now = tick * 0.02
        for ssrc, payload in enumerate(payloads):
            receiver.receive(ssrc, BufferedPacket(tick & 0xFFFF, tick * FRAME, 0, payload), now)
        receiver.read(now)
        receiver.speaking(now)
    spent = time.process_time() - start
    decoded = sum(s.statistics().frames_decoded for s in receiver.streams.values())
    # Honesty check: everything but the pre-buffer was really decoded and mixed.
    assert decoded >= (len(packets) - 2) * len(packets[0]), decoded
    return spent


def session_run(packets: list[list[bytes]], srtp: bool = False) -> float:
    transform: Transform = PlainRtp()
    protect = PlainRtp().protect
    if srtp:
        key, salt = bytes(range(16)), bytes(range(12))
        transform = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key, master_salt=salt)
        protect = SrtpSession(Profile.AEAD_AES_128_GCM, master_key=key,
                              master_salt=salt).protect
    session = RtpSession(SendStream(G711("PCMU"), 0), lambda: PayloadTypes({0: G711("PCMU")}),
                         now=0.0, transform=transform)
    extension = HeaderExtension.from_elements([AudioLevel(30, True).element(1)])
    datagrams = [[protect(bytes(RtpPacket(False, 0, tick & 0xFFFF, tick * FRAME, 0x1000 + ssrc,
                                          extension=extension, payload=payload)))
                  for ssrc, payload in enumerate(payloads)]
                 for tick, payloads in enumerate(packets)]
    start = time.process_time()
    for tick, row in enumerate(datagrams):
        now = tick * 0.02
        for datagram in row:
            session.receive_rtp(datagram, now)
        session.read_frame(now)
    spent = time.process_time() - start
    received = sum(r.packets_received for r in session.statistics().receive)
    assert received >= (len(packets) - 1) * len(packets[0]), received
    assert session.statistics().discarded_rtp == 0
    return spent


def decode_only(decode: Callable[[bytes], np.ndarray]) -> Callable[[list[list[bytes]]], float]:
    def run(packets: list[list[bytes]]) -> float:
        start = time.process_time()
        for payloads in packets:
            total = np.zeros(FRAME, dtype=np.float32)
            for payload in payloads:
                total += decode(payload)
        return time.process_time() - start
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of audio per run")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    ticks = int(args.seconds / 0.02)
    packets = make_packets(args.sources, ticks)
    runs: list[tuple[str, Callable[[list[list[bytes]]], float]]] = [
        ("RtpSession + SRTP (GCM)", lambda p: session_run(p, srtp=True)),
        ("RtpSession datagrams in", session_run),
        ("ConferenceReceiver", sipperc_run),
        ("numpy G.711 decode only", decode_only(
            lambda p: ULAW_DECODE[np.frombuffer(p, dtype=np.uint8)])),
    ]
    if audioop is not None:
        runs.append(("audioop decode only", decode_only(
            lambda p: np.frombuffer(audioop.ulaw2lin(p, 2), dtype=np.int16))))
    print(f"{args.sources} PCMU sources, 20 ms packets, {args.seconds:g} s of audio, "
          f"best of {args.rounds}")
    for name, run in runs:
        cpu = min(run(packets) for _ in range(args.rounds))
        load = cpu / args.seconds
        per_frame = cpu / (ticks * args.sources) * 1e6
        print(f"  {name:<28} {load * 100:6.1f}% of one core   "
              f"{per_frame:6.1f} us per source per 20 ms frame")


if __name__ == "__main__":
    main()
