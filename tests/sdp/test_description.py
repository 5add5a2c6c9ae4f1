import contextlib
import dataclasses
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipperc.sdp import (
    Answer,
    Attribute,
    Bandwidth,
    Codec,
    Connection,
    Direction,
    DtlsIdentity,
    MediaCapabilities,
    MediaDescription,
    MediaSecurityPolicy,
    OfferAnswer,
    OfferRefused,
    Origin,
    SdpParseError,
    SessionDescription,
    Setup,
    TimeDescription,
    TransportAddress,
    parse_sdp,
)
from tests.sdp.rfc4317 import EXAMPLES

CORPUS = Path(__file__).parent / "corpus"

# RFC 8866 §5, the example session description.
RFC8866_EXAMPLE = (
    "v=0\r\n"
    "o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\r\n"
    "s=Call to John Smith\r\n"
    "i=SDP Offer #1\r\n"
    "u=http://www.jdoe.example.com/home.html\r\n"
    "e=Jane Doe <jane@jdoe.example.com>\r\n"
    "p=+1 617 555-6011\r\n"
    "c=IN IP4 198.51.100.1\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0\r\n"
    "m=audio 49180 RTP/AVP 0\r\n"
    "m=video 51372 RTP/AVP 99\r\n"
    "c=IN IP6 2001:db8::2\r\n"
    "a=rtpmap:99 h263-1998/90000\r\n"
)

# The lines RFC 8866 uses to illustrate multicast c= (§5.7), r= (§5.10), z= (§5.11) and
# k= (§5.12), in one description.
RFC8866_FIELDS = (
    "v=0\r\n"
    "o=- 2890844526 2890842807 IN IP4 203.0.113.5\r\n"
    "s=SDP Seminar\r\n"
    "c=IN IP4 233.252.0.1/127/3\r\n"
    "b=CT:128\r\n"
    "t=3034423619 3042462419\r\n"
    "r=604800 3600 0 90000\r\n"
    "t=3034423619 3042462419\r\n"
    "r=7d 1h 0 25h\r\n"
    "z=2882844526 -1h 2898848070 0\r\n"
    "k=prompt\r\n"
    "a=recvonly\r\n"
    "m=audio 49170/2 RTP/AVP 0\r\n"
    "c=IN IP6 ff00::db8:0:101/3\r\n"
    "b=AS:64\r\n"
    "m=video 51372 RTP/AVP 99\r\n"
    "i=Presenter camera\r\n"
    "a=rtpmap:99 h263-1998/90000\r\n"
)


def corpus_texts():
    texts = [RFC8866_EXAMPLE, RFC8866_FIELDS, *EXAMPLES.values()]
    texts += [p.read_text() for p in sorted(CORPUS.glob("*.sdp"))]
    return texts


def test_rfc8866_example_typed_access():
    sdp = parse_sdp(RFC8866_EXAMPLE)
    assert sdp.origin == Origin("jdoe", 3724394400, 3724394405, "198.51.100.1")
    assert sdp.session_name == "Call to John Smith"
    assert sdp.information == "SDP Offer #1"
    assert sdp.uri == "http://www.jdoe.example.com/home.html"
    assert sdp.emails == ("Jane Doe <jane@jdoe.example.com>",)
    assert sdp.phones == ("+1 617 555-6011",)
    assert sdp.connection == Connection("198.51.100.1")
    assert sdp.times == (TimeDescription(0, 0),)
    assert [(m.kind, m.port, m.proto, m.formats) for m in sdp.media] == [
        ("audio", 49170, "RTP/AVP", ("0",)), ("audio", 49180, "RTP/AVP", ("0",)),
        ("video", 51372, "RTP/AVP", ("99",))]
    video = sdp.media[2]
    assert sdp.connection_for(video) == Connection("2001:db8::2", addrtype="IP6")
    assert sdp.connection_for(sdp.media[0]) == sdp.connection
    assert video.rtpmap("99").encoding_name == "h263-1998"
    assert sdp.media[0].rtpmap("0").encoding_name == "PCMU"  # RFC 3551 static type
    assert sdp.direction_of(video) is Direction.SENDRECV
    assert str(sdp) == RFC8866_EXAMPLE
    assert bytes(sdp) == RFC8866_EXAMPLE.encode()


