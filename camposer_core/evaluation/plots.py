"""Evaluation plots (matplotlib, Agg backend; no display needed).

* :func:`plot_topdown`: the walkable map with ground truth vs predictions, raw and snapped
  side by side, a grey line from each ground-truth position to its prediction (seed Fig. 7).
* :func:`plot_error_cdf`: cumulative distributions of position and rotation errors, raw vs
  snapped, with the (0.25, 0.5, 1 m) thresholds marked.
* :func:`plot_loss_curves`: training loss and validation position error per epoch from a
  training ``metrics.csv``.
* :func:`plot_scenario`: one query walk, a panel per method, each frame's true position
  coloured by that method's position error (where on the walk it fails).

All positions are map-frame metres, top-down (x right, y up).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

__all__ = ["plot_topdown", "plot_error_cdf", "plot_loss_curves", "plot_scenario", "read_metrics_csv"]


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    from ..fsio import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    _plt().close(fig)
    return path


def _panel(ax, report, positions, errors, title):
    from ..walkable.render import draw_walkable

    gt = report.ground_truth.positions
    m = report.walkable_map
    if m is not None:
        draw_walkable(ax, m)
    from matplotlib.collections import LineCollection

    # View: the map (or the ground truth) plus a margin; farther predictions are drawn clipped
    # to the view's border (as 'x') so a few wild outliers do not shrink the building to a dot.
    lo, hi = gt[:, :2].min(0), gt[:, :2].max(0)
    if m is not None:
        x0, x1, y0, y1 = m.extent
        lo, hi = np.minimum(lo, [x0, y0]), np.maximum(hi, [x1, y1])
    pad = max(2.0, 0.15 * float(np.max(hi - lo)))
    lo, hi = lo - pad, hi + pad
    finite = np.all(np.isfinite(positions[:, :2]), axis=1)  # lost frames (refinement) have no pose
    shown = np.clip(positions[:, :2], lo, hi)
    clipped = np.any(shown != positions[:, :2], axis=1) & finite
    segs = np.stack([gt[finite, :2], shown[finite]], axis=1)
    ax.add_collection(LineCollection(segs, colors="0.55", linewidths=0.6, zorder=2))
    ax.plot(gt[:, 0], gt[:, 1], ".-", color="tab:green", ms=3, lw=1.0, label="ground truth", zorder=3)
    inside = ~clipped & finite
    ax.scatter(shown[inside, 0], shown[inside, 1], s=8, color="tab:red", label="prediction", zorder=4)
    if clipped.any():
        ax.scatter(
            shown[clipped, 0],
            shown[clipped, 1],
            s=25,
            marker="x",
            color="tab:red",
            zorder=4,
            label=f"{int(clipped.sum())} beyond the view (clipped)",
        )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_title(f"{title}: median {np.median(errors):.2f} m, mean {np.mean(errors):.2f} m", fontsize=10)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.85)


def plot_topdown(report, path) -> Path:
    """Top-down plot of ground truth vs predictions (raw, and snapped when available)."""
    plt = _plt()
    panels = [(report.predictions.positions, report.position_error_m, "raw")]
    if report.snapped_positions is not None:
        panels.append((report.snapped_positions, report.snapped_position_error_m, "snapped"))
    ref = getattr(report, "refinement", None)
    if ref is not None:  # PnP refinement: published poses (lost frames have none)
        err = ref.per_frame["position_error_m"]
        panels.append((ref.per_frame["positions"], err[np.isfinite(err)], "refined (PnP)"))
    pts = report.ground_truth.positions[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    if report.walkable_map is not None:
        x0, x1, y0, y1 = report.walkable_map.extent
        lo, hi = np.minimum(lo, [x0, y0]), np.maximum(hi, [x1, y1])
    span = hi - lo + 1e-9
    aspect = float(np.clip(span[1] / span[0], 0.3, 2.0))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(7 * len(panels), max(3.8, 6.5 * aspect + 1.4)), squeeze=False, layout="constrained"
    )
    for ax, (pos, err, title) in zip(axes[0], panels):
        _panel(ax, report, pos, err, title)
    if report.label:
        fig.suptitle(report.label)
    return _save(fig, path)


def _cdf(ax, values, label, style):
    v = np.sort(np.asarray(values, float))
    ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=label, ls=style)


def plot_error_cdf(report, path) -> Path:
    """Position and rotation error CDFs, raw vs snapped."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    _cdf(a1, report.position_error_m, f"raw (median {report.raw.position_median_m:.2f} m)", "-")
    if report.snapped is not None:
        _cdf(a1, report.snapped_position_error_m, f"snapped (median {report.snapped.position_median_m:.2f} m)", "--")
    ref = getattr(report, "refinement", None)
    if ref is not None and ref.published.get("count"):  # lost frames: infinite error (the curve tops out below 1)
        pe = np.where(np.isfinite(ref.per_frame["position_error_m"]), ref.per_frame["position_error_m"], np.inf)
        re = np.where(np.isfinite(ref.per_frame["rotation_error_deg"]), ref.per_frame["rotation_error_deg"], np.inf)
        _cdf(a1, pe, f"refined (median {ref.published['position_median_m']:.3f} m)", ":")
        _cdf(a2, re, f"refined (median {ref.published['rotation_median_deg']:.2f} deg)", ":")
    for t in (0.25, 0.5, 1.0):
        a1.axvline(t, color="0.7", lw=0.8, zorder=0)
    a1.set_xlabel("position error [m]")
    a1.set_ylabel("fraction of frames")
    a1.set_xlim(left=0)
    a1.set_ylim(0, 1.01)
    a1.legend(loc="lower right")
    a1.grid(alpha=0.3)
    _cdf(a2, report.rotation_error_deg, f"median {report.raw.rotation_median_deg:.1f} deg (same after snapping)", "-")
    for t in (2.0, 5.0, 10.0):
        a2.axvline(t, color="0.7", lw=0.8, zorder=0)
    a2.set_xlabel("rotation error [deg]")
    a2.set_xlim(left=0)
    a2.set_ylim(0, 1.01)
    a2.legend(loc="lower right")
    a2.grid(alpha=0.3)
    if report.label:
        fig.suptitle(report.label)
    fig.tight_layout()
    return _save(fig, path)


