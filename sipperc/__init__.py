"""sipperc: SIP conferencing with end-to-end private media (PERC, RFC 8871).

The package is split by protocol layer. Lower layers never import higher ones:

- ``sipperc.rtp``: RTP and RTCP packets (RFC 3550, RFC 8285).
- ``sipperc.srtp``: SRTP/SRTCP transforms (RFC 3711, RFC 7714), later double SRTP and EKT.
- ``sipperc.dtls``: DTLS 1.2 for DTLS-SRTP (RFC 6347, RFC 5764) with EKTKey transport (RFC 8870
  §5.2), fingerprints (RFC 8122) and RFC 7983 demultiplexing; sans-I/O.
- ``sipperc.sip``: SIP messages (RFC 3261 §7, §20, §25): grammar, URIs, parse/serialize/build,
  multipart bodies (RFC 5621), stream and datagram framing; sans-I/O.
- ``sipperc.perc``: the conference roles (RFC 8871): Key Distributor, Media Distributor and the
  RFC 9185 tunnel between them.
- ``sipperc.media``: codecs, RTP sessions, jitter buffers, mixing, audio devices (uses rtp, srtp).
- ``sipperc.sdp``: SDP (RFC 8866) and the offer/answer engine (RFC 3264), with SDES, DTLS-SRTP
  and PERC negotiation.

Shared by every layer: ``sipperc.keymaterial`` (keeping secrets out of logs), ``sipperc.config``
(YAML with errors that point at the line) and ``sipperc.log`` (structured logging).
``sipperc.cli`` is the ``sipperc`` command.
"""

__version__ = "0.1.0"
