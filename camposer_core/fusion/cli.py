"""``camposer fuse``: run the fusion smoother over recorded camera fixes + odometry and report the
fused base poses beside the raw fixes (the MapNet+PGO comparison, with a real optimiser)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register", "FUSE_FILES"]

FUSE_FILES = ("fused.csv", "fusion_metrics.json", "fusion_summary.txt", "fusion.png")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fuse",
        help="fuse recorded camera fixes with odometry (GTSAM fixed-lag smoother) and compare with the raw fixes",
        description="Replays FIXES (a pose CSV of camera poses in the map frame, e.g. predictions.csv of "
        "`camposer evaluate`) and --odometry (odometry.csv of `camposer synth`) through the same fusion the "
        "fusion node runs, in arrival order (each fix --latency s after its image), and writes fused.csv "
        "(base_link poses at odometry rate) plus, with --ground-truth, errors of the fused output and the raw "
        "fixes (fusion_metrics.json, fusion_summary.txt, fusion.png) into --out.",
    )
    p.add_argument("fixes", type=Path, help="camera fixes: pose CSV (frame,timestamp,x,y,z,qw,qx,qy,qz)")
    p.add_argument(
        "--odometry", type=Path, default=None, help="odometry.csv (odom_from_base); none = constant velocity"
    )
    p.add_argument("--extrinsics", type=Path, default=None, help="extrinsics.yaml (base_from_camera); none = identity")
    p.add_argument("--ground-truth", type=Path, default=None, help="camera ground truth pose CSV (same clock)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--latency", type=float, default=0.15, help="fix arrival after its image stamp, s (0.15)")
    p.add_argument("--checkpoint", type=Path, default=None, help="take the fix covariance from this model checkpoint")
    p.add_argument("--fix-std-m", type=float, default=None, help="fix position std, m (instead of the checkpoint's)")
    p.add_argument("--fix-std-deg", type=float, default=None, help="fix rotation std, deg")
    p.add_argument("--lag", type=float, default=None, help="smoother lag, s (default FusionConfig's)")
    p.add_argument("--no-gate", action="store_true", help="accept every fix (no Mahalanobis gate)")
    p.add_argument("--force", action="store_true", help="overwrite an existing report in --out")
    p.set_defaults(func=_cmd_fuse)


def _cmd_fuse(args: argparse.Namespace) -> int:
    import dataclasses

    import numpy as np

    from ..errors import UserError
    from ..trajectory import Trajectory
    from .config import FusionConfig
    from .extrinsics import Extrinsics
    from .offline import evaluate_run, replay, to_base
    from .plots import plot_fusion
    from .smoother import PoseFusion

    out = Path(args.out)
    existing = [n for n in FUSE_FILES if (out / n).exists()]
    if existing and not args.force:
        raise UserError(f"{out} already holds {', '.join(existing)} (use --force to overwrite)")

    def load(path, what):
        try:
            return Trajectory.load_csv(path)
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(f"{what}: {exc}") from exc

    fixes = load(args.fixes, "fixes")
    if len(fixes) == 0:
        raise UserError(f"{args.fixes}: no fixes")
    order = np.argsort(fixes.timestamps, kind="stable")
    fixes = fixes.subset(order)
    odometry = load(args.odometry, "odometry") if args.odometry else None
    extrinsics = Extrinsics.load_yaml(args.extrinsics) if args.extrinsics else Extrinsics.identity()
    cfg = FusionConfig()
    changes = {}
    if args.lag is not None:
        changes["lag_s"] = args.lag
    if args.no_gate:
        changes["gate_chi2"] = 0.0
    cov = None
    if args.checkpoint is not None:
        from ..training.checkpoint import Checkpoint

        cov = Checkpoint.load(args.checkpoint).covariance()
    if args.fix_std_m is not None:
        changes["fix_position_std_m"] = args.fix_std_m
    if args.fix_std_deg is not None:
        changes["fix_rotation_std_deg"] = args.fix_std_deg
    cfg = dataclasses.replace(cfg, **changes)
    covs = None if cov is None else np.repeat(cov[None], len(fixes), axis=0)
    fusion = PoseFusion(cfg, extrinsics)
    run = replay(fusion, fixes, odometry, covs, fix_latency_s=args.latency)
    out.mkdir(parents=True, exist_ok=True)
    run.outputs.save_csv(out / "fused.csv")
    print(f"wrote {len(run.outputs)} fused base poses to {out / 'fused.csv'}")
    if not len(run.outputs):
        print("the fusion never initialised (no consistent fixes): nothing to evaluate")
        return 1
    if args.ground_truth is None:
        return 0
    gt = load(args.ground_truth, "ground truth")
    base_gt = to_base(gt.subset(np.argsort(gt.timestamps, kind="stable")), fusion)
    report = evaluate_run(run, base_gt)
    text = "\n".join(report.lines())
    from ..fsio import atomic_write_text

    atomic_write_text(
        out / "fusion_metrics.json",
        json.dumps({"report": report.as_dict(), "config": dataclasses.asdict(cfg)}, indent=2) + "\n",
    )
    atomic_write_text(out / "fusion_summary.txt", text + "\n")
    plot_fusion(run, base_gt, out / "fusion.png", title=f"fusion of {args.fixes.name}")
    print(text)
    return 0
