"""The registrar and location service (RFC 3261 §10.3)."""

from __future__ import annotations

import pytest

from sipperc.sip import Request, Response, parse_message
from sipperc.sip import headers as h
from sipperc.sip.digest import DigestAccount, DigestClient, DigestServer
from sipperc.sip.registrar import LocationService, Registrar, address_of_record
from sipperc.sip.transport_address import TransportAddress

SOURCE = TransportAddress("udp", "192.0.2.10", 5060)


def register(
    *contacts: str,
    user: str = "alice",
    call_id: str = "cid-1",
    cseq: int = 1,
    expires: int | None = None,
    uri: str = "sip:example.com",
    headers: tuple[tuple[str, object], ...] = (),
) -> Request:
    extra = [("Contact", c) for c in contacts if c == "*"] + list(headers)
    if expires is not None:
        extra.append(("Expires", expires))
    request = Request.build(
        "REGISTER",
        uri,
        from_=f"<sip:{user}@example.com>;tag=ft",
        to=f"<sip:{user}@example.com>",
        call_id=call_id,
        cseq=cseq,
        via="SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg;rport",
        contact=[c for c in contacts if c != "*"],
        headers=extra,
    )
    parsed = parse_message(bytes(request))  # what a registrar really receives
    assert isinstance(parsed, Request)
    return parsed


def listed(response: Response) -> dict[str, int | None]:
    return {str(c.uri): c.expires for c in response.contacts}


def test_address_of_record_is_canonical():
    assert address_of_record("sip:Alice@Example.COM;transport=tcp?subject=x") == (
        "sip:Alice@example.com"
    )
    assert address_of_record("sips:bob%40x@example.com:5070") == "sip:bob@x@example.com:5070"
    assert address_of_record("sip:carol@[2001:DB8::1]") == "sip:carol@[2001:db8::1]"
    for bad in ("sip:example.com", "tel:+15551234"):
        with pytest.raises(ValueError):
            address_of_record(bad)


def test_register_query_and_lookup():
    registrar = Registrar(["example.com"])
    ok = registrar.handle(register("<sip:alice@192.0.2.10:5060>", expires=600), 100.0, SOURCE)
    assert ok.status_code == 200
    assert listed(ok) == {"sip:alice@192.0.2.10:5060": 600}
    assert ok.to.tag is not None
    query = registrar.handle(register(cseq=2), 130.5)
    assert query.status_code == 200 and listed(query) == {"sip:alice@192.0.2.10:5060": 570}
    (binding,) = registrar.location.lookup("sip:alice@EXAMPLE.com;user=phone", 130.5)
    assert str(binding.uri) == "sip:alice@192.0.2.10:5060"
    assert binding.source == SOURCE and binding.q == 1.0
    assert registrar.location.lookup("sip:bob@example.com", 130.5) == ()
    assert registrar.location.lookup("tel:+15551234", 130.5) == ()


def test_default_and_clamped_lifetimes_and_contact_parameter_wins():
    registrar = Registrar(["example.com"], max_expires=1000, default_expires=900)
    response = registrar.handle(
        register("<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>;expires=5000", "<sip:c@192.0.2.3>"),
        0.0,
    )
    assert listed(response) == {
        "sip:a@192.0.2.1": 900,
        "sip:b@192.0.2.2": 1000,
        "sip:c@192.0.2.3": 900,
    }
    response = registrar.handle(register("<sip:a@192.0.2.1>;expires=300", expires=700, cseq=2), 0.0)
    assert listed(response)["sip:a@192.0.2.1"] == 300


def test_interval_too_brief_changes_nothing():
    registrar = Registrar(["example.com"], min_expires=120)
    response = registrar.handle(
        register("<sip:a@192.0.2.1>;expires=3600", "<sip:b@192.0.2.2>", expires=30), 0.0
    )
    assert response.status_code == 423 and response.first(h.MIN_EXPIRES) == 120
    assert registrar.location.lookup("sip:alice@example.com", 0.0) == ()


def test_q_values_order_the_lookup():
    registrar = Registrar(["example.com"])
    registrar.handle(
        register(
            "<sip:low@192.0.2.1>;q=0.1",
            "<sip:high@192.0.2.2>;q=0.9",
            "<sip:plain@192.0.2.3>",
            expires=300,
        ),
        0.0,
    )
    order = [b.uri.user for b in registrar.location.lookup("sip:alice@example.com", 1.0)]
    assert order == ["plain", "high", "low"]


def test_call_id_and_cseq_ordering_rules():
    registrar = Registrar(["example.com"])
    assert registrar.handle(register("<sip:a@192.0.2.1>", cseq=5), 0.0).status_code == 200
    stale = registrar.handle(register("<sip:a@192.0.2.1>", "<sip:new@192.0.2.9>", cseq=5), 1.0)
    assert stale.status_code == 500
    assert [b.uri.user for b in registrar.location.lookup("sip:alice@example.com", 1.0)] == ["a"]
    older = registrar.handle(register("<sip:a@192.0.2.1>", cseq=4, expires=0), 1.0)
    assert older.status_code == 500 and registrar.location.lookup("sip:alice@example.com", 1.0)
    # Another Call-ID (another device or a reboot) may update the binding with any CSeq.
    other = registrar.handle(register("<sip:a@192.0.2.1>", call_id="cid-2", cseq=1), 2.0)
    assert other.status_code == 200
    (binding,) = registrar.location.lookup("sip:alice@example.com", 2.0)
    assert binding.call_id == "cid-2" and binding.cseq == 1


