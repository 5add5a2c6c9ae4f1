"""The media engine: audio codecs, RTP sessions, jitter buffers, mixing and audio devices.

Owns everything between a microphone or WAV file and RTP packets: encoding and decoding (G.711,
G.722, Opus, RFC 4733 telephone events, RFC 3389 comfort noise), the RTP session with its
statistics and RTCP reports (RFC 3550), the RFC 6464 audio level on every packet sent, adaptive
jitter buffers with loss concealment, the conference mixer and active-speaker detection, and the
audio devices at the edge (PortAudio through sounddevice, WAV files, tones, a null device).

The cores (codecs, jitter buffer, mixer, RTP session) are sans-I/O: they take samples, bytes and
``now`` and return samples, bytes and events. Only ``sipperc.media.endpoint`` and the device
modules touch sockets, clocks or sound cards.

May import ``sipperc.rtp``, ``sipperc.srtp`` and the shared top-level modules; never the
signalling (SIP, SDP), DTLS, PERC or application layers. The SDP layer picks codecs from
:data:`sipperc.media.codecs.registry.CODECS` using what it negotiated.
"""
