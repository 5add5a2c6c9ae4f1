"""The PERC conference roles (RFC 8871): Key Distributor, Media Distributor and their tunnel.

Owns the logic of the conference servers as sans-I/O cores, plus the thin Twisted edges that
carry them:

- the RFC 9185 tunnel between Media Distributor and Key Distributor (``tunnel_messages``,
  ``tunnel``) over mutually authenticated TLS (``tunnel_tls``, ``tunnel_service``);
- the conference policy a Key Distributor enforces (``policy``);
- the Media Distributor's switching core (``switching``): who is forwarded to whom, and the
  SEQ/PT/M rewriting RFC 8723 allows;
- the Key Distributor's key logic (``key_distributor``): EKT parameter sets, rekey decisions,
  endpoint authorization, and the interface through which the (untrusted) call processing
  announces expected participants (``focus_interface``).

Trust model (RFC 8871 §3): the Key Distributor and the endpoints may hold end-to-end keys; the
Media Distributor and the SIP call processing may not. Code serving the Media Distributor never
sees anything but hop-by-hop keys.

May import every lower layer (``rtp``, ``srtp``, ``dtls``, ``sip``, ``sdp``, ``media``) and the
shared top-level modules; never ``sipperc.apps``.
"""
