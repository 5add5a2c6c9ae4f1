import json
import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipperc.dtls import Fingerprint
from sipperc.perc.key_distributor_state import (
    ConferenceState,
    KeyDistributorState,
    StateFile,
    StateFileError,
)

ALICE = Fingerprint.of(b"alice")
BOB = Fingerprint.of(b"bob")


def sample():
    return KeyDistributorState({
        "design-review": ConferenceState(4711, {4709: 1_700_000_000.5, 4710: 1_700_000_600.0},
                                         frozenset({ALICE, BOB})),
        "lobby": ConferenceState(0),
    })


def test_round_trip_through_the_file(tmp_path):
    file = StateFile(tmp_path / "kd.state")
    assert file.load() == KeyDistributorState()
    file.save(sample())
    assert file.load() == sample()


def test_file_is_private_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        file = StateFile(tmp_path / "kd.state")
        file.save(sample())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "kd.state").stat().st_mode) == 0o600


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    file = StateFile(tmp_path / "kd.state")
    file.save(sample())
    inode = (tmp_path / "kd.state").stat().st_ino
    file.save(KeyDistributorState({"lobby": ConferenceState(9)}))
    assert (tmp_path / "kd.state").stat().st_ino != inode  # renamed over, not rewritten
    assert [p.name for p in tmp_path.iterdir()] == ["kd.state"]
    assert file.load().conferences["lobby"].next_spi == 9


def test_contents_hold_only_spis_and_fingerprints():
    document = json.loads(sample().to_json())
    entry = document["conferences"]["design-review"]
    assert set(entry) == {"next_spi", "live_spis", "members"}
    assert entry["next_spi"] == 4711
    assert entry["live_spis"] == {"4709": 1_700_000_000.5, "4710": 1_700_000_600.0}
    assert entry["members"] == sorted([str(ALICE), str(BOB)])


def test_unwritable_directory_is_a_clear_error(tmp_path):
    file = StateFile(tmp_path / "missing" / "kd.state")
    with pytest.raises(StateFileError, match="cannot write in"):
        file.save(sample())


@pytest.mark.parametrize(("content", "problem"), [
    (b"{not json", "not JSON"),
    (b"[]", "not a sipperc Key Distributor state file"),
    (b'{"format": "sipperc-key-distributor-state", "version": 7}',
     "state format version 7 is not 1"),
    (b'{"format": "sipperc-key-distributor-state", "version": 1, "conferences": []}',
     "'conferences' must be an object"),
    (b'{"format": "sipperc-key-distributor-state", "version": 1, "conferences": '
     b'{"r": {"next_spi": 70000}}}', "conference 'r': next_spi 70000 is not a 16-bit SPI"),
    (b'{"format": "sipperc-key-distributor-state", "version": 1, "conferences": '
     b'{"r": {"next_spi": 1, "members": ["md5 00"]}}}',
     "conference 'r': unsupported fingerprint hash function 'md5'"),
    (b'{"format": "sipperc-key-distributor-state", "version": 1, "conferences": '
     b'{"r": {"next_spi": 1, "live_spis": {"x": 1}}}}', "conference 'r'"),
    (b'{"format": "sipperc-key-distributor-state", "version": 1, "conferences": '
     b'{"r": {}}}', "conference 'r'"),
])
def test_damaged_files_are_refused_with_a_reason(tmp_path, content, problem):
    path = tmp_path / "kd.state"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=f"kd.state: {problem}"):
        StateFile(path).load()


spis = st.integers(0, 0xFFFF)
states = st.builds(
    KeyDistributorState,
    st.dictionaries(
        st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
        st.builds(ConferenceState, spis,
                  st.dictionaries(spis, st.floats(0, 4e9, allow_nan=False), max_size=5),
                  st.frozensets(st.binary(min_size=1, max_size=8).map(Fingerprint.of),
                                max_size=4)),
        max_size=4))


@given(states)
def test_any_state_round_trips(state):
    assert KeyDistributorState.from_json(state.to_json()) == state


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=10)


@given(st.dictionaries(st.sampled_from(["next_spi", "live_spis", "members", "x"]), json_values))
def test_any_damaged_conference_entry_raises_only_our_error(entry):
    document = {"format": "sipperc-key-distributor-state", "version": 1,
                "conferences": {"r": entry}}
    try:
        state = KeyDistributorState.from_json(json.dumps(document).encode())
    except StateFileError as exc:
        assert "conference 'r'" in str(exc)
    else:
        assert state.conferences["r"].next_spi == entry["next_spi"]
