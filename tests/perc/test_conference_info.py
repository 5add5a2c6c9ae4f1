"""RFC 4575 documents: writing, reading, and the subscriber's merge in version order."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.perc.conference_info import (
    NAMESPACE,
    TALKING_NAMESPACE,
    ConferenceEndpoint,
    ConferenceInfo,
    ConferenceInfoError,
    ConferenceRoster,
    ConferenceUser,
    DocumentState,
    RosterOutcome,
    parse_conference_info,
    render_conference_info,
)

ALICE = ConferenceUser("sip:alice@example.com", "Alice", (ConferenceEndpoint(
    "sip:alice@example.com;participant=1", joining_method="dialed-in", media_status="sendrecv"),
    ConferenceEndpoint("sip:alice@example.com;participant=4", joining_method="dialed-in",
                       media_status="recvonly", display_text="Alice's phone")))
BOB = ConferenceUser("sip:bob@example.com", "Bob", (ConferenceEndpoint(
    "sip:bob@example.com;participant=2", joining_method="dialed-out", media_status="recvonly"),))
FULL = ConferenceInfo("sip:design-review@conf.example.com", 1, display_text="Design review",
                      maximum_user_count=25, user_count=2, locked=False, users=(ALICE, BOB))

# RFC 4575 §6.1 (abridged): a document another focus wrote, with elements we do not use.
RFC_EXAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
    entity="sips:conf233@example.com" state="full" version="1">
  <conference-description>
    <display-text>Agenda: This month's goals</display-text>
    <subject>The goals for the new quarter</subject>
    <conf-uris><entry><uri>tel:+3585671234</uri></entry></conf-uris>
  </conference-description>
  <host-info><display-text>Acme Inc.</display-text></host-info>
  <conference-state><user-count>33</user-count></conference-state>
  <users>
    <user entity="sip:bob@example.com" state="full">
      <display-text>Bob Hoskins</display-text>
      <associated-aors><entry><uri>mailto:bob@example.com</uri></entry></associated-aors>
      <roles><entry>participant</entry></roles>
      <endpoint entity="sip:bob@pc33.example.com">
        <display-text>Bob's Laptop</display-text>
        <status>disconnected</status>
        <disconnection-method>departed</disconnection-method>
        <media id="1"><type>video</type><label>10235</label><src-id>432424</src-id></media>
      </endpoint>
    </user>
  </users>
</conference-info>"""


def test_a_document_round_trips():
    parsed = parse_conference_info(render_conference_info(FULL))
    assert parsed == FULL
    assert parsed.user("sip:bob@example.com").muted
    assert not parsed.user("sip:alice@example.com").muted


def test_the_xml_is_in_the_rfc_4575_namespace_with_version_and_state():
    text = render_conference_info(FULL).decode()
    assert text.startswith("<?xml")
    assert f'xmlns="{NAMESPACE}"' in text
    assert 'state="full"' in text and 'version="1"' in text
    assert "<user-count>2</user-count>" in text and "<locked>false</locked>" in text


def test_talking_is_an_extension_element_in_the_endpoints_media():
    talker = ConferenceUser(BOB.entity, "Bob", (ConferenceEndpoint(
        BOB.endpoints[0].entity, media_status="sendrecv", talking=True),), DocumentState.PARTIAL)
    change = ConferenceInfo(FULL.entity, 2, DocumentState.PARTIAL, users=(talker,))
    text = render_conference_info(change).decode()
    assert f'<talking xmlns="{TALKING_NAMESPACE}">true</talking></media>' in text
    roster = ConferenceRoster()
    roster.apply(FULL)
    assert not roster.state.user(BOB.entity).talking
    assert roster.apply(parse_conference_info(text.encode())) is RosterOutcome.APPLIED
    assert roster.state.user(BOB.entity).talking
    assert not roster.state.user(ALICE.entity).talking
    # Not talking is no element at all: a reader that does not know it sees plain RFC 4575.
    assert "talking" not in render_conference_info(FULL).decode()
    # The same element in RFC 4575's own namespace is not ours: ignored.
    foreign = text.replace(TALKING_NAMESPACE, NAMESPACE).encode()
    assert not parse_conference_info(foreign).users[0].talking


