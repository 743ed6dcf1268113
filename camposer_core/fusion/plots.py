"""Plots of a fusion replay: top-down paths (ground truth, raw fixes, fused) and position error
over time (raw fixes as dots, fused output as a line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..geometry import position_error
from ..trajectory import Trajectory
from .offline import FusionRun, interpolate_trajectory

__all__ = ["plot_fusion", "plot_fused_paths"]


def plot_fusion(run: FusionRun, base_gt: Trajectory, path, title: str = "") -> Path:
    """Two panels (top-down map-frame x/y in metres; base position error in metres vs time in
    seconds) saved as a PNG at ``path``."""
    return plot_fused_paths(run.outputs, run.raw_base, base_gt, path, title, frame="base")


def plot_fused_paths(
    outputs: Trajectory, raw: Trajectory, gt: Trajectory, path, title: str = "", frame: str = "base"
) -> Path:
    """:func:`plot_fusion` for any fused ``outputs`` and ``raw`` fixes against ``gt``, all poses of
    the same ``frame`` (e.g. ``"camera"``) in the map frame on one clock (s)."""
    from ..evaluation.plots import _plt, _save

    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1.1, 1.4]})
    ax.plot(gt.positions[:, 0], gt.positions[:, 1], "k-", lw=1.2, label=f"ground truth ({frame})")
    ax.plot(
        raw.positions[:, 0], raw.positions[:, 1], ".", ms=3, color="tab:red", alpha=0.5, label=f"raw fixes ({frame})"
    )
    ax.plot(outputs.positions[:, 0], outputs.positions[:, 1], "-", lw=1.0, color="tab:blue", label="fused")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m, map)")
    ax.set_ylabel("y (m, map)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "fused vs raw fixes")
    p, _, inside = interpolate_trajectory(gt, raw.timestamps)
    raw_err = position_error(raw.positions, p)
    bx.plot(raw.timestamps[inside], raw_err[inside], ".", ms=3, color="tab:red", alpha=0.6, label="raw fixes")
    p, _, inside = interpolate_trajectory(gt, outputs.timestamps)
    fused_err = position_error(outputs.positions, p)
    bx.plot(outputs.timestamps[inside], fused_err[inside], "-", lw=1.0, color="tab:blue", label="fused (causal)")
    top = np.percentile(raw_err, 98) if raw_err.size else 1.0
    bx.set_ylim(0, max(top, fused_err.max() if fused_err.size else 0.1) * 1.05)
    bx.set_xlabel("time (s)")
    bx.set_ylabel(f"{frame} position error (m)")
    bx.grid(alpha=0.3)
    bx.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
