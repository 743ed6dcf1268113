"""Localize every frame of a dataset split and evaluate it: the library behind
``camposer evaluate`` and the demo's evaluation stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..localizer import Localizer
from ..trajectory import Trajectory
from .report import EvaluationReport, evaluate_predictions, write_report
from .retrieval import retrieval_summary

__all__ = ["predict_split", "evaluate_checkpoint"]


def predict_split(localizer, dataset, split: str, batch: int = 32, progress: bool = True) -> Trajectory:
    """Raw predictions of ``localizer`` for every frame of ``split`` as a Trajectory."""
    traj = dataset.poses(split)
    pos, quat = np.zeros((len(traj), 3)), np.zeros((len(traj), 4))
    starts = range(0, len(traj), max(1, batch))
    if progress:
        starts = tqdm(starts, desc=f"evaluate {split}", unit="batch", leave=False)
    for i in starts:
        frames = traj.frames[i : i + batch]
        ests = localizer.localize_batch([dataset.load_image(f) for f in frames], "rgb8")
        pos[i : i + len(frames)] = [e.position for e in ests]
        quat[i : i + len(frames)] = [e.quaternion for e in ests]
    return Trajectory(traj.frames, traj.timestamps, pos, quat, traj.recordings)


def evaluate_checkpoint(
    checkpoint,
    dataset,
    split: str,
    out,
    walkable_map=None,
    snap_margin_m: float = 0.0,
    metrics_csv=None,
    device: str = "cpu",
    batch: int = 32,
    progress: bool = True,
    label: str | None = None,
    overwrite: bool = False,
    baseline: bool = True,
) -> EvaluationReport:
    """Localize every frame of ``split`` of ``dataset`` (a DatasetFolder) with ``checkpoint``,
    evaluate raw and snapped errors and write the report into ``out``. ``metrics_csv`` (loss
    curves) defaults to the ``metrics.csv`` next to the checkpoint, when there is one. With
    ``baseline`` (``split`` val or test, and a non-empty train split) the report also gives the
    nearest-neighbour retrieval baseline on the same frames, to judge the model against.
    Returns the :class:`EvaluationReport`."""
    checkpoint = Path(checkpoint)
    if metrics_csv is None and (checkpoint.parent / "metrics.csv").is_file():
        metrics_csv = checkpoint.parent / "metrics.csv"
    loc = Localizer.from_checkpoint(checkpoint, device=device)
    pred = predict_split(loc, dataset, split, batch, progress=progress)
    label = label or f"{checkpoint.name} on {dataset.root.name}/{split}"
    report = evaluate_predictions(pred, dataset.poses(split), walkable_map, snap_margin_m=snap_margin_m, label=label)
    if baseline and split in ("val", "test") and len(dataset.poses("train")) > 0:
        report.baseline = retrieval_summary(dataset, split)
    write_report(report, out, loss_history_csv=metrics_csv, overwrite=overwrite)
    return report