def test_rfc8866_field_examples():
    sdp = parse_sdp(RFC8866_FIELDS)
    assert sdp.connection == Connection("233.252.0.1", ttl=127, count=3)
    assert sdp.bandwidths == (Bandwidth("CT", 128),)
    assert sdp.times[0].repeats == ("604800 3600 0 90000",)
    assert sdp.times[1] == TimeDescription(3034423619, 3042462419, ("7d 1h 0 25h",),
                                           "2882844526 -1h 2898848070 0")
    assert sdp.key == "prompt"
    assert sdp.direction is Direction.RECVONLY
    audio = sdp.media[0]
    assert (audio.port, audio.port_count) == (49170, 2)
    assert audio.connection == Connection("ff00::db8:0:101", addrtype="IP6", count=3)
    assert sdp.direction_of(audio) is Direction.RECVONLY
    assert sdp.media[1].title == "Presenter camera"
    assert str(sdp) == RFC8866_FIELDS


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.sdp")))
def test_real_peer_descriptions_round_trip_exactly(name):
    data = (CORPUS / name).read_bytes()
    assert bytes(parse_sdp(data)) == data


def test_pjsua2_offer_typed_access():
    sdp = parse_sdp((CORPUS / "pjsua2_sdes_offer.sdp").read_bytes())
    audio = sdp.media[0]
    assert sdp.bandwidths == (Bandwidth("AS", 84),)
    assert audio.bandwidths == (Bandwidth("TIAS", 64000),)
    assert audio.rtcp.port == 4001 and audio.rtcp.address == "127.0.0.1"
    assert audio.fmtps["99"].parameter_map() == {"mode": "30"}
    assert [c.suite for c in audio.crypto] == [
        "AES_256_CM_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32"]
    assert audio.cnames == {1267782424: "2dbe8fbe7b3482f8"}
    assert sdp.value("X-nat") == "0"  # unknown attributes are kept
    assert audio.direction is Direction.SENDRECV


def test_baresip_dtls_offer_has_session_level_setup_and_fingerprint():
    sdp = parse_sdp((CORPUS / "baresip_dtls_offer.sdp").read_bytes())
    audio = sdp.media[0]
    assert audio.setup is None and sdp.setup_of(audio) is Setup.ACTPASS
    (fingerprint,) = sdp.fingerprints_of(audio)
    assert fingerprint.hash_function == "sha-256"  # written SHA-256: ABNF is case-insensitive
    assert audio.tls_id is None  # baresip 1.0 predates RFC 8842
    assert audio.ptime == 20


def test_lf_line_ends_are_accepted_and_serialised_as_crlf():
    text = RFC8866_EXAMPLE.replace("\r\n", "\n")
    assert str(parse_sdp(text)) == RFC8866_EXAMPLE


def test_numbers_with_leading_zeros_round_trip_until_changed():
    text = RFC8866_EXAMPLE.replace("3724394405", "03724394405").replace("49170", "049170")
    sdp = parse_sdp(text)
    assert str(sdp) == text
    assert sdp.origin.session_version == 3724394405
    changed = dataclasses.replace(sdp, origin=sdp.origin.next_version())
    assert "o=jdoe 3724394400 3724394406 IN IP4" in str(changed)
    port = dataclasses.replace(sdp.media[0], port=5004)
    assert str(sdp.with_media(0, port)).count("m=audio 5004 RTP/AVP 0\r\n") == 1


def test_repr_and_redacted_text_hide_keys():
    text = (CORPUS / "baresip_sdes_offer.sdp").read_text()
    sdp = parse_sdp(text)
    key = "Qs25tLfihgqxjWcD83xyMlcFSUhLx1aCfJCBD5jv"
    assert key in str(sdp)  # the wire form carries it, of course
    assert key not in repr(sdp)
    assert key not in repr(sdp.media[0])
    assert key not in repr(sdp.media[0].crypto)
    redacted = sdp.redacted()
    assert key not in redacted and "a=crypto:<redacted>" in redacted


