"""The ``camposer`` command line.

Each feature module contributes its subcommands through a ``register(subparsers)`` function
listed in :data:`COMMAND_MODULES`; plugins (:mod:`camposer_core.plugins`, e.g. the ROS 2 side
with ``camposer bag eval``) then add theirs through ``register_commands(groups)``. ``register``
must stay cheap (no torch/pycolmap imports at module level) so that ``camposer --help`` answers
instantly; handlers import what they need. A handler is stored as ``func`` on its parser and
returns an exit code (``int``) or ``None``.

Output safety (:mod:`camposer_core.fsio`): when a command has an ``--out`` option, :func:`main`
checks the path can be an output (``output_kind`` default ``"folder"``; ``"file"`` for file
outputs) and holds its lock while the handler runs, so a second run on the same output refuses
at once. A command whose ``--out`` defaults to ``None`` gives ``default_out(args) -> Path``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__, plugins
from .errors import UserError

__all__ = ["UserError", "build_parser", "main"]

# Modules providing ``register(subparsers)``, in the order their commands appear in --help.
COMMAND_MODULES: list[str] = [
    "camposer_core.synthetic.cli",  # synth
    "camposer_core.dataset.cli",  # build-dataset, dataset info
    "camposer_core.localization.cli",  # map-index
    "camposer_core.walkable.cli",  # map from-trajectory|from-image|show
    "camposer_core.training.cli",  # train, export
    "camposer_core.evaluation.cli",  # evaluate
    "camposer_core.fusion.cli",  # fuse
    "camposer_core.bags.cli",  # bag write (bag eval: the ROS plugin)
    "camposer_core.demo",  # demo
    "camposer_core.web.cli",  # serve
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camposer",
        description=(
            "Camera localization in a known building: map it from a walkthrough video, "
            "learn to localize, and run it on a ROS 2 robot."
        ),
    )
    parser.add_argument("--version", action="version", version=f"camposer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    groups = {"": sub} | {name: _subcommands(p) for name, p in sub.choices.items() if _subcommands(p)}
    for plugin in plugins.load_plugins():
        if hasattr(plugin, "register_commands"):
            plugin.register_commands(groups)
    return parser


def _subcommands(parser: argparse.ArgumentParser):
    """The sub-parsers action of a command group (``camposer bag ...``), else ``None``."""
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        code = _run_locked(func, args)
    except (
        UserError,
        FileNotFoundError,
        FileExistsError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
        ValueError,
    ) as exc:
        sub = [getattr(args, k) for k in ("bag_command", "map_command", "dataset_command") if getattr(args, k, None)]
        print(f"camposer {' '.join([args.command, *sub])}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def _run_locked(func, args):
    """Run ``func(args)`` holding the lock of the command's output (see module docstring)."""
    from .fsio import check_output_target, output_lock, remove_temp_files

    out = getattr(args, "out", None)
    if out is None and getattr(args, "default_out", None) is not None:
        out = args.default_out(args)
    if out is None or getattr(args, "output_kind", "folder") == "none":
        return func(args)
    check_output_target(out, "--out", getattr(args, "output_kind", "folder"))
    with output_lock(out):
        remove_temp_files(out)
        return func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
