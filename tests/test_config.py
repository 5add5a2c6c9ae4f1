import pytest

from sipperc.config import ConfigError, load_config, parse_config

ROOM = """\
conference:
  name: Board room
  ekt_ttl: 3600
  rekey_on_join: true
  participants:
    - alice
    - bob
"""


def test_values_are_typed_and_located():
    root = parse_config(ROOM, "room.yaml")
    conference = root.section("conference")
    assert conference.get_str("name") == "Board room"
    assert conference.get_int("ekt_ttl", minimum=1) == 3600
    assert conference.get_bool("rekey_on_join") is True
    assert [p.value for p in conference.get_list("participants")] == ["alice", "bob"]
    assert conference.get_float("missing", 2.5) == 2.5


def test_wrong_type_names_file_line_and_key():
    root = parse_config(ROOM.replace("3600", "soon"), "room.yaml")
    with pytest.raises(ConfigError) as info:
        root.section("conference").get_int("ekt_ttl", minimum=1)
    assert str(info.value) == (
        "room.yaml:3: conference.ekt_ttl: expected an integer >= 1, got 'soon'")


def test_out_of_range_and_choices():
    root = parse_config("ttl: 0\nmode: loud\n", "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml:1: ttl: expected an integer from 1 to 10"):
        root.get_int("ttl", minimum=1, maximum=10)
    with pytest.raises(ConfigError, match=r"x.yaml:2: mode: expected one of quiet, normal"):
        root.get_str("mode", choices=["quiet", "normal"])


def test_unknown_key_is_a_typo_error():
    root = parse_config("conference:\n  ekt_tll: 5\n", "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml:2: conference.ekt_tll: unknown setting"):
        root.section("conference", allowed=["ekt_ttl", "name"])


def test_missing_required_setting():
    root = parse_config("conference:\n  name: a\n", "x.yaml")
    with pytest.raises(ConfigError, match=r"conference.uri: required setting is missing"):
        root.section("conference").get_str("uri")


def test_duplicate_keys_are_refused():
    with pytest.raises(ConfigError, match=r"x.yaml:3: a: set twice \(first on line 1\)"):
        parse_config("a: 1\nb: 2\na: 3\n", "x.yaml")


def test_yaml_syntax_error_points_at_line():
    with pytest.raises(ConfigError, match=r"^x.yaml:2: not valid YAML"):
        parse_config("a: [1, 2\nb: 3\n", "x.yaml")


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "latin.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_empty_file_is_empty_mapping(tmp_path):
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    assert load_config(empty).entries() == {}
