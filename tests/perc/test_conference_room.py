"""The focus's room: admission rules (lock, size, PIN) and members through the table."""

from __future__ import annotations

import pytest

from sipperc.perc.conference_info import DocumentState
from sipperc.perc.conference_room import (
    TRANSITIONS,
    ConferenceRoom,
    MemberInput,
    MemberState,
    Refusal,
    RoomSettings,
    RoomStateError,
)


def room(**changes):
    values = {"room": "design-review", "name": "Design review",
              "media_distributor": ("192.0.2.5", 40000)}
    values.update(changes)
    return ConferenceRoom.open(RoomSettings(**values), "conf.example.com")


def test_an_open_room_lets_anyone_in_and_says_who_is_there():
    r = room()
    assert r.entity == "sip:design-review@conf.example.com"
    assert r.admission("sip:alice@example.com", None, 0.0) is None
    r.add("alice.1", "sip:alice@EXAMPLE.com;transport=udp", "Alice", 0.0)
    assert r.roster().users == ()  # not connected before the Key Distributor accepted
    assert r.step("alice.1", MemberInput.ACCEPTED) is MemberState.CONNECTED
    roster = r.roster()
    assert [u.entity for u in roster.users] == ["sip:alice@example.com"]
    assert roster.user_count == 1 and roster.display_text == "Design review"
    assert roster.users[0].display_text == "Alice"
    assert [e.joining_method for e in roster.users[0].endpoints] == ["dialed-in"]


def test_a_locked_room_refuses_newcomers_and_unlocking_lets_them_in():
    r = room(locked=True)
    assert r.admission("sip:bob@example.com", None, 0.0) == Refusal(403, "Conference Locked")
    r.locked = False
    assert r.admission("sip:bob@example.com", None, 0.0) is None


def test_a_full_room_refuses_with_486_and_the_limit():
    r = room(max_participants=2)
    for n, who in enumerate(("a", "b")):
        r.add(f"{who}.{n}", f"sip:{who}@example.com", None, 0.0)
    refusal = r.admission("sip:c@example.com", None, 0.0)
    assert refusal == Refusal(486, "Conference Full (2 Participants)")
    r.step("a.0", MemberInput.ENDED)
    assert r.admission("sip:c@example.com", None, 0.0) is None


def test_pins_are_checked_and_guessing_is_shut_out():
    r = room(pin="0815", pin_attempts=3, pin_lockout=60.0)
    assert r.admission("sip:eve@example.com", None, 0.0) == Refusal(403, "PIN Required")
    assert r.admission("sip:eve@example.com", "1111", 1.0) == Refusal(403, "Wrong PIN")
    assert r.admission("sip:eve@example.com", "2222", 2.0) == Refusal(403, "Wrong PIN")
    assert r.admission("sip:eve@example.com", "3333", 3.0) == \
        Refusal(403, "Too Many Wrong PINs")
    # Shut out even with the right PIN, until the lock-out is over; others are not.
    assert r.admission("sip:eve@example.com", "0815", 30.0) == \
        Refusal(403, "Too Many Wrong PINs")
    assert r.admission("sip:alice@example.com", "0815", 30.0) is None
    assert r.admission("sip:eve@example.com", "0815", 64.0) is None
    # A dial-out needs no PIN.
    assert r.admission("sip:bob@example.com", None, 65.0, dial_out=True) is None


def test_moderators_are_compared_as_identities():
    r = room(moderators=("sip:Alice@Example.COM",))
    assert r.is_moderator("sip:Alice@example.com;transport=tcp")
    assert not r.is_moderator("sip:alice@example.com")  # the user part is case-sensitive
    assert not r.is_moderator("sip:mallory@example.com")


@pytest.mark.parametrize(("state", "event"), list(TRANSITIONS))
def test_every_state_and_input(state, event):
    r = room()
    member = r.add("m.1", "sip:m@example.com", None, 0.0, dialled_out=state is
                   MemberState.DIALLING)
    if state is MemberState.CONNECTED:
        r.step("m.1", MemberInput.ACCEPTED)
    elif state is MemberState.GONE:
        r.step("m.1", MemberInput.ENDED)
    following = TRANSITIONS[(state, event)]
    if state is MemberState.GONE:
        with pytest.raises(RoomStateError, match="no member"):
            r.step("m.1", event)
    elif following is None:
        with pytest.raises(RoomStateError, match="cannot happen"):
            r.step("m.1", event)
        assert member.state is state
    else:
        assert r.step("m.1", event) is following
        assert ("m.1" in r.members) is (following is not MemberState.GONE)


def test_a_dial_out_connects_when_answered_and_shows_how_it_joined():
    r = room()
    r.add("bob.2", "sip:bob@example.com", None, 0.0, dialled_out=True)
    assert r.step("bob.2", MemberInput.ANSWERED) is MemberState.CONNECTED
    assert r.roster().users[0].endpoints[0].joining_method == "dialed-out"


def test_settings_are_checked():
    with pytest.raises(ValueError, match="PIN"):
        RoomSettings("r", "R", ("h", 1), pin="12")
    with pytest.raises(ValueError, match="max_participants"):
        RoomSettings("r", "R", ("h", 1), max_participants=0)
    assert "0815" not in repr(RoomSettings("r", "R", ("h", 1), pin="0815"))


def test_one_user_on_two_devices_is_one_user_with_two_endpoints():
    r = room()
    for participant in ("alice.1", "alice.2"):
        r.add(participant, "sip:alice@example.com", "Alice", 0.0)
        r.step(participant, MemberInput.ACCEPTED)
    roster = r.roster()
    assert roster.user_count == 1
    assert [e.entity for e in roster.users[0].endpoints] == [
        "sip:alice@example.com;participant=alice.1", "sip:alice@example.com;participant=alice.2"]
    # The phone leaves: only that endpoint is deleted; the last one leaving deletes the user.
    first, second = r.members["alice.1"], r.members["alice.2"]
    change = r.user_change(second, left=True)
    assert change.state is DocumentState.PARTIAL
    assert [(e.entity, e.state) for e in change.endpoints] == [
        ("sip:alice@example.com;participant=alice.2", DocumentState.DELETED)]
    r.step("alice.2", MemberInput.ENDED)
    assert r.user_change(first, left=True).state is DocumentState.DELETED
    first.muted = True
    muted = r.user_change(first)
    assert muted.muted and muted.endpoints[0].media_status == "recvonly"


def test_who_may_add_participants():
    open_room = room()
    assert open_room.referral("sip:anyone@example.com") is None
    moderated = room(moderators=("sip:mod@example.com",), pin="0815")
    assert moderated.referral("sip:mod@EXAMPLE.com") is None
    moderated.add("bob.1", "sip:bob@example.com", None, 0.0)
    assert moderated.referral("sip:bob@example.com") == \
        Refusal(403, "Only A Moderator May Add Participants")
    pinned = room(pin="0815")
    assert pinned.referral("sip:eve@example.com") == \
        Refusal(403, "Only A Participant May Add Participants")
    pinned.add("eve.1", "sip:eve@example.com", None, 0.0)
    assert pinned.referral("sip:eve@example.com;transport=tcp") is None
    pinned.step("eve.1", MemberInput.ENDED)
    assert pinned.referral("sip:eve@example.com") is not None  # gone: a stranger again
