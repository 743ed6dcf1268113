"""``camposer bag write``. (``camposer bag eval`` runs the ROS 2 nodes: it is added to this
group by the ROS plugin, see :mod:`camposer_core.plugins`.)"""

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
    w.add_argument(
        "--odometry",
        type=Path,
        default=None,
        help="odometry.csv (odom_from_base, e.g. from `camposer synth`): also write nav_msgs/Odometry on /odom",
    )
    w.add_argument(
        "--extrinsics",
        type=Path,
        default=None,
        help="extrinsics.yaml (base_from_camera): also write base_link -> camera_optical_frame on /tf_static",
    )
    w.set_defaults(func=_write)


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
            odometry=args.odometry,
            extrinsics=args.extrinsics,
        )
    except FileExistsError as exc:
        raise UserError(str(exc)) from exc
    print(result)
    return 0
