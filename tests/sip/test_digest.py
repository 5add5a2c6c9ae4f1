"""Digest authentication: RFC test vectors, client and server talking in memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.logger import globalLogPublisher

from sipperc.sip import AuthValue, Request, Response, SipParseError
from sipperc.sip import headers as h
from sipperc.sip.digest import (
    Authenticated,
    Challenged,
    DigestAccount,
    DigestAlgorithm,
    DigestChallenge,
    DigestClient,
    DigestCredentials,
    DigestError,
    DigestServer,
    digest_ha1,
    digest_response,
    username_hash,
)

SECRET = b"0123456789abcdef0123456789abcdef"
PASSWORD = "s3cret pa55"


def _auth(text: str) -> AuthValue:
    return h.AUTHORIZATION.parse_field(text)[0]


# --- RFC test vectors --------------------------------------------------------------------------

RFC2617_AUTHORIZATION = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
    'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_rfc2617_section_3_5_example():
    ha1 = digest_ha1(DigestAlgorithm.MD5, "Mufasa", "testrealm@host.com", "Circle Of Life")
    response = digest_response(
        DigestAlgorithm.MD5,
        ha1,
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc=1,
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"
    credentials = DigestCredentials.parse(_auth(RFC2617_AUTHORIZATION))
    assert credentials.response == response and credentials.nc == 1
    assert credentials.algorithm is DigestAlgorithm.MD5  # absent means MD5
    assert credentials.opaque == "5ccc069c403ebaf9f0171e9517f40e41"


RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        (DigestAlgorithm.MD5, "8ca523f5e9506fed4657c9700eebdbec"),
        (
            DigestAlgorithm.SHA_256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ],
)
def test_rfc7616_section_3_9_1_examples(algorithm, expected):
    challenge = DigestChallenge.parse(
        h.WWW_AUTHENTICATE.parse_field(
            f'Digest realm="http-auth@example.org", qop="auth, auth-int", '
            f'algorithm={algorithm.value}, nonce="{RFC7616_NONCE}", '
            'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
        )[0]
    )
    assert challenge.qop == ("auth", "auth-int") and challenge.algorithm is algorithm
    ha1 = digest_ha1(algorithm, "Mufasa", challenge.realm, "Circle of Life")
    response = digest_response(
        algorithm,
        ha1,
        method="GET",
        uri="/dir/index.html",
        nonce=challenge.nonce,
        qop="auth",
        nc=1,
        cnonce=RFC7616_CNONCE,
    )
    assert response == expected


def test_rfc7616_section_3_9_2_sha512_256_userhash_with_erratum_4897():
    # The RFC's printed username hash and response were not computed from its inputs;
    # erratum 4897 gives the ones that are.
    algorithm = DigestAlgorithm.SHA_512_256
    realm = "api@example.org"
    user = "J\u00e4s\u00f8n Doe"
    assert username_hash(algorithm, user, realm) == (
        "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    )
    response = digest_response(
        algorithm,
        digest_ha1(algorithm, user, realm, "Secret, or not?"),
        method="GET",
        uri="/doe.json",
        nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
        qop="auth",
        nc=1,
        cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    )
    assert response == "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"


def test_rfc2069_form_and_session_and_auth_int_variants_differ():
    ha1 = digest_ha1(DigestAlgorithm.MD5, "u", "r", "p")
    args = {"method": "INVITE", "uri": "sip:b@x", "nonce": "n", "nc": 1, "cnonce": "c"}
    plain = digest_response(DigestAlgorithm.MD5, ha1, qop="auth", **args)
    legacy = digest_response(DigestAlgorithm.MD5, ha1, qop=None, **args)
    sess = digest_response(DigestAlgorithm.MD5_SESS, ha1, qop="auth", **args)
    integrity = digest_response(DigestAlgorithm.MD5, ha1, qop="auth-int", body=b"v=0", **args)
    other_body = digest_response(DigestAlgorithm.MD5, ha1, qop="auth-int", body=b"v=1", **args)
    assert len({plain, legacy, sess, integrity, other_body}) == 5
    md5 = DigestAlgorithm.MD5.hash
    assert legacy == md5(f"{ha1}:n:{md5('INVITE:sip:b@x')}")  # RFC 2617 §3.2.2.1
    with pytest.raises(DigestError):
        digest_response(DigestAlgorithm.MD5, ha1, qop="auth-conf", **args)


def test_algorithm_tokens_and_strength():
    assert DigestAlgorithm.from_token(None) is DigestAlgorithm.MD5
    assert DigestAlgorithm.from_token("sha-256") is DigestAlgorithm.SHA_256
    assert DigestAlgorithm.from_token("SHA-512-256-SESS") is DigestAlgorithm.SHA_512_256_SESS
    assert DigestAlgorithm.from_token("SHA3-256") is None
    ranked = sorted(DigestAlgorithm, key=lambda a: a.strength)
    assert ranked[-1] is DigestAlgorithm.SHA_512_256 and ranked[0] is DigestAlgorithm.MD5_SESS


# --- SIP messages ------------------------------------------------------------------------------


def _register(user: str = "alice", cseq: int = 1, call_id: str = "reg-1") -> Request:
    return Request.build(
        "REGISTER",
        "sip:example.com",
        from_=f"<sip:{user}@example.com>;tag=f1",
        to=f"<sip:{user}@example.com>",
        call_id=call_id,
        cseq=cseq,
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc",
        contact=f"<sip:{user}@192.0.2.1:5060>",
    )


def _invite(body: bytes = b"v=0\r\n") -> Request:
    return Request.build(
        "INVITE",
        "sip:bob@example.com",
        from_="<sip:alice@example.com>;tag=f1",
        to="<sip:bob@example.com>",
        call_id="call-1",
        cseq=7,
        contact="<sip:alice@192.0.2.1>",
        body=body,
        content_type="application/sdp",
    )


def _users(name: str) -> str | None:
    return {"alice-auth": PASSWORD, "bob": "bobpw"}.get(name)


def _server(**kwargs) -> DigestServer:
    return DigestServer("example.com", _users, SECRET, **kwargs)


def _client(**kwargs) -> DigestClient:
    account = DigestAccount("alice-auth", PASSWORD, servers=("registrar.example.com",))
    return DigestClient([account], **kwargs)


HOP = "registrar.example.com"


def test_register_challenge_answered_with_strongest_algorithm_and_accepted():
    server = _server(
        algorithms=(DigestAlgorithm.MD5, DigestAlgorithm.SHA_256, DigestAlgorithm.SHA_512_256)
    )
    client = _client()
    request = _register()
    challenge = server.check(request, now=10.0)
    assert challenge is not None and challenge.status_code == 401
    assert len(challenge.get_all("WWW-Authenticate")) == 3
    retry = client.answer_challenge(request, challenge, HOP)
    assert retry is not None
    assert retry.cseq.seq == 2 and retry.cseq.method == "REGISTER"
    assert "Via" not in retry  # the transaction layer adds a new one with a new branch
    credentials = DigestCredentials.parse(retry.first(h.AUTHORIZATION))
    assert credentials.algorithm is DigestAlgorithm.SHA_512_256
    assert credentials.username == "alice-auth"  # not the AOR's user part
    assert credentials.uri == "sip:example.com" and credentials.qop == "auth"
    assert credentials.nc == 1
    verdict = server.verify(retry, now=11.0)
    assert verdict == Authenticated("alice-auth", "example.com")
    assert server.check(retry.replace("CSeq", "3 REGISTER"), now=11.0) is not None  # nc reused


@pytest.mark.parametrize("algorithm", list(DigestAlgorithm))
def test_every_algorithm_round_trips(algorithm):
    server = _server(algorithms=(algorithm,))
    request = _register()
    retry = _client().answer_challenge(request, server.challenge(request, 0.0), HOP)
    assert retry is not None
    assert DigestCredentials.parse(retry.first(h.AUTHORIZATION)).algorithm is algorithm
    assert isinstance(server.verify(retry, 1.0), Authenticated)


def test_client_refuses_algorithms_it_was_told_not_to_use():
    server = _server(algorithms=(DigestAlgorithm.MD5,))
    request = _register()
    client = _client(algorithms=(DigestAlgorithm.SHA_256,))
    assert client.answer_challenge(request, server.challenge(request, 0.0), HOP) is None


def test_challenges_from_a_peer_or_unknown_realm_are_not_answered():
    server = _server()
    request = _register()
    challenge = server.challenge(request, 0.0)
    client = _client()
    assert client.answer_challenge(request, challenge, "evil.example.net") is None
    assert client.answer_challenge(request, challenge, "192.0.2.99") is None
    pinned = DigestClient(
        [DigestAccount("alice-auth", PASSWORD, servers=(HOP,), realm="other.example.com")]
    )
    assert pinned.answer_challenge(request, challenge, HOP) is None
    assert client.answer_challenge(request, challenge, "Registrar.Example.COM.") is not None
    assert client.answer_challenge(request, request.response(403), HOP) is None


def test_ipv6_hop_matches_with_or_without_brackets():
    client = DigestClient([DigestAccount("a", "p", servers=("[2001:db8::1]",))])
    server = _server()
    request = _register()
    assert client.answer_challenge(request, server.challenge(request, 0.0), "2001:db8::1")


def test_wrong_password_is_tried_once_then_given_up():
    server = _server()
    client = DigestClient([DigestAccount("alice-auth", "wrong", servers=(HOP,))])
    request = _register()
    retry = client.answer_challenge(request, server.challenge(request, 0.0), HOP)
    assert retry is not None
    verdict = server.verify(retry, 1.0)
    assert isinstance(verdict, Challenged) and verdict.reason == "wrong response"
    assert DigestChallenge.parse(verdict.response.first(h.WWW_AUTHENTICATE)).stale is False
    assert client.answer_challenge(retry, verdict.response, HOP) is None


def test_unknown_user_is_refused_like_a_wrong_password():
    server = _server()
    client = DigestClient([DigestAccount("mallory", PASSWORD, servers=(HOP,))])
    request = _register()
    retry = client.answer_challenge(request, server.challenge(request, 0.0), HOP)
    verdict = server.verify(retry, 1.0)
    assert isinstance(verdict, Challenged) and verdict.reason == "unknown user"
    assert verdict.response.status_code == 401


def test_stale_nonce_gets_one_more_answer_and_no_more():
    server = _server(nonce_lifetime=30.0)
    client = _client()
    request = _register()
    retry = client.answer_challenge(request, server.challenge(request, 0.0), HOP)
    late = server.verify(retry, 100.0)  # the nonce expired on the way
    assert isinstance(late, Challenged) and late.reason == "nonce expired"
    assert DigestChallenge.parse(late.response.first(h.WWW_AUTHENTICATE)).stale
    second = client.answer_challenge(retry, late.response, HOP)
    assert second is not None and second.cseq.seq == 3
    assert len(second.get_all("Authorization")) == 1  # the old credentials were replaced
    assert isinstance(server.verify(second, 101.0), Authenticated)
    # A server that keeps saying stale is not answered a third time.
    again = server.challenge(second, 101.0, stale=True)
    assert client.answer_challenge(second, again, HOP) is None


def test_preemptive_credentials_reuse_the_nonce_with_the_next_count():
    server = _server()
    client = _client()
    first = _register()
    retry = client.answer_challenge(first, server.challenge(first, 0.0), HOP)
    assert isinstance(server.verify(retry, 1.0), Authenticated)
    refresh = client.authorize(_register(cseq=3), HOP)
    credentials = DigestCredentials.parse(refresh.first(h.AUTHORIZATION))
    assert credentials.nc == 2
    assert isinstance(server.verify(refresh, 2.0), Authenticated)
    assert client.authorize(_register(cseq=4), "elsewhere.example.com").get("Authorization") is None
    # Once the nonce expires, the server says stale and the client answers the new challenge
    # even though the refresh already carried credentials.
    later = client.authorize(_register(cseq=5), HOP)
    stale = server.verify(later, 1000.0)
    assert isinstance(stale, Challenged) and stale.reason == "nonce expired"
    answered = client.answer_challenge(later, stale.response, HOP)
    assert answered is not None and isinstance(server.verify(answered, 1000.0), Authenticated)


def test_preemptive_credentials_with_a_forgotten_nonce_get_one_answer():
    client = _client()
    request = _register()
    retry = client.answer_challenge(request, _server().challenge(request, 0.0), HOP)
    assert retry is not None
    restarted = DigestServer("example.com", _users, b"another secret, after a restart")
    later = client.authorize(_register(cseq=9), HOP)
    refusal = restarted.verify(later, 5.0)
    assert isinstance(refusal, Challenged) and refusal.reason == "nonce not issued here"
    answered = client.answer_challenge(later, refusal.response, HOP)
    assert answered is not None and isinstance(restarted.verify(answered, 6.0), Authenticated)


def test_replayed_request_is_refused_stale():
    server = _server()
    request = _register()
    retry = _client().answer_challenge(request, server.challenge(request, 0.0), HOP)
    assert isinstance(server.verify(retry, 1.0), Authenticated)
    replay = server.verify(retry, 2.0)
    assert isinstance(replay, Challenged) and replay.reason == "nonce count replayed"
    assert DigestChallenge.parse(replay.response.first(h.WWW_AUTHENTICATE)).stale


def test_nonce_counts_may_arrive_out_of_order_within_the_window():
    server = _server()
    client = _client()
    first = _register()
    client.answer_challenge(first, server.challenge(first, 0.0), HOP)
    requests = [client.authorize(_register(cseq=10 + i), HOP) for i in range(4)]  # nc 2..5
    for request in (requests[3], requests[1], requests[0], requests[2]):
        assert isinstance(server.verify(request, 1.0), Authenticated)
    assert isinstance(server.verify(requests[1], 1.0), Challenged)


def test_forgotten_nonces_count_as_expired():
    server = _server(max_nonces=2)
    clients = []
    for i in range(3):
        client = _client()
        request = _register(call_id=f"c{i}")
        retry = client.answer_challenge(request, server.challenge(request, float(i)), HOP)
        assert isinstance(server.verify(retry, 3.0), Authenticated)
        clients.append(client)
    # The first nonce's counts were dropped to stay within max_nonces: its next use is stale.
    verdict = server.verify(clients[0].authorize(_register(cseq=5, call_id="c0"), HOP), 4.0)
    assert isinstance(verdict, Challenged) and verdict.reason == "nonce count replayed"
    assert isinstance(
        server.verify(clients[2].authorize(_register(cseq=5, call_id="c2"), HOP), 4.0),
        Authenticated,
    )


def test_forged_and_tampered_nonces_and_opaque_are_refused():
    server = _server()
    request = _register()
    retry = _client().answer_challenge(request, server.challenge(request, 0.0), HOP)
    value = retry.get("Authorization")
    nonce = DigestCredentials.parse(retry.first(h.AUTHORIZATION)).nonce
    forged = nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BB")
    verdict = server.verify(retry.replace("Authorization", value.replace(nonce, forged)), 1.0)
    assert isinstance(verdict, Challenged) and verdict.reason == "nonce not issued here"
    other_realm = DigestServer("example.com", _users, b"a different secret of 32 bytes!!")
    assert isinstance(other_realm.verify(retry, 1.0), Challenged)
    opaque = DigestCredentials.parse(retry.first(h.AUTHORIZATION)).opaque
    tampered = retry.replace("Authorization", value.replace(opaque, "x" + opaque[1:]))
    verdict = server.verify(tampered, 1.0)
    assert isinstance(verdict, Challenged) and verdict.reason == "opaque does not match"


def test_proxy_challenge_uses_407_and_proxy_headers_and_keeps_other_credentials():
    proxy = DigestServer("proxy.example.com", _users, SECRET, proxy=True)
    registrar = _server()
    client = DigestClient(
        [
            DigestAccount("alice-auth", PASSWORD, servers=("proxy.example.com",)),
        ]
    )
    invite = _invite()
    challenge = proxy.check(invite, 0.0)
    assert challenge is not None and challenge.status_code == 407
    assert challenge.get("WWW-Authenticate") is None and challenge.get("Proxy-Authenticate")
    assert registrar.check(invite, 0.0).status_code == 401
    retry = client.answer_challenge(invite, challenge, "proxy.example.com")
    assert retry is not None and retry.get("Proxy-Authorization") and not retry.get("Authorization")
    assert retry.cseq == h.CSeq(8, "INVITE")
    assert proxy.check(retry, 1.0) is None
    in_dialog = client.answer_challenge(invite, challenge, "proxy.example.com", cseq=20)
    assert in_dialog is not None and in_dialog.cseq.seq == 20


def test_several_realms_in_one_response_are_each_answered():
    a = DigestServer("a.example.com", _users, SECRET, proxy=True)
    b = DigestServer("b.example.com", _users, SECRET, proxy=True)
    invite = _invite()
    response = a.challenge(invite, 0.0).append(
        "Proxy-Authenticate", b.challenge(invite, 0.0).get("Proxy-Authenticate")
    )
    response = response.append("Proxy-Authenticate", 'Basic realm="c.example.com"')
    response = response.append("Proxy-Authenticate", "Digest realm=x, nonce=y, algorithm=SHA3")
    client = DigestClient([DigestAccount("bob", "bobpw", servers=("edge.example.com",))])
    retry = client.answer_challenge(invite, response, "edge.example.com")
    realms = sorted(DigestCredentials.parse(v).realm for v in retry.typed(h.PROXY_AUTHORIZATION))
    assert realms == ["a.example.com", "b.example.com"]
    assert a.check(retry, 1.0) is None and b.check(retry, 1.0) is None


def test_auth_int_protects_the_body():
    server = _server(qop=("auth-int",))
    invite = _invite()
    retry = _client().answer_challenge(invite, server.challenge(invite, 0.0), HOP)
    credentials = DigestCredentials.parse(retry.first(h.AUTHORIZATION))
    assert credentials.qop == "auth-int"
    changed = retry.with_fields(retry.fields)
    changed.body = b"v=1\r\n"
    verdict = server.verify(changed, 1.0)
    assert isinstance(verdict, Challenged) and verdict.reason == "wrong response"
    assert isinstance(server.verify(retry, 1.0), Authenticated)


def test_client_prefers_auth_over_auth_int_and_answers_legacy_challenges():
    invite = _invite()
    both = invite.response(
        401, headers=[("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth-int,auth"')]
    )
    retry = _client().answer_challenge(invite, both, HOP)
    assert DigestCredentials.parse(retry.first(h.AUTHORIZATION)).qop == "auth"
    legacy = invite.response(401, headers=[("WWW-Authenticate", 'Digest realm="r", nonce="n"')])
    retry = _client().answer_challenge(invite, legacy, HOP)
    credentials = DigestCredentials.parse(retry.first(h.AUTHORIZATION))
    assert credentials.qop is None and credentials.nc is None
    assert "nc=" not in retry.get("Authorization")
    ha1 = digest_ha1(DigestAlgorithm.MD5, "alice-auth", "r", PASSWORD)
    assert credentials.response == digest_response(
        DigestAlgorithm.MD5, ha1, method="INVITE", uri="sip:bob@example.com", nonce="n", qop=None
    )
    unknown_qop = invite.response(
        401, headers=[("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth-conf"')]
    )
    assert _client().answer_challenge(invite, unknown_qop, HOP) is None


def test_userhash_challenge_is_answered_with_the_hashed_username():
    invite = _invite()
    challenge = invite.response(
        401,
        headers=[
            (
                "WWW-Authenticate",
                'Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, userhash=true',
            )
        ],
    )
    retry = _client().answer_challenge(invite, challenge, HOP)
    credentials = DigestCredentials.parse(retry.first(h.AUTHORIZATION))
    assert credentials.userhash
    assert credentials.username == username_hash(DigestAlgorithm.SHA_256, "alice-auth", "r")


def test_server_refuses_what_it_did_not_offer():
    server = _server(algorithms=(DigestAlgorithm.SHA_256,))
    request = _register()
    md5_client = _client(algorithms=(DigestAlgorithm.MD5,))
    md5_challenge = _server(algorithms=(DigestAlgorithm.MD5,)).challenge(request, 0.0)
    retry = md5_client.answer_challenge(request, md5_challenge, HOP)
    verdict = server.verify(retry, 1.0)
    assert isinstance(verdict, Challenged) and verdict.reason == "algorithm not offered"
    value = 'Digest realm="r", nonce="n"'
    legacy = _client().answer_challenge(
        request, request.response(401, headers=[("WWW-Authenticate", value)]), HOP
    )
    fixed = legacy.replace(
        "Authorization", legacy.get("Authorization").replace('realm="r"', 'realm="example.com"')
    )
    verdict = server.verify(fixed, 1.0)
    assert isinstance(verdict, Challenged) and verdict.reason == "algorithm not offered"


def test_malformed_credentials_get_400_and_ack_cancel_are_never_challenged():
    server = _server()
    request = _register().append("Authorization", 'Digest realm="example.com", username="a"')
    verdict = server.verify(request, 0.0)
    assert isinstance(verdict, Challenged) and verdict.response.status_code == 400
    bad_nc = _register().append(
        "Authorization",
        'Digest realm="example.com", username="a", nonce="n", uri="sip:x", response="0", '
        'qop=auth, nc=zz, cnonce="c"',
    )
    assert server.check(bad_nc, 0.0).status_code == 400
    other_realm = _register().append("Authorization", 'Digest realm="elsewhere", username="a"')
    assert server.check(other_realm, 0.0).status_code == 401
    ack = Request.build(
        "ACK", "sip:b@x", from_="<sip:a@x>;tag=1", to="<sip:b@x>;tag=2", call_id="c", cseq=1
    )
    assert server.check(ack, 0.0) is None
    with pytest.raises(ValueError, match=r"22\.1"):
        server.verify(ack, 0.0)


def test_server_configuration_is_checked():
    with pytest.raises(ValueError):
        DigestServer("r", _users, b"short")
    with pytest.raises(ValueError):
        DigestServer("r", _users, SECRET, algorithms=())
    with pytest.raises(ValueError):
        DigestServer("r", _users, SECRET, qop=("auth-conf",))
    with pytest.raises(ValueError):
        DigestAccount("a", "p", servers=())


def test_secrets_stay_out_of_repr_and_logs():
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        server = _server()
        client = _client()
        request = _register()
        retry = client.answer_challenge(request, server.challenge(request, 0.0), HOP)
        server.verify(retry, 1.0)
        server.verify(retry, 2.0)  # replay: logged refusal
        wrong = DigestClient([DigestAccount("alice-auth", "nope", servers=(HOP,))])
        server.verify(wrong.answer_challenge(request, server.challenge(request, 0.0), HOP), 1.0)
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert events
    credentials = DigestCredentials.parse(retry.first(h.AUTHORIZATION))
    ha1 = digest_ha1(credentials.algorithm, "alice-auth", "example.com", PASSWORD)
    for text in (
        repr(events),
        repr(client),
        repr(server),
        repr(client._accounts),
        repr(credentials),
    ):
        assert PASSWORD not in text and ha1 not in text and credentials.response not in text
    assert repr(retry.first(h.AUTHORIZATION)) == "AuthValue('Digest', <10 params>)"


def test_header_values_round_trip():
    challenge = DigestChallenge(
        realm='we"ird \\ realm',
        nonce="abc",
        algorithm=DigestAlgorithm.SHA_256_SESS,
        qop=("auth", "auth-int"),
        opaque="o",
        stale=True,
        userhash=True,
    )
    text = str(challenge)
    assert DigestChallenge.parse(h.WWW_AUTHENTICATE.parse_field(text)[0]) == challenge
    with pytest.raises(DigestError):
        DigestChallenge(realm="a\r\nb", nonce="n").to_auth_value()
    for bad in ('Basic realm="x"', 'Digest nonce="n"', 'Digest realm="r", nonce="n", algorithm=X'):
        with pytest.raises(DigestError):
            DigestChallenge.parse(h.WWW_AUTHENTICATE.parse_field(bad)[0])
    with pytest.raises(DigestError):
        DigestCredentials.parse(_auth('Basic dXNlcjpwYXNz="x"'))


_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n", exclude_categories=("Cs",)), max_size=20
)


@settings(max_examples=200, deadline=None)
@given(
    username=_text,
    realm=_text,
    nonce=_text,
    uri=_text,
    algorithm=st.sampled_from(list(DigestAlgorithm)),
    qop=st.sampled_from([None, "auth", "auth-int"]),
    nc=st.integers(1, 2**32 - 1),
    cnonce=_text,
    opaque=st.none() | _text,
)
def test_credentials_round_trip_through_header_text(
    username, realm, nonce, uri, algorithm, qop, nc, cnonce, opaque
):
    credentials = DigestCredentials(
        username=username,
        realm=realm,
        nonce=nonce,
        uri=uri,
        response="0" * 32,
        algorithm=algorithm,
        qop=qop,
        nc=nc if qop else None,
        cnonce=cnonce if qop else None,
        opaque=opaque,
    )
    parsed = DigestCredentials.parse(_auth(str(credentials)))
    assert parsed == credentials


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_server_never_crashes_on_garbage_credentials(garbage):
    server = _server()
    request = _register()
    try:
        request = request.append("Authorization", garbage)
    except ValueError:
        return  # not a header value at all: never reaches the server
    verdict = server.verify(request, 0.0)
    assert isinstance(verdict, Challenged)
    assert verdict.response.status_code in (400, 401)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_client_never_crashes_on_garbage_challenges(garbage):
    request = _register()
    try:
        response = request.response(401).append("WWW-Authenticate", garbage)
    except ValueError:
        return
    retry = _client().answer_challenge(request, response, HOP)
    assert retry is None or isinstance(retry, Request)


def test_parse_errors_in_typed_headers_are_sip_parse_errors():
    # The raw header parser (message layer) rejects what is not an auth value at all; the
    # digest layer skips such rows instead of failing (see the garbage tests above).
    with pytest.raises(SipParseError):
        h.WWW_AUTHENTICATE.parse_field("Digest")
    assert isinstance(_register().response(401), Response)
