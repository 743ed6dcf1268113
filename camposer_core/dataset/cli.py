"""``camposer build-dataset`` and ``camposer dataset info``."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build-dataset",
        help="video or image folder → frames → SfM (or known poses) → aligned, split dataset folder",
        description=(
            "Build a camposer dataset folder from a walkthrough video (or a folder of images). Stages are "
            "resumable: re-running skips finished stages (kept under OUT/work); --force re-runs everything "
            "and replaces an existing dataset. The interleaved split (default) measures interpolation "
            "between neighbouring frames of one walk; use --split recording to hold out a whole lap."
        ),
    )
    p.add_argument(
        "source", metavar="VIDEO_OR_DIR", type=Path, help="walkthrough video, or a folder of images in time order"
    )
    p.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    g = p.add_argument_group("frames")
    g.add_argument("--fps", type=float, default=5.0, help="frames per second taken from the video (default 5; 0 = all)")
    g.add_argument("--long-side", type=int, default=None, help="resize frames so the longer side is at most N pixels")
    g.add_argument(
        "--dedup-threshold",
        type=float,
        default=0.8,
        help="near-duplicate threshold (mean abs. thumbnail difference, 0-255; 0 = keep all)",
    )
    g.add_argument(
        "--blur-ratio",
        type=float,
        default=0.35,
        help="drop frames sharper than their neighbours by less than this ratio (0 = keep all)",
    )
    g.add_argument(
        "--accept-truncated",
        action="store_true",
        help="build from the readable part of a video whose frames end well before its duration (truncated file)",
    )
    g = p.add_argument_group("poses")
    g.add_argument(
        "--camera", type=Path, default=None, help="known intrinsics (camera.yaml, CameraInfo layout); fixed during SfM"
    )
    g.add_argument(
        "--poses",
        type=Path,
        default=None,
        help="import these map-frame poses instead of running SfM (camposer CSV, TUM, 4x4/3x4 matrices, COLMAP model folder)",
    )
    g.add_argument("--poses-format", default="auto", choices=["auto", "csv", "tum", "matrices", "colmap"])
    g.add_argument("--sfm-overlap", type=int, default=10, help="sequential matching: match each frame with the next N")
    g.add_argument("--loop-pairs", type=int, default=5, help="retrieval loop-closure pairs per frame (0 = none)")
    g.add_argument("--max-features", type=int, default=4096, help="SIFT features per image")
    g.add_argument(
        "--mapper",
        default="incremental",
        choices=["incremental", "global"],
        help="SfM mapper: incremental (COLMAP, default) or global (GLOMAP-style rotation averaging)",
    )
    g.add_argument(
        "--min-registered",
        type=float,
        default=0.5,
        help="fail when the largest model holds fewer than this fraction of the frames",
    )
    g = p.add_argument_group("map frame")
    g.add_argument(
        "--align",
        default="auto",
        choices=["auto", "control_points", "groundtruth", "gravity_floor", "none"],
        help="auto: control points, else ground truth, else gravity + floor",
    )
    g.add_argument(
        "--control-points", type=Path, default=None, help="file of >= 3 'frame, x, y, z' or 'sx, sy, sz, x, y, z' lines"
    )
    g.add_argument(
        "--scale-distance",
        nargs=3,
        metavar=("FRAME_A", "FRAME_B", "METRES"),
        default=None,
        help="metric scale from the known distance between two frames' camera centres",
    )
    g.add_argument(
        "--camera-height", type=float, default=None, help="metric scale from the camera's height above the floor (m)"
    )
    g.add_argument(
        "--groundtruth",
        type=Path,
        default=None,
        help="ground-truth poses of the walk: compare with them (and align to them with --align auto/groundtruth)",
    )
    g.add_argument("--map-frame", default="map", help="frame id of the map (default map)")
    g.add_argument(
        "--walkable-map",
        type=Path,
        default=None,
        help="walkable map (nav2 map YAML, map frame) to ship with the dataset as walkable.yaml",
    )
    g = p.add_argument_group("splits")
    g.add_argument("--split", default="interleaved", choices=["interleaved", "blocks", "recording"])
    g.add_argument("--blocks", type=int, default=5, help="number of blocks for --split blocks")
    g.add_argument(
        "--val-recordings", default=None, help="comma-separated recordings for validation (--split recording)"
    )
    g.add_argument("--test-recordings", default=None, help="comma-separated recordings for test (--split recording)")
    g.add_argument(
        "--val-every",
        type=int,
        default=0,
        metavar="K",
        help="--split recording: validate on every K-th frame of the training recordings instead of "
        "holding out a validation recording (more training data)",
    )
    p.add_argument("--force", action="store_true", help="re-run every stage and replace an existing dataset in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_build)

    d = subparsers.add_parser("dataset", help="inspect dataset folders")
    dsub = d.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    info = dsub.add_parser("info", help="summary of a dataset folder")
    info.add_argument("path", type=Path, help="dataset folder")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_info)
    d.set_defaults(func=lambda args: (d.print_help(), 2)[1])


def _config(args):
    from ..errors import UserError
    from .builder import BuildConfig
    from .frames import FrameOptions
    from .retrieval_pairs import RetrievalOptions
    from .sfm import SfmOptions
    from .splits import SplitConfig

    scale = None
    if args.scale_distance:
        a, b, m = args.scale_distance
        try:
            scale = (a, b, float(m))
        except ValueError:
            raise UserError(f"--scale-distance: METRES must be a number, got {m!r}") from None
    rec = lambda s: None if s is None else tuple(x for x in s.split(",") if x)  # noqa: E731
    return BuildConfig(
        source=args.source,
        out=args.out,
        frames=FrameOptions(
            fps=args.fps or None,
            long_side=args.long_side,
            dedup_threshold=args.dedup_threshold,
            blur_ratio=args.blur_ratio,
            accept_truncated=args.accept_truncated,
        ),
        sfm=SfmOptions(
            overlap=args.sfm_overlap,
            max_features=args.max_features,
            mapper=args.mapper,
            min_registered_fraction=args.min_registered,
            retrieval=RetrievalOptions(per_frame=args.loop_pairs),
        ),
        split=SplitConfig(
            args.split,
            num_blocks=args.blocks,
            val_recordings=rec(args.val_recordings),
            test_recordings=rec(args.test_recordings),
            val_every=args.val_every,
        ),
        camera_yaml=args.camera,
        poses=args.poses,
        poses_format=args.poses_format,
        groundtruth=args.groundtruth,
        control_points=args.control_points,
        scale_distance=scale,
        camera_height=args.camera_height,
        align=args.align,
        map_frame=args.map_frame,
        walkable_map=args.walkable_map,
        force=args.force,
    )


def _build(args) -> int:
    from ..errors import UserError
    from ..progress import progress_bars
    from .builder import build_dataset

    cfg = _config(args)
    factory, bars = progress_bars(not args.no_progress)
    try:
        result = build_dataset(cfg, progress=factory)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    finally:
        for b in bars.values():
            b.close()
    if result.skipped == ["frames", "poses", "align", "write"]:
        print(f"{args.out}: dataset is up to date with these inputs (use --force to rebuild)")
    print(result.summary())
    return 0


def dataset_info(path) -> dict:
    """Summary of a dataset folder: frames per split, camera, map frame, alignment, source."""
    from .folder import DatasetFolder

    ds = DatasetFolder.open(path)
    m = ds.manifest
    all_poses = ds.poses()
    cam = ds.camera
    info = {
        "path": str(ds.root),
        "map_frame": ds.map_frame,
        "frames": len(all_poses),
        "splits": {s: len(ds.poses(s)) for s in ("train", "val", "test")},
        "split_method": m.get("split", {}).get("method"),
        "camera": {"width": cam.width, "height": cam.height, "fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy},
        "path_length_m": all_poses.path_length(),
        "extent_m": {"min": all_poses.positions.min(0).tolist(), "max": all_poses.positions.max(0).tolist()}
        if len(all_poses)
        else None,
        "points3D": ds.points_path is not None,
        "walkable_map": ds.walkable_map_path is not None,
        "poses_source": m.get("poses_source"),
        "alignment": (m.get("alignment") or {}).get("method"),
        "metric": (m.get("alignment") or {}).get("metric"),
        "source": (m.get("source") or {}).get("input") if isinstance(m.get("source"), dict) else m.get("source"),
    }
    missing = [f for f in all_poses.frames if not ds.image_path(f).is_file()]
    info["missing_images"] = len(missing)
    return info


def _info(args) -> int:
    info = dataset_info(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"dataset {info['path']} (map frame '{info['map_frame']}')")
    print(
        f"  frames: {info['frames']}  splits ({info['split_method']}): "
        + ", ".join(f"{k} {v}" for k, v in info["splits"].items())
    )
    c = info["camera"]
    print(f"  camera: {c['width']}x{c['height']} fx {c['fx']:.1f} fy {c['fy']:.1f}")
    print(
        f"  path length {info['path_length_m']:.1f} m; poses from {info['poses_source']}, alignment {info['alignment']}"
        f"{'' if info['metric'] in (None, True) else ' (NOT metric)'}"
    )
    if info["extent_m"]:
        lo, hi = info["extent_m"]["min"], info["extent_m"]["max"]
        print("  extent: " + ", ".join(f"{a} [{lo[i]:.2f}, {hi[i]:.2f}]" for i, a in enumerate("xyz")) + " m")
    print(
        f"  points3D.ply: {'yes' if info['points3D'] else 'no'}, walkable map: {'yes' if info['walkable_map'] else 'no'}"
    )
    if info["missing_images"]:
        print(f"  WARNING: {info['missing_images']} images listed in poses.csv are missing")
        return 1
    return 0
