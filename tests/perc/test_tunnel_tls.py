import contextlib

import pytest
from OpenSSL import SSL

from sipperc.config import ConfigError, parse_config
from sipperc.perc.tunnel_tls import MutualTLS, PeerTrust, load_mutual_tls
from tests.perc.certs import make_identity, pinned_pair


def handshake(client_tls: MutualTLS, server_tls: MutualTLS) -> tuple[str | None, str | None]:
    """Run a TLS handshake in memory between real OpenSSL connections.

    Returns (client_error, server_error): None for a side that completed."""
    client = client_tls.clientConnectionForTLS(None)
    server = server_tls.serverConnectionForTLS(None)
    errors: dict[str, str | None] = {"client": None, "server": None}
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, conn in (("client", client), ("server", server)):
            if done[name] or errors[name]:
                continue
            try:
                conn.do_handshake()
                done[name] = True
                # TLS 1.3: the server may still have a verdict (alert) for a finished client.
                conn.recv(1) if name == "client" else None
            except SSL.WantReadError:
                pass
            except (SSL.Error, SSL.ZeroReturnError) as exc:
                errors[name] = str(exc) or type(exc).__name__
        for source, sink in ((client, server), (server, client)):
            with contextlib.suppress(SSL.WantReadError):
                sink.bio_write(source.bio_read(65536))
        if all(done[n] or errors[n] for n in done):
            break
    return errors["client"], errors["server"]


def test_pinned_certificates_both_ways():
    md_tls, kd_tls, _, _ = pinned_pair()
    assert handshake(md_tls, kd_tls) == (None, None)


def test_server_refuses_a_client_it_did_not_pin():
    _, kd_tls, _, kd = pinned_pair()
    stranger = make_identity("media-distributor")
    stranger_tls = MutualTLS(stranger.credentials(), PeerTrust(fingerprints=(kd.fingerprint,)))
    _client_error, server_error = handshake(stranger_tls, kd_tls)
    assert server_error is not None and "certificate verify failed" in server_error


def test_client_refuses_a_server_it_did_not_pin():
    md_tls, _, md, _ = pinned_pair()
    impostor = make_identity("key-distributor")
    impostor_tls = MutualTLS(impostor.credentials(), PeerTrust(fingerprints=(md.fingerprint,)))
    client_error, _ = handshake(md_tls, impostor_tls)
    assert client_error is not None and "certificate verify failed" in client_error


def test_server_requires_a_client_certificate():
    _, kd_tls, _, _kd = pinned_pair()
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    anonymous = SSL.Connection(ctx, None)
    anonymous.set_connect_state()

    class Anonymous:
        def clientConnectionForTLS(self, _):
            return anonymous

    _, server_error = handshake(Anonymous(), kd_tls)
    assert server_error is not None and "certificate" in server_error


def test_tls_1_2_is_refused():
    md_tls, kd_tls, _, _ = pinned_pair()
    old = md_tls.context()
    old.set_min_proto_version(0)
    old.set_max_proto_version(SSL.TLS1_2_VERSION)
    _client_error, server_error = handshake(md_tls, kd_tls)
    assert server_error is not None and "unsupported protocol" in server_error


def test_ca_mode_with_names():
    ca = make_identity("tunnel CA", ca=True)
    md = make_identity("md", issuer=ca, dns_names=("md1.example.net",))
    kd = make_identity("kd", issuer=ca, dns_names=("kd.example.net",))
    md_tls = MutualTLS(md.credentials(), PeerTrust(ca_certificates=(ca.certificate,),
                                                   names=("kd.example.net",)))
    kd_tls = MutualTLS(kd.credentials(), PeerTrust(ca_certificates=(ca.certificate,)))
    assert handshake(md_tls, kd_tls) == (None, None)
    wrong_name = MutualTLS(md.credentials(), PeerTrust(ca_certificates=(ca.certificate,),
                                                       names=("other.example.net",)))
    client_error, _ = handshake(wrong_name, kd_tls)
    assert client_error is not None


def test_ca_mode_refuses_another_ca_and_expired_certificates():
    ca = make_identity("tunnel CA", ca=True)
    rogue_ca = make_identity("rogue CA", ca=True)
    kd = make_identity("kd", issuer=ca)
    md_rogue = make_identity("md", issuer=rogue_ca)
    kd_tls = MutualTLS(kd.credentials(), PeerTrust(ca_certificates=(ca.certificate,)))
    rogue_tls = MutualTLS(md_rogue.credentials(), PeerTrust(ca_certificates=(ca.certificate,)))
    _, server_error = handshake(rogue_tls, kd_tls)
    assert server_error is not None
    expired = make_identity("md", issuer=ca, expired=True)
    expired_tls = MutualTLS(expired.credentials(), PeerTrust(ca_certificates=(ca.certificate,)))
    _, server_error = handshake(expired_tls, kd_tls)
    assert server_error is not None


