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

__all__ = ["predict_split", "evaluate_checkpoint", "refine_predictions"]


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
    refine: bool | None = None,
    refine_config=None,
    relative=None,
) -> EvaluationReport:
    """Localize every frame of ``split`` of ``dataset`` (a DatasetFolder) with ``checkpoint``,
    evaluate raw and snapped errors and write the report into ``out``. ``metrics_csv`` (loss
    curves) defaults to the ``metrics.csv`` next to the checkpoint, when there is one. With
    ``baseline`` (``split`` val or test, and a non-empty train split) the report also gives the
    nearest-neighbour retrieval baseline on the same frames, to judge the model against.
    ``refine`` (None: when the dataset has a localization map) adds PnP refinement with the
    regressor's poses as priors, the split's images excluded from the map: the report gets a
    prior-vs-refined section (:mod:`.refinement`). ``relative`` (a relative regressor's
    checkpoint, :mod:`camposer_core.localization.relative`) corrects every regressor pose
    against the training images near it before it is scored (and refined). Returns the
    :class:`EvaluationReport`."""
    checkpoint = Path(checkpoint)
    if metrics_csv is None and (checkpoint.parent / "metrics.csv").is_file():
        metrics_csv = checkpoint.parent / "metrics.csv"
    loc = Localizer.from_checkpoint(checkpoint, device=device, relative=relative)
    _warn_if_database_split(loc, split)
    pred = predict_split(loc, dataset, split, batch, progress=progress)
    name = checkpoint.name if relative is None else f"{checkpoint.name} + {Path(relative).name} (relative)"
    label = label or f"{name} on {dataset.root.name}/{split}"
    report = evaluate_predictions(pred, dataset.poses(split), walkable_map, snap_margin_m=snap_margin_m, label=label)
    if baseline and split in ("val", "test") and len(dataset.poses("train")) > 0:
        report.baseline = retrieval_summary(dataset, split)
    if refine is None:
        from ..localization import MAP_FILE

        refine = (dataset.root / MAP_FILE).is_file()
    if refine:
        report.refinement = refine_predictions(loc, pred, dataset, split, refine_config, progress)
    write_report(report, out, loss_history_csv=metrics_csv, overwrite=overwrite)
    return report


def _warn_if_database_split(localizer, split: str) -> None:
    """Warn when the split being scored is a relative refiner's database (its training split):
    each query then finds itself among its neighbours, not a held-out result."""
    import logging

    for refiner in localizer.refiners:
        db_split = getattr(refiner, "database_split", None)
        if db_split is not None and split in (db_split, "all"):
            logging.getLogger(__name__).warning(
                "split %r holds the relative regressor's database images (%r): not a held-out result", split, db_split
            )


def refine_predictions(localizer, pred, dataset, split: str, refine_config=None, progress: bool = True):
    """:class:`~.refinement.RefinementSummary` of PnP refinement of the predictions ``pred``
    (a Trajectory in the split's order) against the dataset's localization map without the
    split's images."""
    import logging

    from ..localizer import PoseEstimate, make_refiner
    from .refinement import refine_split, summarize_refinement

    refiner = make_refiner(dataset.root, refine_config, exclude_splits=() if split == "all" else (split,))
    if split == "all":
        logging.getLogger(__name__).warning(
            "refining split 'all': its images are in the localization map (not a held-out result)"
        )
    priors = [
        PoseEstimate(pred.positions[i], pred.quaternions[i], None, None, np.array(localizer.covariance), 0.0)
        for i in range(len(pred))
    ]
    ests = refine_split(refiner, dataset, split, priors=priors, progress=progress)
    return summarize_refinement(ests, dataset.poses(split), priors, label=f"refined {split}")