def test_the_rfc_example_is_read():
    info = parse_conference_info(RFC_EXAMPLE)
    assert (info.entity, info.version, info.state) == ("sips:conf233@example.com", 1,
                                                       DocumentState.FULL)
    assert info.display_text == "Agenda: This month's goals" and info.user_count == 33
    bob = info.user("sip:bob@example.com")
    assert bob.display_text == "Bob Hoskins"
    assert [(e.entity, e.status, e.display_text) for e in bob.endpoints] == [
        ("sip:bob@pc33.example.com", "disconnected", "Bob's Laptop")]


@pytest.mark.parametrize(("document", "problem"), [
    (b"<conference-info", "not well-formed"),
    (b"<x xmlns='urn:ietf:params:xml:ns:conference-info'/>", "root element"),
    (b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' version='1'/>",
     "no entity"),
    (b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:a@b'/>",
     "no version"),
    (b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:a@b' "
     b"version='x'/>", "not an unsigned integer"),
    (b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:a@b' "
     b"version='1' state='sometimes'/>", "state 'sometimes'"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><conference-info/>',
     "DOCTYPE"),
    (b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:a@b' "
     b"version='1'><users><user entity='sip:u@b'><endpoint entity='sip:u@b'><media id='1'>"
     b"<talking xmlns='" + TALKING_NAMESPACE.encode() + b"'>loudly</talking></media>"
     b"</endpoint></user></users></conference-info>", "talking is 'loudly'"),
])
def test_bad_documents_are_refused_naming_the_problem(document, problem):
    with pytest.raises(ConferenceInfoError, match=problem):
        parse_conference_info(document)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_another_error(data):
    with contextlib.suppress(ConferenceInfoError):
        parse_conference_info(data)


def test_partial_documents_merge_in_version_order():
    roster = ConferenceRoster()
    assert roster.apply(FULL) is RosterOutcome.APPLIED
    carol = ConferenceUser("sip:carol@example.com", "Carol", (
        ConferenceEndpoint("sip:carol@example.com;participant=3"),), DocumentState.PARTIAL)
    joined = ConferenceInfo(FULL.entity, 2, DocumentState.PARTIAL, user_count=3, users=(carol,))
    assert roster.apply(parse_conference_info(render_conference_info(joined))) \
        is RosterOutcome.APPLIED
    assert roster.entities == {ALICE.entity, BOB.entity, carol.entity}
    assert roster.state.user_count == 3 and roster.state.display_text == "Design review"
    left = ConferenceInfo(FULL.entity, 3, DocumentState.PARTIAL, user_count=2,
                          users=(ConferenceUser(BOB.entity, state=DocumentState.DELETED),))
    assert roster.apply(left) is RosterOutcome.APPLIED
    assert roster.entities == {ALICE.entity, carol.entity}
    # Alice's phone leaves; her laptop stays, unmuted: she is not muted any more.
    assert roster.state.user(ALICE.entity).muted is False
    phone_left = ConferenceInfo(FULL.entity, 4, DocumentState.PARTIAL, users=(ConferenceUser(
        ALICE.entity, endpoints=(ConferenceEndpoint(ALICE.endpoints[1].entity,
                                                    state=DocumentState.DELETED),),
        state=DocumentState.PARTIAL),))
    assert roster.apply(parse_conference_info(render_conference_info(phone_left))) \
        is RosterOutcome.APPLIED
    alice = roster.state.user(ALICE.entity)
    assert [e.entity for e in alice.endpoints] == [ALICE.endpoints[0].entity]
    assert alice.display_text == "Alice"
    left = phone_left
    # A repeated or late document is ignored; one after a lost one is a gap (§4.6).
    assert roster.apply(left) is RosterOutcome.STALE
    assert roster.apply(joined) is RosterOutcome.STALE
    gap = ConferenceInfo(FULL.entity, 6, DocumentState.PARTIAL, locked=True)
    assert roster.apply(gap) is RosterOutcome.GAP
    assert roster.state.version == 4 and roster.state.locked is False
    # A full document repairs it.
    assert roster.apply(ConferenceInfo(FULL.entity, 7, users=(ALICE,))) is RosterOutcome.APPLIED
    assert roster.entities == {ALICE.entity}


def test_a_partial_before_any_full_document_is_a_gap():
    assert ConferenceRoster().apply(ConferenceInfo("sip:r@h", 1, DocumentState.PARTIAL)) \
        is RosterOutcome.GAP


def test_a_document_without_version_cannot_be_written():
    with pytest.raises(ValueError, match="version"):
        render_conference_info(ConferenceInfo("sip:r@h"))
