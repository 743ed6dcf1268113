"""``camposer synth``: generate the synthetic building and render its walkthrough."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="generate the built-in synthetic building, its walkthrough video and exact ground truth",
        description=(
            "Generate a procedural building (corridor loop, rooms, doors, furniture), render a walkthrough "
            "video and write groundtruth.csv, camera.yaml, walkable.yaml/.pgm, floorplan.png and scene.json "
            "into --out."
        ),
    )
    p.add_argument("--out", required=True, help="output folder (must be empty or new unless --force)")
    p.add_argument(
        "--preset",
        choices=("default", "small"),
        default="default",
        help="default: ~30x20 m, 640x480, 3 laps at 10 fps; small: ~12x8 m, 160x120, 2 laps at 3 fps",
    )
    p.add_argument("--seed", type=int, help="random seed (same seed -> identical building, poses and frames)")
    p.add_argument("--laps", type=int, help="laps of the corridor loop")
    p.add_argument("--fps", type=float, help="video frame rate")
    p.add_argument("--width", type=int, help="image width, px")
    p.add_argument("--height", type=int, help="image height, px")
    p.add_argument("--hfov", type=float, dest="hfov_deg", help="horizontal field of view, degrees")
    p.add_argument("--size", help="building interior WIDTHxDEPTH in metres, e.g. 30x20")
    p.add_argument("--speed", type=float, help="walking speed, m/s")
    p.add_argument("--k1", type=float, help="radial distortion k1 (plumb bob)")
    p.add_argument("--k2", type=float, help="radial distortion k2 (plumb bob)")
    p.add_argument("--texels-per-metre", type=float, dest="texels_per_metre", help="texture resolution")
    p.add_argument("--crf", type=int, dest="video_crf", help="H.264 constant rate factor (default 18)")
    p.add_argument(
        "--queries",
        help="query walks (test scenarios, never mapped) to write into OUT/queries/<name>/: a comma list of "
        "retrace, offset, robot, lighting, people, or 'all' (default: none)",
    )
    p.add_argument(
        "--lap-directions",
        choices=("ccw", "cw", "alternate"),
        dest="lap_directions",
        help="mapping walk: anticlockwise laps (default), clockwise, or alternating",
    )
    p.add_argument("--room-visits", type=int, dest="room_visits", help="mapping walk: visits per lap into open rooms")
    p.add_argument(
        "--mapping-realism",
        action="store_true",
        help="camera realism (motion blur, sensor noise, H.264 artefacts) on the mapping walkthrough too",
    )
    p.add_argument("--no-video", action="store_true", help="write everything but the video")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_synth)


def config_from_args(args: argparse.Namespace):
    """The :class:`SynthConfig` the options describe (raises ``UserError`` on bad values)."""
    from ..errors import UserError
    from .config import SynthConfig

    over = {}
    keys = ("seed", "laps", "fps", "width", "height", "hfov_deg", "speed", "texels_per_metre", "video_crf")
    for key in keys + ("lap_directions", "room_visits"):
        val = getattr(args, key, None)
        if val is not None:
            over[key] = val
    if getattr(args, "mapping_realism", False):
        over["mapping_realism"] = True
    queries = getattr(args, "queries", None)
    if queries:
        from .queries import QUERY_SCENARIOS

        names = (
            QUERY_SCENARIOS if queries.strip() == "all" else tuple(q.strip() for q in queries.split(",") if q.strip())
        )
        over["query_walks"] = names
    if args.size:
        try:
            w, d = (float(v) for v in args.size.lower().split("x"))
        except ValueError as exc:
            raise UserError(f"--size must look like 30x20 (metres), got {args.size!r}") from exc
        over["building_width"], over["building_depth"] = w, d
    base = SynthConfig.preset(args.preset)
    if args.k1 is not None or args.k2 is not None:
        dist = list(base.distortion)
        dist[0] = args.k1 if args.k1 is not None else dist[0]
        dist[1] = args.k2 if args.k2 is not None else dist[1]
        over["distortion"] = tuple(dist)
    if (over.get("width", base.width) % 2) or (over.get("height", base.height) % 2):
        raise UserError("--width and --height must be even (H.264 video)")
    try:
        return SynthConfig.preset(args.preset, **over)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _cmd_synth(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from .output import check_out_dir, synthesize

    config = config_from_args(args)
    try:
        check_out_dir(args.out, args.force)
    except FileExistsError as exc:
        raise UserError(str(exc)) from exc
    out = synthesize(config, args.out, progress=not args.no_progress, force=args.force, video=not args.no_video)
    print(f"wrote {out.num_frames} frames ({out.duration_s:.1f} s of walkthrough) to {out.root}")
    if out.video is not None:
        print(f"  video        {out.video}  (rendered in {out.render_seconds:.1f} s)")
    print(f"  ground truth {out.groundtruth}")
    print(f"  camera       {out.camera_yaml}")
    print(f"  walkable map {out.walkable_yaml}")
    print(f"  floor plan   {out.floorplan_png}")
    print(f"  scene        {out.scene_json}")
    if out.odometry is not None:
        print(f"  odometry     {out.odometry}  (simulated 50 Hz base odometry; mounting in {out.extrinsics})")
    for q in out.queries:
        print(f"  query walk   {q.root}  ({q.num_frames} frames)")
    return 0
