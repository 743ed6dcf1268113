"""Evaluation of predicted camera poses against ground truth, raw and snapped side by side.

:func:`evaluate_predictions` matches predictions to ground truth by frame name, computes
per-frame position errors (m, :func:`camposer_core.geometry.position_error`) and rotation
errors (deg, :func:`camposer_core.geometry.rotation_error_deg`), and, with a walkable map,
the errors after snapping the predicted positions onto the walkable area (orientation is
unchanged by snapping, so rotation errors are the same). :func:`write_report` writes::

    OUT/
      predictions.csv      pose CSV of the raw predictions + error / ground-truth / snapped columns
      metrics.json         {"raw": ErrorSummary, "snapped": ErrorSummary | null, counts, map, ...}
      summary.txt          the side-by-side table printed by ``camposer evaluate``
      trajectory_topdown.png   map + ground truth vs predictions, raw and snapped (seed Fig. 7)
      error_cdf.png            position / rotation error CDFs, raw vs snapped
      loss_curves.png          training loss and validation error per epoch (if a metrics CSV is given)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry import ERROR_TABLE_ROWS, ErrorSummary, position_error, rotation_error_deg, summarize_errors
from ..trajectory import Trajectory

__all__ = ["EvaluationReport", "evaluate_predictions", "write_report", "REPORT_FILES"]

REPORT_FILES = ("predictions.csv", "metrics.json", "summary.txt", "trajectory_topdown.png", "error_cdf.png")


@dataclass
class EvaluationReport:
    """Per-frame errors of matched predictions and their summaries.

    ``predictions`` / ``ground_truth`` hold the matched frames in ground-truth order.
    ``snapped_positions``, ``snapped_position_error_m``, ``snap_distance_m`` and ``snapped``
    are None without a walkable map. ``unmatched_predictions``: predicted frames absent from
    the ground truth; ``missing_frames``: ground-truth frames without a prediction."""

    predictions: Trajectory
    ground_truth: Trajectory
    position_error_m: np.ndarray
    rotation_error_deg: np.ndarray
    raw: ErrorSummary
    snapped_positions: np.ndarray | None = None
    snapped_position_error_m: np.ndarray | None = None
    snap_distance_m: np.ndarray | None = None
    snapped: ErrorSummary | None = None
    walkable_map: object | None = field(default=None, repr=False)
    snap_margin_m: float = 0.0
    unmatched_predictions: list[str] = field(default_factory=list)
    missing_frames: list[str] = field(default_factory=list)
    label: str = ""
    baseline: ErrorSummary | None = None  # the retrieval baseline on the same frames (context)
    refinement: object | None = None  # RefinementSummary: prior vs PnP-refined (evaluation/refinement.py)

    @property
    def frames(self) -> list[str]:
        return self.predictions.frames

    @property
    def count(self) -> int:
        return len(self.predictions)

    def mean_improvement(self) -> float | None:
        """Relative reduction of the mean position error by snapping (0.15 = 15% lower)."""
        if self.snapped is None or self.raw.position_mean_m == 0:
            return None
        return 1.0 - self.snapped.position_mean_m / self.raw.position_mean_m

    def as_dict(self) -> dict:
        """JSON-friendly summary (what ``metrics.json`` holds)."""
        m = self.walkable_map
        return {
            "label": self.label,
            "count": self.count,
            "raw": self.raw.as_dict(),
            "snapped": None if self.snapped is None else self.snapped.as_dict(),
            "snap": None
            if self.snap_distance_m is None
            else {
                "margin_m": self.snap_margin_m,
                "moved_fraction": float(np.mean(self.snap_distance_m > 0)),
                "mean_distance_m": float(np.mean(self.snap_distance_m)),
                "mean_position_improvement": self.mean_improvement(),
            },
            "walkable_map": None
            if m is None
            else {
                "shape": list(m.shape),
                "resolution_m": m.resolution,
                "origin": list(m.origin),
                "frame_id": m.frame_id,
            },
            "unmatched_predictions": len(self.unmatched_predictions),
            "missing_frames": len(self.missing_frames),
            "retrieval_baseline": None if self.baseline is None else self.baseline.as_dict(),
            "refinement": None if self.refinement is None else self.refinement.as_dict(),
        }

    def table(self) -> str:
        """The raw and snapped summaries side by side, as plain text."""
        rows = [
            ("frames", "count", "{:d}"),
            *ERROR_TABLE_ROWS,
            ("within 0.25 m, 2 deg (%)", "within_025m_2deg", "pct"),
            ("within 0.5 m, 5 deg (%)", "within_05m_5deg", "pct"),
            ("within 1 m, 10 deg (%)", "within_1m_10deg", "pct"),
        ]

        def fmt(summary, key, f):
            if summary is None:
                return "-"
            v = getattr(summary, key)
            return f"{100 * v:.1f}" if f == "pct" else f.format(v)

        lines = [f"{'':26s}{'raw':>12s}{'snapped':>12s}"]
        for name, key, f in rows:
            lines.append(f"{name:26s}{fmt(self.raw, key, f):>12s}{fmt(self.snapped, key, f):>12s}")
        imp = self.mean_improvement()
        if imp is not None:
            lines.append(
                f"snapping moved {100 * np.mean(self.snap_distance_m > 0):.1f}% of the frames "
                f"(mean {np.mean(self.snap_distance_m):.3f} m); mean position error "
                f"{100 * abs(imp):.1f}% {'lower' if imp >= 0 else 'higher'} after snapping"
            )
        if self.baseline is not None:
            b = self.baseline
            lines.append(
                f"retrieval baseline (pose of the most similar training image): {b.position_median_m:.3f} m / "
                f"{b.rotation_median_deg:.2f} deg median, {b.position_mean_m:.3f} m / {b.rotation_mean_deg:.2f} deg mean"
            )
        if self.refinement is not None:
            lines.append("")
            lines.append("PnP refinement against the localization map (split's images excluded from the map):")
            lines.append(self.refinement.table())
        if self.unmatched_predictions or self.missing_frames:
            lines.append(
                f"{len(self.unmatched_predictions)} predictions without ground truth, "
                f"{len(self.missing_frames)} ground-truth frames without prediction (ignored)"
            )
        return "\n".join(lines)


def _match(pred: Trajectory, gt: Trajectory):
    """Indices ``(i_pred, i_gt)`` of frames present in both, in ground-truth order."""
    index = {}
    for i, f in enumerate(pred.frames):
        if f in index:
            raise ValueError(f"predictions list frame {f!r} twice")
        index[f] = i
    gt_frames = set()
    i_pred, i_gt, missing = [], [], []
    for j, f in enumerate(gt.frames):
        if f in gt_frames:
            raise ValueError(f"ground truth lists frame {f!r} twice")
        gt_frames.add(f)
        if f in index:
            i_pred.append(index[f])
            i_gt.append(j)
        else:
            missing.append(f)
    unmatched = [f for f in pred.frames if f not in gt_frames]
    return np.asarray(i_pred, int), np.asarray(i_gt, int), unmatched, missing


def evaluate_predictions(
    pred: Trajectory,
    gt: Trajectory,
    walkable_map=None,
    snap_margin_m: float = 0.0,
    label: str = "",
    snapped_positions: np.ndarray | None = None,
) -> EvaluationReport:
    """Errors of ``pred`` against ``gt`` (matched by frame name), raw and, with a
    :class:`~camposer_core.walkable.WalkableMap`, after snapping (``snap_margin_m`` as in
    :meth:`WalkableMap.snap`). ``snapped_positions`` ``(len(pred), 3)`` (m, map frame, in
    ``pred``'s order) are snaps done elsewhere, e.g. published by the localizer node: they are
    evaluated as they are instead of snapping here (the snap distance is then the horizontal
    distance from the raw position). Raises ``ValueError`` when no frame matches."""
    i_pred, i_gt, unmatched, missing = _match(pred, gt)
    if len(i_pred) == 0:
        example = (
            f" (e.g. prediction {pred.frames[0]!r}, ground truth {gt.frames[0]!r})" if len(pred) and len(gt) else ""
        )
        raise ValueError(f"no predicted frame matches a ground-truth frame by name{example}")
    p = pred.subset(i_pred)
    g = gt.subset(i_gt)
    pe = position_error(p.positions, g.positions)
    re = rotation_error_deg(p.quaternions, g.quaternions)
    report = EvaluationReport(
        predictions=p,
        ground_truth=g,
        position_error_m=pe,
        rotation_error_deg=re,
        raw=summarize_errors(pe, re),
        walkable_map=walkable_map,
        snap_margin_m=float(snap_margin_m),
        unmatched_predictions=unmatched,
        missing_frames=missing,
        label=label,
    )
    if snapped_positions is not None:
        snapped_positions = np.asarray(snapped_positions, dtype=float).reshape(-1, 3)
        if len(snapped_positions) != len(pred):
            raise ValueError(f"{len(snapped_positions)} snapped positions for {len(pred)} predictions")
        report.snapped_positions = snapped_positions[i_pred]
        report.snap_distance_m = np.linalg.norm(report.snapped_positions[:, :2] - p.positions[:, :2], axis=1)
    elif walkable_map is not None:
        snap = walkable_map.snap(p.positions, margin=snap_margin_m)
        report.snapped_positions = snap.positions
        report.snap_distance_m = snap.distance_m
    if report.snapped_positions is not None:
        report.snapped_position_error_m = position_error(report.snapped_positions, g.positions)
        report.snapped = summarize_errors(report.snapped_position_error_m, re)
    return report


def _predictions_table(report: EvaluationReport) -> Trajectory:
    """Raw predictions + per-frame columns for ``predictions.csv``."""
    p, g = report.predictions, report.ground_truth

    def col(values, fmt="{:.6f}"):
        return [fmt.format(float(v)) for v in values]

    extra = dict(p.extra)
    extra.update(
        {
            "position_error_m": col(report.position_error_m),
            "rotation_error_deg": col(report.rotation_error_deg, "{:.4f}"),
            "gt_x": col(g.positions[:, 0]),
            "gt_y": col(g.positions[:, 1]),
            "gt_z": col(g.positions[:, 2]),
        }
    )
    if report.snapped_positions is not None:
        extra.update(
            {
                "snapped_x": col(report.snapped_positions[:, 0]),
                "snapped_y": col(report.snapped_positions[:, 1]),
                "snapped_z": col(report.snapped_positions[:, 2]),
                "snap_distance_m": col(report.snap_distance_m),
                "snapped_position_error_m": col(report.snapped_position_error_m),
            }
        )
    return Trajectory(p.frames, p.timestamps, p.positions, p.quaternions, p.recordings, extra)


def write_report(report: EvaluationReport, out_dir, loss_history_csv=None, overwrite: bool = False) -> dict[str, Path]:
    """Write the report files (module docstring) into ``out_dir``; returns ``{name: path}``.

    ``loss_history_csv``: a training ``metrics.csv`` (``epoch``, ``train_loss``, ``val_*``
    columns) to plot as loss curves. Existing report files raise ``FileExistsError`` unless
    ``overwrite``."""
    from ..fsio import atomic_write_text, mark_finished, mark_unfinished
    from .plots import plot_error_cdf, plot_loss_curves, plot_topdown

    out = Path(out_dir)
    names = list(REPORT_FILES) + (["loss_curves.png"] if loss_history_csv else [])
    if not overwrite:
        existing = [n for n in names if (out / n).exists()]
        if existing:
            raise FileExistsError(f"{out} already holds {', '.join(existing)} (use --force to overwrite)")
    mark_unfinished(out)  # until every file is written: a killed run's report is visibly unfinished
    paths = {"predictions.csv": _predictions_table(report).save_csv(out / "predictions.csv")}
    paths["metrics.json"] = out / "metrics.json"
    atomic_write_text(paths["metrics.json"], json.dumps(report.as_dict(), indent=2) + "\n")
    paths["summary.txt"] = out / "summary.txt"
    atomic_write_text(paths["summary.txt"], report.table() + "\n")
    paths["trajectory_topdown.png"] = plot_topdown(report, out / "trajectory_topdown.png")
    paths["error_cdf.png"] = plot_error_cdf(report, out / "error_cdf.png")
    if loss_history_csv:
        paths["loss_curves.png"] = plot_loss_curves(loss_history_csv, out / "loss_curves.png")
    mark_finished(out)
    return paths