ERRORS = [
    ("", None, "empty session description"),
    ("o=- 1 1 IN IP4 h\r\n", 1, "starts with v="),
    ("v=1\r\n", 1, "only SDP version 0"),
    ("v=0\r\no=- x 1 IN IP4 h\r\n", 2, "<sess-id>"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nm=audio 1 RTP/AVP 0\r\n", 4, "before the session's t="),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nc=IN IP4 h\r\n", 5, "out of order"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nx=1\r\n", 5, "unknown line type 'x'"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n", 5,
     "above 65535"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nm=audio 1 RTP/AVP\r\n", 5, "<fmt>"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nz=0 0\r\n", 6,
     "not allowed in a media section"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", 6,
     "<clock rate>"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\na=sendrecv:yes\r\n", 5, "takes no value"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\na=setup:sometimes\r\n", 5, "actpass"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\na=tls-id:short\r\n", 5, "20-255"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD\r\n", 5,
     "fingerprint of 2 bytes"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nt=1 0\r\n", 5, "<start> <stop>"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\n", None, "no t= line"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n", 3, "before the required s="),
    ("v=0\r\no=- 1 1 IN IP4 h\rs=x\r\n", 2, "carriage return"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=\x00\r\n", 3, "NUL"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=ptime:0\r\n", 6,
     "positive number"),
    ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\na=extmap:15000 urn:x\r\n", 5, "4096-4351"),
    ("v=0\r\nbogus\r\n", 2, "not a '<type>=<value>' line"),
]


@pytest.mark.parametrize(("text", "line", "problem"), ERRORS)
def test_errors_name_the_line_and_the_problem(text, line, problem):
    with pytest.raises(SdpParseError) as caught:
        parse_sdp(text)
    assert caught.value.line_number == line
    assert problem in str(caught.value)
    if line is not None:
        assert str(caught.value).startswith(f"line {line} (")


def test_a_malformed_crypto_line_is_reported_without_its_key():
    text = ("v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\nm=audio 1 RTP/SAVP 0\r\n"
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:SECRETSECRETSECRETSECRET\r\n")
    with pytest.raises(SdpParseError) as caught:
        parse_sdp(text)
    assert "SECRET" not in str(caught.value) and "a=crypto:<redacted>" in str(caught.value)
    assert caught.value.line_number == 6
    assert "16+14 bytes" in caught.value.problem


def test_non_utf8_bytes_name_the_line():
    with pytest.raises(SdpParseError, match=r"^line 3 .*not UTF-8"):
        parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\r\nt=0 0\r\n")


def test_huge_numbers_are_parse_errors_not_crashes():
    with pytest.raises(SdpParseError, match="line 2"):
        parse_sdp("v=0\r\no=- 1 " + "9" * 5000 + " IN IP4 h\r\ns=x\r\nt=0 0\r\n")


# --- Hypothesis: generated descriptions round-trip ---------------------------------------------

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`{|}~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=8)
texts = st.text(st.characters(blacklist_characters="\x00\r\n", blacklist_categories=("Cs",)),
                min_size=1, max_size=20)
hosts = st.one_of(st.ip_addresses(v=4).map(str), st.just("host.example.com"))


@st.composite
def connections(draw):
    if draw(st.booleans()):
        return Connection(str(draw(st.ip_addresses(v=6))), "IN", "IP6",
                          None, draw(st.none() | st.integers(1, 9)))
    ttl = draw(st.none() | st.integers(0, 255))
    count = draw(st.none() | st.integers(1, 9)) if ttl is not None else None
    return Connection(draw(hosts), "IN", "IP4", ttl, count)


def known_attributes():
    pt = st.integers(0, 127)
    return st.one_of(
        st.builds(lambda p, n, r, c: Attribute("rtpmap", f"{p} {n}/{r}" + (f"/{c}" if c else "")),
                  pt, tokens, st.integers(1, 96000), st.none() | st.integers(1, 8)),
        st.builds(lambda p, v: Attribute("fmtp", f"{p} {v}"), pt, texts.filter(
            lambda t: not t.startswith(" "))),
        st.sampled_from([Attribute(d.value) for d in Direction]),
        st.just(Attribute("rtcp-mux")),
        st.builds(lambda v: Attribute("ptime", str(v)), st.integers(1, 200)),
        st.builds(lambda i, u: Attribute("extmap", f"{i} urn:{u}"), st.integers(1, 255), tokens),
        st.builds(lambda s: Attribute("setup", s.value), st.sampled_from(list(Setup))),
        st.builds(lambda t: Attribute("tls-id", t),
                  st.text("abcXYZ019+/-_", min_size=20, max_size=40)),
        st.builds(lambda s, c: Attribute("ssrc", f"{s} cname:{c}"), st.integers(0, 2**32 - 1),
                  tokens),
        st.builds(lambda m: Attribute("mid", m), tokens),
        st.builds(lambda v: Attribute("sipperc-perc", f"{v} endpoint"), st.integers(1, 3)),
        st.builds(lambda n, v: Attribute("x-" + n, v), tokens, st.none() | texts),
    )


@st.composite
def media_descriptions(draw):
    return MediaDescription(
        kind=draw(tokens), port=draw(st.integers(0, 65535)),
        proto=draw(st.lists(tokens, min_size=1, max_size=4).map("/".join)),
        formats=tuple(draw(st.lists(tokens, min_size=1, max_size=5))),
        port_count=draw(st.none() | st.integers(1, 4)),
        title=draw(st.none() | texts), connections=tuple(draw(st.lists(connections(),
                                                                         max_size=2))),
        bandwidths=tuple(draw(st.lists(st.builds(Bandwidth, tokens, st.integers(0, 10**6)),
                                       max_size=2))),
        attributes=tuple(draw(st.lists(known_attributes(), max_size=6))),
    )


@st.composite
def session_descriptions(draw):
    times = draw(st.lists(st.builds(
        TimeDescription, st.just(0) | st.integers(10**9, 10**10),
        st.just(0) | st.integers(10**9, 10**10),
        st.lists(st.just("7d 1h 0 25h"), max_size=1).map(tuple),
        st.none() | st.just("2882844526 -1h")), min_size=1, max_size=2))
    return SessionDescription(
        origin=Origin(draw(tokens), draw(st.integers(0, 2**63)), draw(st.integers(0, 2**63)),
                      draw(hosts)),
        session_name=draw(st.just("-") | st.just(" ") | texts),
        information=draw(st.none() | texts), uri=draw(st.none() | texts),
        emails=tuple(draw(st.lists(texts, max_size=2))),
        phones=tuple(draw(st.lists(texts, max_size=1))),
        connection=draw(st.none() | connections()),
        bandwidths=tuple(draw(st.lists(st.builds(Bandwidth, tokens, st.integers(0, 10**6)),
                                       max_size=2))),
        times=tuple(times), key=draw(st.none() | texts),
        attributes=tuple(draw(st.lists(known_attributes(), max_size=4))),
        media=tuple(draw(st.lists(media_descriptions(), max_size=3))),
    )


def touch(sdp):
    """Use every typed accessor: they must work on anything parse_sdp accepted."""
    for level in (sdp, *sdp.media):
        _ = (level.direction, level.fingerprints, level.setup, level.extmaps, level.groups,
             level.extmap_allow_mixed)
    for media in sdp.media:
        _ = (media.rtpmaps, media.fmtps, media.ptime, media.maxptime, media.rtcp_mux,
             media.rtcp, media.crypto, media.tls_id, media.ssrcs, media.cnames, media.mid,
             media.perc, [media.rtpmap(f) for f in media.formats], sdp.connection_for(media),
             sdp.direction_of(media), sdp.fingerprints_of(media), sdp.setup_of(media))
    return repr(sdp), sdp.redacted()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(session_descriptions())
def test_generated_descriptions_round_trip(sdp):
    text = str(sdp)
    parsed = parse_sdp(text)
    assert parsed == sdp
    assert str(parsed) == text
    touch(parsed)


# --- Fuzzing: mutated and truncated input raises SdpParseError and nothing else ----------------

ANSWERER = dict(
    address="127.0.0.1",
    capabilities=[MediaCapabilities("audio", (Codec("PCMU", 8000, payload_type=0),
                                              Codec("iLBC", 8000), Codec("opus", 48000, 2),
                                              Codec("telephone-event", 8000)),
                                    max_streams=2),
                  MediaCapabilities("video", (Codec("H261", 90000, payload_type=31),))],
    transports=lambda index, kind: TransportAddress("127.0.0.1", 20000 + 2 * index),
    security=MediaSecurityPolicy.bridge_anything(),
    dtls_identity=DtlsIdentity.of_certificate(b"certificate"),
)

MUTATION_BYTES = "\r\n :/=0123456789a-.;|^\x00\xff"


def mutate(rng, text):
    operation = rng.randrange(6)
    if not text:
        return text
    position = rng.randrange(len(text))
    if operation == 0:
        return text[:position]
    if operation == 1:
        return text[:position] + text[position + 1:]
    if operation == 2:
        return text[:position] + rng.choice(MUTATION_BYTES) + text[position:]
    if operation == 3:
        return text[:position] + rng.choice(MUTATION_BYTES) + text[position + 1:]
    lines = text.split("\r\n")
    index = rng.randrange(len(lines))
    if operation == 4:
        lines.insert(index, lines[rng.randrange(len(lines))])
    else:
        lines[index], lines[-1 - index] = lines[-1 - index], lines[index]
    return "\r\n".join(lines)


def fuzz(count, seed):
    rng = random.Random(seed)
    corpus = corpus_texts()
    parsed = 0
    for _ in range(count):
        text = rng.choice(corpus)
        for _ in range(rng.randrange(1, 4)):
            text = mutate(rng, text)
        try:
            sdp = parse_sdp(text.encode("utf-8", "surrogateescape") if rng.random() < 0.2
                            else text)
        except SdpParseError:
            continue
        parsed += 1
        touch(sdp)
        assert parse_sdp(str(sdp)) == sdp
        outcome = OfferAnswer(**ANSWERER).receive_offer(sdp)
        assert isinstance(outcome, Answer | OfferRefused)
    return parsed


def test_fuzzed_input_raises_only_sdp_parse_error():
    parsed = fuzz(4000, seed=4317)
    assert parsed > 400  # many mutations stay valid and go through the engine too


@pytest.mark.slow
def test_fuzzed_input_raises_only_sdp_parse_error_120k():
    assert fuzz(120_000, seed=8866) > 10_000


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_sdp_parse_error(data):
    with contextlib.suppress(SdpParseError):
        touch(parse_sdp(b"v=0\r\n" + data))
