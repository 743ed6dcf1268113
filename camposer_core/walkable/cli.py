"""``camposer map from-trajectory | from-image | show``: make and look at walkable maps."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# Largest control-point misfit (m) accepted by `map from-image` without --accept-residual.
MAX_RESIDUAL_M = 1.0


def register(subparsers) -> None:
    p = subparsers.add_parser("map", help="make and show walkable maps (nav2 map_server format)")
    sub = p.add_subparsers(dest="map_command", metavar="MAP_COMMAND", required=True)

    t = sub.add_parser(
        "from-trajectory",
        help="walkable map from a dataset's camera path (and its SfM points when present)",
        description="Cells within --radius of the camera path are walkable; with the dataset's "
        "points3D.ply, floor points add walkable cells and points 0.1-2 m above the floor occupied ones.",
    )
    t.add_argument("dataset", type=Path, help="dataset folder")
    t.add_argument("--radius", type=float, default=0.5, help="corridor half-width around the path, m (0.5)")
    t.add_argument("--resolution", type=float, default=0.05, help="cell size, m (0.05)")
    t.add_argument("--padding", type=float, default=1.0, help="margin around the data, m (1.0)")
    t.add_argument("--split", default="all", help="which poses to use: all|train|val|test (all)")
    t.add_argument("--no-points", action="store_true", help="ignore points3D.ply")
    t.add_argument(
        "--camera-height",
        type=float,
        default=None,
        help="camera height above the floor, m: floor z = median camera z - this (default: floor at z = 0)",
    )
    t.add_argument("--out", type=Path, default=None, help="map YAML to write (DATASET/walkable.yaml)")
    t.add_argument("--force", action="store_true", help="overwrite an existing map")
    t.set_defaults(func=_cmd_from_trajectory, output_kind="file", default_out=lambda a: a.dataset / "walkable.yaml")

    i = sub.add_parser(
        "from-image",
        help="walkable map from a floor-plan image and control points",
        description="Walkable pixels by brightness (default: grey >= --threshold) or by --color; "
        "specks smaller than --min-component m^2 are cleaned; control points (CSV u,v,x,y: pixel "
        "u right / v down, map x / y metres) place the plan in the map frame.",
    )
    i.add_argument("plan", type=Path, help="floor-plan image (PNG/JPEG/...)")
    i.add_argument("--control-points", type=Path, required=True, help="CSV with columns u,v,x,y (>= 2 rows)")
    i.add_argument("--threshold", type=float, default=200.0, help="grey level >= this is walkable (200)")
    i.add_argument("--color", default=None, help="R,G,B of the walkable paint (switches to colour mode)")
    i.add_argument("--tolerance", type=float, default=40.0, help="RGB distance to --color still walkable (40)")
    i.add_argument("--invert", action="store_true", help="swap walkable and non-walkable")
    i.add_argument("--resolution", type=float, default=None, help="cell size, m (default: the plan's m/pixel)")
    i.add_argument("--min-component", type=float, default=0.25, help="speck size to clean, m^2 (0.25)")
    i.add_argument("--frame-id", default="map")
    i.add_argument(
        "--max-residual",
        type=float,
        default=MAX_RESIDUAL_M,
        help=f"refuse control points that misfit by more than this, m ({MAX_RESIDUAL_M}): a swapped or mistyped point",
    )
    i.add_argument("--accept-residual", action="store_true", help="write the map even above --max-residual")
    i.add_argument("--out", type=Path, default=Path("walkable.yaml"), help="map YAML to write (walkable.yaml)")
    i.add_argument("--force", action="store_true", help="overwrite an existing map")
    i.set_defaults(func=_cmd_from_image, output_kind="file")

    s = sub.add_parser("show", help="render a map YAML to a PNG")
    s.add_argument("map", type=Path, help="nav2 map YAML")
    s.add_argument("--trajectory", type=Path, default=None, help="pose CSV to draw on top")
    s.add_argument("--out", type=Path, default=None, help="PNG to write (default: <map>_map.png next to the YAML)")
    s.add_argument("--force", action="store_true", help="overwrite an existing PNG")
    s.set_defaults(func=_cmd_show, output_kind="file", default_out=lambda a: a.map.with_name(a.map.stem + "_map.png"))


def _check_new(path: Path, force: bool) -> None:
    from ..errors import UserError

    if path.exists() and not force:
        raise UserError(f"{path} exists (use --force to overwrite)")


def _save(m, out: Path, force: bool) -> None:
    from ..errors import UserError

    try:
        m.save(out, overwrite=force)
    except FileExistsError as exc:
        raise UserError(str(exc)) from exc
    print(f"wrote {out} ({m!r})")


def _cmd_from_trajectory(args: argparse.Namespace) -> int:
    from ..dataset.folder import DatasetFolder
    from ..errors import UserError
    from .from_data import TrajectoryMapConfig, estimate_floor_z, map_from_data

    ds = DatasetFolder.open(args.dataset)
    traj = ds.poses(args.split)
    if len(traj) == 0:
        raise UserError(f"{args.dataset}: split {args.split!r} has no poses")
    out = args.out or ds.root / "walkable.yaml"
    _check_new(out, args.force)
    cfg = TrajectoryMapConfig(radius_m=args.radius, resolution_m=args.resolution, padding_m=args.padding)
    floor_z = estimate_floor_z(traj.positions[:, 2], args.camera_height)
    points = None
    if not args.no_points and ds.points_path is not None:
        from ..dataset.ply import read_ply

        points, _ = read_ply(ds.points_path)
        log.info("using %d SfM points from %s (floor z = %.2f m)", len(points), ds.points_path, floor_z)
    m = map_from_data(traj, points, floor_z=floor_z, trajectory_config=cfg, frame_id=ds.map_frame)
    _save(m, out, args.force)
    return 0


def _parse_rgb(text: str) -> tuple[int, int, int]:
    from ..errors import UserError

    try:
        rgb = tuple(int(v) for v in text.split(","))
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise UserError(f"--color must be R,G,B with values 0..255, got {text!r}")
    return rgb  # type: ignore[return-value]


def _cmd_from_image(args: argparse.Namespace) -> int:
    import numpy as np

    from ..dataset.folder import read_image_rgb
    from ..errors import UserError
    from .from_image import PlanRule, load_control_points, map_from_plan

    if not args.max_residual > 0:
        raise UserError(f"--max-residual must be positive, got {args.max_residual}")
    _check_new(args.out, args.force)
    rule = PlanRule(
        mode="color" if args.color else "brightness",
        threshold=args.threshold,
        color=_parse_rgb(args.color) if args.color else (255, 255, 255),
        tolerance=args.tolerance,
        invert=args.invert,
    )
    image = read_image_rgb(args.plan)
    uv, xy = load_control_points(args.control_points)
    m, align = map_from_plan(image, uv, xy, rule, args.resolution, args.min_component, args.frame_id)
    worst = float(align.residuals_m.max())
    print(
        f"plan {args.plan}: {align.metres_per_pixel:.4f} m/pixel, control-point residuals "
        f"max {worst:.3f} m over {len(uv)} points"
    )
    if worst > args.max_residual:
        k = int(np.argmax(align.residuals_m))
        msg = (
            f"{args.control_points}: control point {k + 1} (u,v {uv[k][0]:g},{uv[k][1]:g} -> x,y "
            f"{xy[k][0]:g},{xy[k][1]:g}) misfits by {worst:.2f} m (> --max-residual {args.max_residual:g} m): "
            "check it for a typo or swapped columns"
        )
        if not args.accept_residual:
            raise UserError(msg + " (--accept-residual writes the map anyway)")
        log.warning("%s; writing anyway (--accept-residual)", msg)
    _save(m, args.out, args.force)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from ..trajectory import Trajectory
    from .grid import WalkableMap
    from .render import render_map_png

    m = WalkableMap.load(args.map)
    out = args.out or args.map.with_name(args.map.stem + "_map.png")
    _check_new(out, args.force)
    traj = Trajectory.load_csv(args.trajectory) if args.trajectory else None
    title = (
        f"{args.map.name}: {m.width}x{m.height} cells @ {m.resolution} m, {100 * m.walkable_fraction():.0f}% walkable"
    )
    render_map_png(m, out, traj, title=title)
    print(f"wrote {out}")
    print(repr(m))
    return 0
