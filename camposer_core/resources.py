"""Locate camposer's installed share files (``config/``, ``launch/``, ``rviz/``) without ROS.

Search order: the ament index (``AMENT_PREFIX_PATH``, what ``ros2 launch`` uses), the running
interpreter's prefix (``pip install .`` puts data files under ``<prefix>/share/camposer``), then
the source checkout this module was imported from.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["share_dir", "share_file"]

PACKAGE = "camposer"


def _candidates() -> list[Path]:
    dirs = []
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / PACKAGE)
    dirs.append(Path(sys.prefix) / "share" / PACKAGE)
    dirs.append(Path(__file__).resolve().parents[1])  # source checkout: <repo>/config, ...
    return dirs


def share_dir() -> Path:
    """The first share directory that holds ``package.xml``."""
    for d in _candidates():
        if (d / "package.xml").is_file():
            return d
    raise FileNotFoundError(
        "camposer share files not found (looked in: " + ", ".join(str(d) for d in _candidates()) + "); "
        "install with `pip install .` or `colcon build`, or set AMENT_PREFIX_PATH"
    )


def share_file(relative: str) -> Path:
    """Path of an installed share file such as ``config/train_demo.yaml``."""
    for d in _candidates():
        p = d / relative
        if p.is_file():
            return p
    raise FileNotFoundError(f"camposer share file {relative!r} not found under {share_dir()}")