def read_metrics_csv(path) -> dict[str, np.ndarray]:
    """Columns of a training ``metrics.csv`` as float arrays (empty cells → NaN)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics CSV not found: {path}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = list(reader.fieldnames or [])
        if "epoch" not in cols or "train_loss" not in cols:
            raise ValueError(f"{path}: not a training metrics CSV (need columns epoch, train_loss; got {cols})")
        data = {c: [] for c in cols}
        for row in reader:
            for c in cols:
                v = (row.get(c) or "").strip()
                try:
                    data[c].append(float(v) if v else math.nan)
                except ValueError:
                    data[c].append(math.nan)
    return {c: np.asarray(v, float) for c, v in data.items()}


def plot_loss_curves(metrics_csv, path) -> Path:
    """Training loss (left axis) and validation median position / rotation errors (right
    axes) per epoch from a training ``metrics.csv``."""
    plt = _plt()
    d = read_metrics_csv(metrics_csv)
    if len(d["epoch"]) == 0:
        raise ValueError(f"{metrics_csv}: no epochs recorded")
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(d["epoch"], d["train_loss"], "-", color="tab:blue", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:blue")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if "val_position_median_m" in d and np.isfinite(d["val_position_median_m"]).any():
        ok = np.isfinite(d["val_position_median_m"])
        ax2 = ax.twinx()
        ax2.plot(
            d["epoch"][ok], d["val_position_median_m"][ok], "o-", ms=3, color="tab:red", label="val median position (m)"
        )
        ax2.set_ylabel("val median position error [m]", color="tab:red")
        ax2.set_ylim(bottom=0)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
        if "val_rotation_median_deg" in d and np.isfinite(d["val_rotation_median_deg"]).any():
            ok = np.isfinite(d["val_rotation_median_deg"])
            ax3 = ax.twinx()
            ax3.spines["right"].set_position(("axes", 1.12))
            ax3.plot(
                d["epoch"][ok],
                d["val_rotation_median_deg"][ok],
                "s--",
                ms=3,
                color="tab:orange",
                label="val median rotation (deg)",
            )
            ax3.set_ylabel("val median rotation error [deg]", color="tab:orange")
            ax3.set_ylim(bottom=0)
            h3, l3 = ax3.get_legend_handles_labels()
            handles, labels = handles + h3, labels + l3
    ax.legend(handles, labels, loc="upper right", fontsize=8)
    ax.set_title(f"training curves ({Path(metrics_csv).name})")
    fig.tight_layout()
    return _save(fig, path)


SCENARIO_ERROR_RANGE_M = (0.01, 10.0)  # colour scale of plot_scenario (log), metres


def plot_scenario(name, results, path, walkable_map=None, mapping_positions=None) -> Path:
    """Top-down panels, one per :class:`~camposer_core.evaluation.scenarios.ScenarioResult` of
    the query walk ``name`` (each with ``ground_truth`` / ``positions``): the walk's true camera
    centres coloured by the method's position error on a log scale (green 1 cm ... red 10 m;
    a frame without a finite estimate is a black x), the mapping walk's cameras in grey."""
    plt = _plt()
    from matplotlib.colors import LogNorm

    from ..walkable.render import draw_walkable

    gts = [np.asarray(r.ground_truth, float) for r in results]
    pts = np.concatenate([g[:, :2] for g in gts])
    lo, hi = pts.min(0), pts.max(0)
    if walkable_map is not None:
        x0, x1, y0, y1 = walkable_map.extent
        lo, hi = np.minimum(lo, [x0, y0]), np.maximum(hi, [x1, y1])
    lo, hi = lo - 0.5, hi + 0.5
    cols = min(3, len(results))
    rows = math.ceil(len(results) / cols)
    aspect = float(np.clip((hi[1] - lo[1]) / max(hi[0] - lo[0], 1e-9), 0.3, 2.0))
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols + 1.0, (5.2 * aspect + 0.8) * rows), squeeze=False, layout="constrained"
    )
    norm = LogNorm(*SCENARIO_ERROR_RANGE_M, clip=True)
    sc = None
    for ax, r, gt in zip(axes.flat, results, gts):
        if walkable_map is not None:
            draw_walkable(ax, walkable_map, alpha=0.6)
        if mapping_positions is not None:
            mp = np.asarray(mapping_positions, float)
            ax.plot(mp[:, 0], mp[:, 1], ".", color="0.6", ms=1.5, label="mapping cameras", zorder=2)
        err = np.linalg.norm(np.asarray(r.positions, float) - gt, axis=1)
        ok = np.isfinite(err)
        sc = ax.scatter(gt[ok, 0], gt[ok, 1], c=np.maximum(err[ok], 1e-3), cmap="RdYlGn_r", norm=norm, s=7, zorder=3)
        if (~ok).any():
            ax.scatter(
                gt[~ok, 0], gt[~ok, 1], marker="x", color="k", s=14, zorder=4, label=f"{int((~ok).sum())} no pose"
            )
        s = r.summary
        ax.set_title(
            f"{r.method}: median {s.position_median_m:.2f} m, p90 {s.position_p90_m:.2f} m, "
            f"{100 * s.within_025m_2deg:.0f} % <= 25 cm & 2 deg",
            fontsize=9,
        )
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
    for ax in list(axes.flat)[len(results) :]:
        ax.set_visible(False)
    fig.colorbar(sc, ax=axes, shrink=0.6, label="position error [m] (log)")
    fig.suptitle(f"query walk '{name}': position error along the true path")
    return _save(fig, path)
