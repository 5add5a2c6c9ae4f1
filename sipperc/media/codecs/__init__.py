"""Audio codecs and the other RTP audio payload formats (RFC 3551, RFC 7587, RFC 4733, RFC 3389).

Each codec turns linear PCM (:mod:`sipperc.media.pcm`) into RTP payloads and back, conceals lost
frames, and says how much RTP time a payload covers. :mod:`~sipperc.media.codecs.registry` maps
the SDP names (``PCMU/8000``, ``opus/48000/2``...) to codec factories; the SDP layer creates the
codec it negotiated from there.
"""
