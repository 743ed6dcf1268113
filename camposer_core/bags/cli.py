"""``camposer bag write`` and ``camposer bag eval``.

``bag eval`` runs the ROS 2 nodes: its handler imports :mod:`camposer_ros` lazily so that
``camposer --help`` works without ROS.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    bag = subparsers.add_parser("bag", help="write a rosbag2 from a dataset split; replay a bag through the nodes")
    sub = bag.add_subparsers(dest="bag_command", metavar="BAG_COMMAND")
    bag.set_defaults(func=lambda args: bag.print_help() or 2)

    w = sub.add_parser(
        "write",
        help="write a dataset split as a rosbag2 (images, camera info, ground truth)",
        description="Write one split of a dataset folder as a rosbag2 (mcap or sqlite3): images "
        "(rgb8 and/or JPEG), camera info and ground-truth poses at the original timestamps.",
    )
    w.add_argument("dataset", type=Path, help="dataset folder")
    w.add_argument("--split", default="test", help="split to write (default: test)")
    w.add_argument("--out", type=Path, required=True, help="bag folder to create")
    w.add_argument("--format", choices=("mcap", "sqlite3"), default="mcap", help="storage plugin (default mcap)")
    w.add_argument("--compressed", action="store_true", help="also write JPEG CompressedImage messages")
    w.add_argument("--no-raw", action="store_true", help="do not write raw Image messages (needs --compressed)")
    w.add_argument("--max-frames", type=int, default=None, help="keep only the first N frames")
    w.add_argument("--force", action="store_true", help="replace an existing bag folder")
    w.set_defaults(func=_write)

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
    e.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the node / the player")
    e.add_argument("--force", action="store_true", help="write into an existing report folder")
    e.set_defaults(func=_eval)


def _write(args: argparse.Namespace) -> int:
    from .writer import write_dataset_bag

    if args.no_raw and not args.compressed:
        raise ValueError("--no-raw needs --compressed (a bag needs at least one image topic)")
    from ..errors import UserError

    try:
        result = write_dataset_bag(
            args.dataset,
            args.out,
            split=args.split,
            storage=args.format,
            raw=not args.no_raw,
            compressed=args.compressed,
            max_frames=args.max_frames,
            force=args.force,
        )
    except FileExistsError as exc:
        raise UserError(str(exc)) from exc
    print(result)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from ..errors import UserError

    try:
        from camposer_ros.bag_eval import BagEvalConfig, run_bag_eval
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
    )
    try:
        result = run_bag_eval(config)
    except (FileExistsError, TimeoutError, RuntimeError) as exc:
        raise UserError(str(exc)) from exc
    print(result)
    return 0
