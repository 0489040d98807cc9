"""Parsing a configuration file: PyYAML's safe loader, strict about repeated keys.

Imported only when a configuration is not in the cache (:mod:`docker_pkg.config.settings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from docker_pkg.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (it
    would silently keep the last value)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable: the base class reports it
            if first is not None:
                problem = f"duplicate key {key!r} (first on line {first})"
                raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_mapping(text: str, path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping in ``text`` (read from ``path``) and the 1-based line of each key."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", path=path, line=line) from None
    except (ValueError, RecursionError) as exc:  # e.g. a date like 2026-13-45
        raise ConfigError(f"invalid YAML value: {exc}", path=path) from None
    finally:
        loader.dispose()
    if data is None:
        return {}, {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError("the configuration must be a YAML mapping of keys", path=path, line=1)
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    return {str(k): v for k, v in data.items()}, lines