def test_peer_trust_refusals_explain():
    kd = make_identity("kd", dns_names=("kd.example.net",))
    other = make_identity("other")
    assert PeerTrust(fingerprints=(kd.fingerprint,)).refuse_leaf(kd.certificate) is None
    refusal = PeerTrust(fingerprints=(kd.fingerprint,)).refuse_leaf(other.certificate)
    assert refusal == f"certificate {other.fingerprint} is not pinned"
    ca_trust = PeerTrust(ca_certificates=(kd.certificate,), names=("KD.example.net",))
    assert ca_trust.refuse_leaf(kd.certificate) is None
    assert "include none of" in ca_trust.refuse_leaf(other.certificate)
    with pytest.raises(ValueError, match="not both"):
        PeerTrust()
    with pytest.raises(ValueError, match="CA mode"):
        PeerTrust(fingerprints=(kd.fingerprint,), names=("x",))


def test_credentials_key_must_match_and_never_print():
    one, two = make_identity("one"), make_identity("two")
    with pytest.raises(ValueError, match="does not belong"):
        type(one.credentials())((one.certificate,), two.key)
    assert "private_key" not in repr(one.credentials())


# -- configuration -----------------------------------------------------------------------------


def write_config(tmp_path, text):
    path = tmp_path / "md.yaml"
    path.write_text(text)
    return parse_config(text, str(path))


def test_load_pinned_configuration(tmp_path):
    md, kd = make_identity("md"), make_identity("kd")
    md.write(tmp_path, "md")
    root = write_config(tmp_path, f"""\
tls:
  certificate: md.pem
  private_key: md.key
  peer:
    fingerprints: ["{kd.fingerprint}"]
""")
    tls = load_mutual_tls(root.section("tls"))
    assert tls.trust.fingerprints == (kd.fingerprint,)
    assert tls.credentials.fingerprint == md.fingerprint


def test_load_ca_configuration(tmp_path):
    ca = make_identity("ca", ca=True)
    md = make_identity("md", issuer=ca)
    md.write(tmp_path, "md")
    ca.write(tmp_path, "ca")
    root = write_config(tmp_path, """\
tls:
  certificate: md.pem
  private_key: md.key
  peer:
    ca: ca.pem
    names: [kd.example.net]
""")
    tls = load_mutual_tls(root.section("tls"))
    assert tls.trust.names == ("kd.example.net",)
    assert tls.trust.ca_certificates == (ca.certificate,)


@pytest.mark.parametrize(("peer", "line", "problem"), [
    ("    fingerprints: ['sha-256 AB']\n", 5,
     r"tls.peer.fingerprints\[0\]: sha-256 fingerprint of 1 bytes"),
    ("    ca: ca.pem\n    fingerprints: ['x']\n", 5, "tls.peer: give exactly one of"),
    ("    names: [a]\n", 5, "tls.peer: give exactly one of"),
    ("    ca: missing.pem\n", 5, "tls.peer.ca: cannot read"),
    ("    ca: md.key\n", 5, "tls.peer.ca: .*holds no PEM certificate"),
    ("    fingerprints: []\n    colour: red\n", 6, "tls.peer.colour: unknown setting"),
])
def test_configuration_errors_point_at_the_line(tmp_path, peer, line, problem):
    make_identity("md").write(tmp_path, "md")
    root = write_config(tmp_path, "tls:\n  certificate: md.pem\n  private_key: md.key\n"
                                  "  peer:\n" + peer)
    with pytest.raises(ConfigError, match=f"md.yaml:{line}: {problem}"):
        load_mutual_tls(root.section("tls"))


def test_private_key_readable_by_others_is_refused(tmp_path):
    make_identity("md").write(tmp_path, "md", key_mode=0o644)
    root = write_config(tmp_path, "tls:\n  certificate: md.pem\n  private_key: md.key\n"
                                  "  peer: {fingerprints: ['sha-1 " + ":".join(["00"] * 20)
                                  + "']}\n")
    with pytest.raises(ConfigError, match=r"md.yaml:3: tls.private_key: .* readable by other "
                                          r"users \(mode 0644\); run: chmod 600"):
        load_mutual_tls(root.section("tls"))


def test_key_of_another_certificate_is_refused(tmp_path):
    make_identity("md").write(tmp_path, "md")
    make_identity("other").write(tmp_path, "other")
    root = write_config(tmp_path, "tls:\n  certificate: md.pem\n  private_key: other.key\n"
                                  "  peer: {fingerprints: ['sha-1 " + ":".join(["00"] * 20)
                                  + "']}\n")
    with pytest.raises(ConfigError, match=r"md.yaml:3: tls.private_key: the private key does not "
                                          r"belong to the certificate"):
        load_mutual_tls(root.section("tls"))
