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
  announces expected participants (``focus_interface``, on Twisted in ``focus_service``);
- the Key Distributor's DTLS associations carried over tunnels
  (``key_distributor_associations``): DTLS server per endpoint, MediaKeys with the outer
  halves only, EKTKey delivery and rekeys, re-adoption after a Media Distributor restart;
- the Media Distributor (``media_distributor``): one port per room, RFC 7983 demultiplexing,
  DTLS relay, hop-by-hop keys only, forwarding with per-receiver re-encryption, RTCP
  termination and regeneration, NACK/PLI forwarding, loss detection, restart recovery;
- the participant (``participant``, on Twisted in ``participant_endpoint``): the PERC
  endpoint's keys and media, which the softphone and the B2BUA are built on;
- the talking reports from the Media Distributor to the SIP focus (``speaker_report``, on
  Twisted in ``speaker_report_service``): endpoints by tls-id, no identity, no key.

The servers themselves (processes, configuration, CLI) are in ``sipperc.apps``.

Trust model (RFC 8871 §3): the Key Distributor and the endpoints may hold end-to-end keys; the
Media Distributor and the SIP call processing may not. Code serving the Media Distributor never
sees anything but hop-by-hop keys.

May import every lower layer (``rtp``, ``srtp``, ``dtls``, ``sip``, ``sdp``, ``media``) and the
shared top-level modules; never ``sipperc.apps``.
"""
