"""Reading YAML files the user hands us, with errors that name the file and what was wrong."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import yaml

__all__ = ["load_yaml_mapping"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (plain YAML keeps the
    last one silently, so a pasted block can override a setting unseen)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            continue  # construct_mapping below refuses it with its own message
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"key {key!r} given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_yaml_mapping(path, what: str, expected: str = "a mapping", empty_ok: bool = False) -> dict:
    """Parse ``path`` as YAML holding a mapping.

    ``what`` names the file's role in messages ("camera file", "map YAML", ...); ``expected``
    says what the mapping should hold. Raises ``FileNotFoundError`` for a missing file and
    ``ValueError`` naming the file for invalid YAML (a key given twice in one mapping included)
    or a non-mapping (an empty file is an empty mapping when ``empty_ok``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML ({exc})") from exc
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected {expected}")
    return data
