"""``camposer evaluate CHECKPOINT DATASET``: localize every frame of a split with the
:class:`~camposer_core.localizer.Localizer` and write the evaluation report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a checkpoint on a dataset split (errors raw and snapped, plots)",
        description="Runs the checkpoint on every image of --split, then writes predictions.csv, "
        "metrics.json, summary.txt and plots (top-down map, error CDFs, loss curves) into --out. "
        "Errors are reported raw and after snapping to the walkable map (the dataset's "
        "walkable.yaml unless --map or --no-map).",
    )
    p.add_argument("checkpoint", type=Path, help="model checkpoint (.pt) written by camposer train")
    p.add_argument("dataset", type=Path, help="dataset folder")
    p.add_argument("--split", default="test", help="train|val|test|all (test)")
    p.add_argument("--out", type=Path, default=None, help="report folder (default: <checkpoint dir>/eval_<split>)")
    p.add_argument("--map", type=Path, default=None, help="walkable map YAML (default: DATASET/walkable.yaml)")
    p.add_argument("--no-map", action="store_true", help="do not snap, even if the dataset has a map")
    p.add_argument("--snap-margin", type=float, default=0.0, help="keep snapped positions this far from walls, m (0)")
    p.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="training metrics.csv for loss curves (default: metrics.csv next to the checkpoint, if any)",
    )
    p.add_argument("--batch", type=int, default=32, help="images per forward pass (32)")
    p.add_argument("--device", default="cpu", help="torch device (cpu)")
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the retrieval baseline (pose of the most similar training image) in the report",
    )
    p.add_argument(
        "--refine",
        choices=("auto", "on", "off"),
        default="auto",
        help="also refine every pose by PnP against DATASET/localization_map.npz (without the split's "
        "images) and report prior vs refined (auto: when the dataset has the map)",
    )
    p.add_argument(
        "--relative",
        type=Path,
        default=None,
        metavar="CKPT",
        help="correct every pose with this relative regressor (MeNet trained with data.pairs: nearby) "
        "against the training images near it, before scoring",
    )
    p.set_defaults(func=_cmd_evaluate, default_out=lambda a: a.checkpoint.parent / f"eval_{a.split}")


def _warn_foreign_checkpoint(checkpoint: Path, ds) -> None:
    """Warn when ``checkpoint`` was trained on another dataset (its manifest hash differs) or
    comes from a training run that did not finish."""
    from ..fsio import is_unfinished
    from ..training.checkpoint import Checkpoint

    ck = Checkpoint.load(checkpoint)
    if ck.manifest_hash and ck.manifest_hash != ds.manifest_hash():
        log.warning(
            "%s was trained on another dataset (%s, manifest hash %s) than %s (hash %s): the errors measure "
            "how it transfers, not how it was trained",
            checkpoint,
            ck.dataset or "unknown",
            ck.manifest_hash,
            ds.root,
            ds.manifest_hash(),
        )
    if is_unfinished(checkpoint.parent):
        log.warning("%s: its training run in %s did not finish (interrupted)", checkpoint, checkpoint.parent)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..dataset.folder import DatasetFolder
    from ..errors import UserError
    from ..fsio import is_unfinished
    from ..walkable import WalkableMap
    from .predict import evaluate_checkpoint
    from .report import REPORT_FILES

    if args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    if not args.snap_margin >= 0:
        raise UserError(f"--snap-margin must be >= 0 metres, got {args.snap_margin}")
    if not args.checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    if args.relative is not None and not args.relative.is_file():
        raise FileNotFoundError(f"relative regressor checkpoint not found: {args.relative} (--relative)")
    ds = DatasetFolder.open(args.dataset)
    gt = ds.poses(args.split)
    if len(gt) == 0:
        raise UserError(f"{ds.root}: split {args.split!r} has no frames (splits present: {ds.splits()})")
    out = args.out or args.checkpoint.parent / f"eval_{args.split}"
    if not args.force:
        existing = [n for n in REPORT_FILES if (out / n).exists()]
        if existing:
            what = "an unfinished report (interrupted run)" if is_unfinished(out) else "a report"
            raise UserError(f"{out} already holds {what} ({', '.join(existing)}); use --force to overwrite")
    _warn_foreign_checkpoint(args.checkpoint, ds)
    map_path = None if args.no_map else (args.map or ds.walkable_map_path)
    walkable = WalkableMap.load(map_path) if map_path else None
    if walkable is not None and walkable.frame_id != ds.map_frame:
        log.warning("map frame %r of %s differs from the dataset's %r", walkable.frame_id, map_path, ds.map_frame)
    report = evaluate_checkpoint(
        args.checkpoint,
        ds,
        args.split,
        out,
        walkable,
        snap_margin_m=args.snap_margin,
        metrics_csv=args.metrics,
        device=args.device,
        batch=args.batch,
        progress=not args.verbose,
        overwrite=args.force,
        baseline=not args.no_baseline,
        refine={"auto": None, "on": True, "off": False}[args.refine],
        relative=args.relative,
    )
    print(report.label)
    print(report.table())
    print(f"report written to {out}")
    return 0
