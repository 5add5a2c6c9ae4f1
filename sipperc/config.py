"""YAML configuration whose errors point at the file, line and key.

Every sipperc server and tool reads its settings through :func:`load_config`. The YAML is kept as
a tree of :class:`ConfigNode` objects that remember where each value came from, so a bad value is
reported as ``configs/room.yaml:12: conference.ekt_ttl: expected an integer >= 1, got 'soon'``
instead of a traceback far from the cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A configuration problem, located by file, line and dotted key."""

    def __init__(self, source: str, line: int | None, key: str, problem: str) -> None:
        self.source = source
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class ConfigNode:
    """One YAML value and where it was written.

    ``value`` is a plain Python scalar, a ``dict[str, ConfigNode]`` for a mapping or a
    ``list[ConfigNode]`` for a sequence.
    """

    value: Any
    source: str
    line: int
    key: str

    def error(self, problem: str) -> ConfigError:
        """An error about this value, to raise."""
        return ConfigError(self.source, self.line, self.key, problem)

    # -- mappings -----------------------------------------------------------------------------

    def entries(self, allowed: Iterable[str] | None = None) -> dict[str, ConfigNode]:
        """This node as a mapping; with ``allowed``, any other key is an error (catches typos)."""
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, got {_describe(self.value)}")
        if allowed is not None:
            known = set(allowed)
            for name, child in self.value.items():
                if name not in known:
                    choices = ", ".join(sorted(known))
                    raise child.error(f"unknown setting (expected one of: {choices})")
        return dict(self.value)

    def child(self, name: str) -> ConfigNode | None:
        """The value under ``name`` in this mapping, or None when it is not set."""
        entries = self.entries()
        return entries.get(name)

    def require(self, name: str) -> ConfigNode:
        """The value under ``name``; an error naming the key when it is absent."""
        found = self.child(name)
        if found is None:
            path = f"{self.key}.{name}" if self.key else name
            raise ConfigError(self.source, self.line, path, "required setting is missing")
        return found

    def section(self, name: str, allowed: Iterable[str] | None = None) -> ConfigNode:
        """A nested mapping, or an empty one at this node's line when it is absent."""
        found = self.child(name)
        if found is None:
            path = f"{self.key}.{name}" if self.key else name
            return ConfigNode({}, self.source, self.line, path)
        found.entries(allowed)
        return found

    # -- typed scalars ------------------------------------------------------------------------

    def get_str(self, name: str, default: str = _MISSING, *,
                choices: Iterable[str] | None = None) -> str:
        """A string setting, optionally restricted to ``choices``."""
        node = self._scalar(name, default)
        if node is None:
            return default
        if not isinstance(node.value, str):
            raise node.error(f"expected a string, got {_describe(node.value)}")
        if choices is not None:
            options = list(choices)
            if node.value not in options:
                raise node.error(f"expected one of {', '.join(options)}, got {node.value!r}")
        return node.value

    def get_int(self, name: str, default: int = _MISSING, *,
                minimum: int | None = None, maximum: int | None = None) -> int:
        """An integer setting within optional bounds."""
        node = self._scalar(name, default)
        if node is None:
            return default
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int):
            raise node.error(f"expected an integer{_bounds(minimum, maximum)}, got {value!r}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise node.error(f"expected an integer{_bounds(minimum, maximum)}, got {value!r}")
        return value

    def get_float(self, name: str, default: float = _MISSING, *,
                  minimum: float | None = None, maximum: float | None = None) -> float:
        """A number setting (integers accepted) within optional bounds."""
        node = self._scalar(name, default)
        if node is None:
            return default
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise node.error(f"expected a number{_bounds(minimum, maximum)}, got {value!r}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise node.error(f"expected a number{_bounds(minimum, maximum)}, got {value!r}")
        return float(value)

    def get_bool(self, name: str, default: bool = _MISSING) -> bool:
        """A true/false setting."""
        node = self._scalar(name, default)
        if node is None:
            return default
        if not isinstance(node.value, bool):
            raise node.error(f"expected true or false, got {node.value!r}")
        return node.value

    def get_list(self, name: str) -> list[ConfigNode]:
        """A sequence setting; absent means empty."""
        node = self.child(name)
        if node is None:
            return []
        if not isinstance(node.value, list):
            raise node.error(f"expected a list, got {_describe(node.value)}")
        return list(node.value)

    def items(self) -> Iterator[ConfigNode]:
        """The elements of this sequence."""
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, got {_describe(self.value)}")
        return iter(self.value)

    def _scalar(self, name: str, default: object) -> ConfigNode | None:
        node = self.child(name)
        if node is None:
            if default is _MISSING:
                self.require(name)
            return None
        if isinstance(node.value, dict | list):
            raise node.error(f"expected a single value, got {_describe(node.value)}")
        return node


def _describe(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def parse_config(text: str, source: str = "<config>") -> ConfigNode:
    """Parse YAML text into a located tree. An empty document is an empty mapping."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return ConfigNode({}, source, 1, "")
        return _convert(loader, root, source, "")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, line, "", f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, None, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def load_config(path: str | Path) -> ConfigNode:
    """Read and parse a YAML configuration file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, None, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(source, None, "", "not UTF-8 text") from None
    return parse_config(text, source)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, source: str, key: str) -> ConfigNode:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        entries: dict[str, ConfigNode] = {}
        for key_node, value_node in node.value:
            name = loader.construct_object(key_node, deep=True)
            if not isinstance(name, str):
                raise ConfigError(source, key_node.start_mark.line + 1, key,
                                  f"setting names must be strings, got {name!r}")
            path = f"{key}.{name}" if key else name
            if name in entries:
                raise ConfigError(source, key_node.start_mark.line + 1, path,
                                  f"set twice (first on line {entries[name].line})")
            entries[name] = _convert(loader, value_node, source, path)
        return ConfigNode(entries, source, line, key)
    if isinstance(node, yaml.SequenceNode):
        items = [_convert(loader, item, source, f"{key}[{index}]")
                 for index, item in enumerate(node.value)]
        return ConfigNode(items, source, line, key)
    return ConfigNode(loader.construct_object(node, deep=True), source, line, key)
