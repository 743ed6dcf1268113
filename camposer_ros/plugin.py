"""The ROS 2 plugin of the ``camposer`` command (entry point group ``camposer.plugins``, see
:mod:`camposer_core.plugins`): ``camposer bag eval`` and the demo's replay stage.

Registering is cheap and needs no rclpy (``camposer --help`` works without ROS); the handlers
import :mod:`camposer_ros.bag_eval` (rclpy, messages) when they run and report a missing ROS
install as a :class:`~camposer_core.errors.UserError`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from camposer_core.errors import UserError

__all__ = ["register_commands", "load_split_replay"]


def register_commands(groups: dict) -> None:
    """Add ``eval`` to the ``camposer bag`` group."""
    sub = groups["bag"]
    e = sub.add_parser(
        "eval",
        help="replay a bag through the running localizer node and report errors and latency",
        description="Start the localizer node, replay the bag's images over real ROS topics, record "
        "the published poses, match them to the bag's ground truth by stamp and report raw and "
        "snapped errors, latency (image publish -> pose receipt) and dropped frames.",
        epilog="With a ROS 2 install, the standard player works too: run `camposer bag eval BAG --model CKPT "
        "--external-player` and, once it says it is waiting, `ros2 bag play BAG --topics /camera/image_raw` "
        "(or `ros2 launch camposer bag_eval.launch.py bag:=BAG model:=CKPT`).",
    )
    e.add_argument(
        "bag", type=Path, help="bag folder written by `camposer bag write` (or any bag with the same topics)"
    )
    e.add_argument("--model", type=Path, required=True, help="model checkpoint for the localizer node")
    e.add_argument("--rate", type=float, default=1.0, help="replay speed factor (default 1.0 = real time)")
    e.add_argument(
        "--map",
        type=lambda v: Path(v) if v else None,
        default=None,
        help="walkable map YAML: the node snaps to it and the report shows snapped errors (default: no snapping)",
    )
    e.add_argument("--out", type=Path, default=None, help="report folder (default: BAG_eval next to the bag)")
    e.add_argument("--compressed", action="store_true", help="replay the CompressedImage topic instead of raw images")
    e.add_argument("--device", default="cpu", help="inference device for the node (default cpu)")
    e.add_argument(
        "--external-player",
        action="store_true",
        help="do not replay: wait for `ros2 bag play BAG` (started by you) and record",
    )
    e.add_argument("--no-start-node", action="store_true", help="use an already running localizer node")
    e.add_argument(
        "--localization-map",
        type=Path,
        default=None,
        help="refine in the node by PnP against this map (a dataset folder or localization_map.npz; "
        "it must not hold the bag's frames for an honest result)",
    )
    e.add_argument(
        "--relative",
        type=Path,
        default=None,
        metavar="CKPT",
        help="relative regressor for the node (its relative_model parameter): corrects the model's poses "
        "against the training images near them",
    )
    e.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the node / the player")
    e.add_argument("--force", action="store_true", help="write into an existing report folder")
    e.add_argument(
        "--no-fuse",
        action="store_true",
        help="do not run the fusion node even when the bag has /odom (default: fuse and report fused poses too)",
    )
    e.set_defaults(func=_eval, default_out=lambda a: a.bag.with_name(a.bag.name + "_eval"))  # locked by the CLI


def load_split_replay():
    """The demo's replay stage: :func:`camposer_ros.bag_eval.evaluate_split_through_nodes`
    (write a split as a bag, replay it through the localizer node, report). Raises
    ``ImportError`` when ROS 2 (rclpy and the message packages) is not importable."""
    from .bag_eval import evaluate_split_through_nodes

    return evaluate_split_through_nodes


def _eval(args: argparse.Namespace) -> int:
    if not args.rate > 0:
        raise UserError(f"--rate must be positive (1.0 = real time), got {args.rate}")
    if not args.timeout > 0:
        raise UserError(f"--timeout must be positive (seconds), got {args.timeout}")
    try:  # the one guarded import of the ROS side: rclpy may be missing
        from .bag_eval import BagEvalConfig, run_bag_eval
    except ImportError as exc:
        raise UserError(f"bag eval needs ROS 2 Python packages (rclpy and messages): {exc}") from exc
    config = BagEvalConfig(
        bag=args.bag,
        model=args.model,
        rate=args.rate,
        walkable_map=args.map,
        out=args.out if args.out is not None else args.bag.with_name(args.bag.name + "_eval"),
        compressed=args.compressed,
        device=args.device,
        play=not args.external_player,
        start_node=not args.no_start_node,
        timeout_s=args.timeout,
        force=args.force,
        localization_map=args.localization_map,
        fuse=not args.no_fuse,
        relative_model=args.relative,
    )
    try:
        result = run_bag_eval(config)
    except (FileExistsError, TimeoutError, RuntimeError) as exc:
        raise UserError(str(exc)) from exc
    print(result)
    return 0
