"""Reading YAML files the user hands us, with errors that name the file and what was wrong."""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["load_yaml_mapping"]


def load_yaml_mapping(path, what: str, expected: str = "a mapping", empty_ok: bool = False) -> dict:
    """Parse ``path`` as YAML holding a mapping.

    ``what`` names the file's role in messages ("camera file", "map YAML", ...); ``expected``
    says what the mapping should hold. Raises ``FileNotFoundError`` for a missing file and
    ``ValueError`` naming the file for invalid YAML or a non-mapping (an empty file is an empty
    mapping when ``empty_ok``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML ({exc})") from exc
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected {expected}")
    return data
