"""Full DTLS 1.2 handshakes per second, client and server in one process, in memory.

Both implementations do the same work per handshake: ECDHE (X25519) with ECDSA P-256
certificates on both sides (the server asks for the client's certificate, as DTLS-SRTP
does), AES-128-GCM, use_srtp with AEAD_AES_128_GCM, and the keying-material export on both
sides. The headline ratio compares like with like (no cookie exchange on either side); the
figure with sipperc's default HelloVerifyRequest round trip is printed too.

    .venv/bin/python benchmarks/dtls_bench.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from OpenSSL import SSL

from sipperc.dtls import DtlsConnection, Identity
from sipperc.srtp import Profile

PROFILE = Profile.AEAD_AES_128_GCM


def sipperc_handshake(client_id: Identity, server_id: Identity, cookie: bool) -> None:
    client = DtlsConnection("client", client_id, [PROFILE], server_id.fingerprint)
    server = DtlsConnection("server", server_id, [PROFILE], client_id.fingerprint,
                            cookie_exchange=cookie)
    now = 0.0
    while not (client.is_connected and server.is_connected):
        for datagram in client.datagrams_to_send(now):
            server.receive_datagram(datagram, now)
        for datagram in server.datagrams_to_send(now):
            client.receive_datagram(datagram, now)
    assert client.export_srtp_keys() == server.export_srtp_keys()


def _openssl_context(identity: Identity) -> SSL.Context:
    context = SSL.Context(SSL.DTLS_METHOD)
    context.use_certificate(identity.certificate)
    context.use_privatekey(identity.private_key)
    context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
    context.set_tlsext_use_srtp(PROFILE.openssl_name.encode())
    context.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256")
    context.set_options(SSL.OP_NO_TICKET)
    return context


def _drain(connection: SSL.Connection) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(connection.bio_read(65536))
        except SSL.WantReadError:
            return out


def openssl_handshake(client_ctx: SSL.Context, server_ctx: SSL.Context) -> None:
    client = SSL.Connection(client_ctx, None)
    client.set_connect_state()
    server = SSL.Connection(server_ctx, None)
    server.set_accept_state()
    done = [False, False]
    while not all(done):
        for i, (me, peer) in enumerate(((client, server), (server, client))):
            if not done[i]:
                try:
                    me.do_handshake()
                    done[i] = True
                except SSL.WantReadError:
                    pass
            for datagram in _drain(me):
                peer.bio_write(datagram)
    label = b"EXTRACTOR-dtls_srtp"
    assert client.export_keying_material(label, 56) == server.export_keying_material(label, 56)


def rates(runs: list[Callable[[], None]], seconds: float, slice_: float = 0.25) -> list[float]:
    """Handshakes/s of each callable, run in interleaved slices so that load from other
    processes on a shared machine hits every implementation alike."""
    counts = [0] * len(runs)
    spent = [0.0] * len(runs)
    for run in runs:
        run()  # warm up
    while min(spent) < seconds:
        for i, run in enumerate(runs):
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < slice_:
                run()
                counts[i] += 1
            spent[i] += elapsed
    return [c / s for c, s in zip(counts, spent, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="time per implementation (interleaved in 0.25 s slices)")
    args = parser.parse_args()
    client_id, server_id = Identity.generate(), Identity.generate()
    client_ctx, server_ctx = _openssl_context(client_id), _openssl_context(server_id)
    ours, with_cookie, theirs = rates([
        lambda: sipperc_handshake(client_id, server_id, False),
        lambda: sipperc_handshake(client_id, server_id, True),
        lambda: openssl_handshake(client_ctx, server_ctx)], args.seconds)
    version = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
    print(f"sipperc   full handshakes/s: {ours:8.1f}")
    print(f"sipperc   full handshakes/s with cookie exchange: {with_cookie:8.1f}")
    print(f"pyOpenSSL full handshakes/s: {theirs:8.1f}  ({version})")
    print(f"ratio sipperc/OpenSSL: {ours / theirs:.2f}x (target >= 0.5x); "
          f"with cookie exchange {with_cookie / theirs:.2f}x")


if __name__ == "__main__":
    main()