def test_removal_of_one_contact_and_of_all():
    registrar = Registrar(["example.com"])
    registrar.handle(register("<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>"), 0.0)
    registrar.handle(register("<sip:c@192.0.2.3>", call_id="other-device"), 0.0)
    gone = registrar.handle(register("<sip:a@192.0.2.1>;expires=0", cseq=2), 1.0)
    assert set(listed(gone)) == {"sip:b@192.0.2.2", "sip:c@192.0.2.3"}
    assert registrar.handle(register("*", cseq=3), 1.0).status_code == 400  # no Expires: 0
    mixed = register("*", "<sip:x@192.0.2.4>", cseq=3, expires=0)
    assert registrar.handle(mixed, 1.0).status_code == 400
    cleared = registrar.handle(register("*", cseq=3, expires=0), 2.0)
    assert cleared.status_code == 200 and cleared.contacts == ()
    assert registrar.location.lookup("sip:alice@example.com", 2.0) == ()


def test_wildcard_respects_ordering_too():
    registrar = Registrar(["example.com"])
    registrar.handle(register("<sip:a@192.0.2.1>", cseq=10), 0.0)
    assert registrar.handle(register("*", cseq=9, expires=0), 1.0).status_code == 500
    assert registrar.location.lookup("sip:alice@example.com", 1.0)


def test_bindings_expire_and_purge():
    location = LocationService()
    registrar = Registrar(["example.com"], location=location)
    registrar.handle(register("<sip:a@192.0.2.1>", expires=60), 0.0)
    registrar.handle(register("<sip:b@192.0.2.2>", expires=120, call_id="c2"), 0.0)
    assert location.next_expiry() == 60.0 and location.aors(0.0) == ["sip:alice@example.com"]
    assert [b.uri.user for b in location.lookup("sip:alice@example.com", 60.0)] == ["b"]
    assert location.purge(61.0) == 1
    assert location.purge(200.0) == 1 and location.next_expiry() is None
    assert location.aors(200.0) == []


def test_instance_id_replaces_the_old_contact_of_the_same_device():
    registrar = Registrar(["example.com"])
    instance = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    registrar.handle(register(f"<sip:alice@192.0.2.1>;{instance}"), 0.0)
    moved = registrar.handle(
        register(f"<sip:alice@198.51.100.7>;{instance}", call_id="reboot"), 1.0
    )
    assert list(listed(moved)) == ["sip:alice@198.51.100.7"]
    (binding,) = registrar.location.lookup("sip:alice@example.com", 1.0)
    assert binding.instance == "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"


def test_refusals():
    registrar = Registrar(["example.com"], known_aor=lambda aor: aor != "sip:ghost@example.com")
    assert registrar.handle(register("<sip:a@h>", uri="sip:other.org"), 0.0).status_code == 404
    assert registrar.handle(register("<sip:a@h>", user="ghost"), 0.0).status_code == 404
    required = registrar.handle(register("<sip:a@h>", headers=(("Require", "path"),)), 0.0)
    assert required.status_code == 420 and required.get("Unsupported") == "path"
    bad_expires = register("<sip:a@h>").append("Expires", "soon")
    assert registrar.handle(bad_expires, 0.0).status_code == 400
    invite = Request.build(
        "INVITE", "sip:example.com", from_="<sip:a@x>;tag=1", to="<sip:b@x>", call_id="c", cseq=1
    )
    assert registrar.handle(invite, 0.0).status_code == 405
    foreign_to = register("<sip:a@h>").replace("To", "<sip:alice@elsewhere.org>")
    assert registrar.handle(foreign_to, 0.0).status_code == 404
    no_user = register("<sip:a@h>").replace("To", "<sip:example.com>")
    assert registrar.handle(no_user, 0.0).status_code == 404
    few = Registrar(["example.com"], max_bindings=2)
    assert few.handle(register("<sip:a@h>", "<sip:b@h>", "<sip:c@h>"), 0.0).status_code == 403
    with pytest.raises(ValueError):
        Registrar(["example.com"], min_expires=600, default_expires=60)
    with pytest.raises(ValueError):
        Registrar([])


def test_digest_protected_registrar():
    server = DigestServer("example.com", {"alice": "pw", "bob": "bobpw"}.get, b"k" * 32)
    registrar = Registrar(["example.com"], digest=server)
    request = register("<sip:alice@192.0.2.1>")
    challenge = registrar.handle(request, 0.0)
    assert challenge.status_code == 401 and challenge.get("WWW-Authenticate")
    client = DigestClient([DigestAccount("alice", "pw", servers=("example.com",))])
    retry = client.answer_challenge(request, challenge, "example.com")
    assert registrar.handle(retry, 1.0).status_code == 200
    # Bob's valid credentials do not let him change Alice's bindings.
    bob = DigestClient([DigestAccount("bob", "bobpw", servers=("example.com",))])
    request = register("<sip:bob@192.0.2.66>", call_id="evil")
    hijack = bob.answer_challenge(request, registrar.handle(request, 2.0), "example.com")
    hijack = hijack.replace("To", "<sip:alice@example.com>")
    assert registrar.handle(hijack, 2.0).status_code == 403
    assert [b.uri.user for b in registrar.location.lookup("sip:alice@example.com", 3.0)] == [
        "alice"
    ]
    custom = Registrar(["example.com"], digest=server, may_register=lambda user, aor: True)
    request = register("<sip:bob@192.0.2.66>", call_id="delegate")
    answer = bob.answer_challenge(request, custom.handle(request, 4.0), "example.com")
    assert custom.handle(answer.replace("To", "<sip:alice@example.com>"), 4.0).status_code == 200
