"""``camposer train`` and ``camposer export`` (registered in :mod:`camposer_core.cli`)."""

from __future__ import annotations

import argparse
import os

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a pose regressor (PoseNet / MapNet / MeNet) from a YAML config",
        description="Train a pose network on a dataset folder. Writes best.pt (lowest validation "
        "median position error), last.pt, metrics.csv and config.yaml into --out.",
    )
    p.add_argument("config", help="training YAML (see config/train_demo.yaml)")
    p.add_argument("--dataset", help="dataset folder (overrides data.dataset in the config)")
    p.add_argument("--out", default="runs/train", help="output folder (default: runs/train)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument("--force", action="store_true", help="overwrite an existing run in --out")
    p.add_argument("--epochs", type=int, help="override the number of epochs")
    p.add_argument("--device", help="override the device (auto, cpu, cuda, cuda:1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    e = subparsers.add_parser(
        "export",
        help="export a checkpoint to TorchScript (and ONNX when onnx is installed)",
        description="Writes OUT.ts (TorchScript; input uint8 RGB (B, H, W, 3) at the model's input "
        "size, output (B, 7) metric pose), OUT.onnx when onnx is importable, and OUT.json.",
    )
    e.add_argument("checkpoint", help="checkpoint written by camposer train (best.pt)")
    e.add_argument("--out", required=True, help="output path prefix, e.g. deploy/model")
    e.add_argument("--force", action="store_true", help="overwrite existing export files")
    e.set_defaults(func=_export, output_kind="file")


def _train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .loop import train

    cfg = load_config(args.config)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError("--epochs must be >= 1")
        cfg.epochs = args.epochs
    if args.device:
        cfg.device = args.device
    if args.no_progress:
        cfg.progress = False
    result = train(cfg, args.out, dataset=args.dataset, resume=args.resume, force=args.force)
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: only rank 0 validates and reports
        return 0
    print(
        f"best epoch {result.best_epoch}: validation median {result.best_val_position_median_m:.3f} m, "
        f"{result.best_val_rotation_median_deg:.2f} deg ({result.epochs_run} epochs, {result.seconds:.0f} s)\n"
        f"best checkpoint: {result.best_checkpoint}\nmetrics: {result.metrics_csv}"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export_checkpoint

    r = export_checkpoint(args.checkpoint, args.out, force=args.force)
    print(f"TorchScript: {r.torchscript} (max diff vs eager {r.max_abs_diff:.2e})")
    print(f"ONNX: {r.onnx if r.onnx else 'skipped (onnx not installed)'}")
    print(f"metadata: {r.metadata}")
    return 0
