"""Optional plugins: packages that add what the plain core cannot do itself (e.g. ROS 2).

A plugin is a module named by an entry point in the group :data:`GROUP` (``setup.py``
``entry_points``). It may define

* ``register_commands(groups)``: add subcommands; ``groups`` maps a command path (``""`` for
  the top level, ``"bag"`` for ``camposer bag ...``) to its argparse sub-parsers action;
* any hook a core stage looks up with :func:`hook` (e.g. the demo's ``load_split_replay``).

The core never imports a plugin by name: it only iterates the entry points, so
``camposer_core`` stays below the packages that extend it. A plugin that fails to import is
skipped and its reason kept (:func:`unavailable`), so ``camposer --help`` works everywhere.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType

__all__ = ["GROUP", "load_plugins", "unavailable", "hook"]

log = logging.getLogger(__name__)

GROUP = "camposer.plugins"

_failed: dict[str, str] = {}


@cache
def load_plugins() -> tuple[ModuleType, ...]:
    """The importable plugin modules, in entry-point name order (loaded once per process)."""
    modules = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            modules.append(ep.load())
        except ImportError as exc:
            _failed[ep.name] = f"{ep.value}: {exc}"
            log.debug("camposer plugin %s not loaded: %s", ep.name, exc)
    return tuple(modules)


def unavailable() -> dict[str, str]:
    """Plugin name → why it could not be imported."""
    load_plugins()
    return dict(_failed)


def hook(name: str):
    """The attribute ``name`` of the first plugin that defines it, else ``None``."""
    for module in load_plugins():
        if hasattr(module, name):
            return getattr(module, name)
    return None
