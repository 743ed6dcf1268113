"""Prior vs refined, side by side: what PnP refinement (:mod:`camposer_core.localization`) does
to a split's errors, statuses and time per frame.

:func:`refine_split` runs a :class:`~camposer_core.localization.PnPRefiner` over the frames of
a split (in time order, as a stream), given the prior estimates (the regressor's, or none for
retrieval-only localisation); :func:`summarize_refinement` compares the published poses
(``refined`` → the PnP pose, ``prior_only`` → the prior, ``lost`` → nothing) and the prior
with the ground truth on the same frames. Bars: within 5 cm / 1°, 25 cm / 2°, 1 m / 10°.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry import ERROR_TABLE_ROWS, position_error, rotation_error_deg

__all__ = ["RefinementSummary", "refine_split", "summarize_refinement", "BARS", "STAGES"]

BARS = ((0.05, 1.0), (0.25, 2.0), (1.0, 10.0))
STAGES = ("regressor", "extract", "retrieval", "match", "pnp")


def _stats(pe: np.ndarray, re: np.ndarray) -> dict:
    """median / mean / p90 (m, deg), % within each bar, max position error; {} when empty."""
    if len(pe) == 0:
        return {"count": 0}
    d = {
        "count": int(len(pe)),
        "position_median_m": float(np.median(pe)),
        "position_mean_m": float(np.mean(pe)),
        "position_p90_m": float(np.percentile(pe, 90)),
        "position_max_m": float(np.max(pe)),
        "rotation_median_deg": float(np.median(re)),
        "rotation_mean_deg": float(np.mean(re)),
        "rotation_p90_deg": float(np.percentile(re, 90)),
    }
    for m, deg in BARS:
        d[f"within_{m:g}m_{deg:g}deg"] = float(np.mean((pe <= m) & (re <= deg)))
    return d


@dataclass
class RefinementSummary:
    """Errors of the prior and of the published poses on the same frames (fractions of all
    frames for the bars; ``lost`` frames count as misses), status counts, median ms per stage."""

    label: str
    frames: int
    status_counts: dict
    prior: dict | None  # _stats of the prior (None: no regressor)
    published: dict  # _stats of the published poses (refined + prior_only; lost excluded)
    refined: dict  # _stats of the refined frames only
    timings_ms: dict  # stage -> median ms over the frames that ran it
    total_ms: dict = field(default_factory=dict)  # median / p90 ms per frame (all stages)
    per_frame: dict = field(default_factory=dict, repr=False)  # status, errors (for plots)

    def fraction(self, status: str) -> float:
        return self.status_counts.get(status, 0) / max(1, self.frames)

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "frames": self.frames,
            "status_counts": self.status_counts,
            "prior": self.prior,
            "published": self.published,
            "refined": self.refined,
            "timings_ms": self.timings_ms,
            "total_ms": self.total_ms,
        }

    def table(self) -> str:
        """Prior and published poses side by side, plus statuses and time per stage."""
        rows = [*ERROR_TABLE_ROWS] + [
            (f"within {m:g} m, {d:g} deg (%)", f"within_{m:g}m_{d:g}deg", "pct") for m, d in BARS
        ]
        n = max(1, self.frames)

        def fmt(stats, key, f):
            if not stats or key not in stats:
                return "-"
            v = stats[key]
            if f == "pct":  # of all frames: frames without a pose are misses
                return f"{100 * v * stats['count'] / n:.1f}"
            return f.format(v)

        lines = [f"{'':28s}{'prior':>12s}{'refined':>12s}", f"{'frames with a pose':28s}"]
        lines[-1] += f"{(self.prior or {}).get('count', 0):>12d}{self.published.get('count', 0):>12d}"
        for name, key, f in rows:
            lines.append(f"{name:28s}{fmt(self.prior, key, f):>12s}{fmt(self.published, key, f):>12s}")
        c = self.status_counts
        lines.append(
            "status: "
            + ", ".join(f"{s} {c.get(s, 0)} ({100 * self.fraction(s):.1f}%)" for s in ("refined", "prior_only", "lost"))
        )
        if self.refined.get("count"):
            lines.append(f"largest error of a refined frame: {self.refined['position_max_m']:.3f} m")
        if self.timings_ms:
            lines.append(
                "median ms per frame: "
                + ", ".join(f"{k} {v:.1f}" for k, v in self.timings_ms.items())
                + f"; total {self.total_ms.get('median', float('nan')):.1f} (p90 {self.total_ms.get('p90', float('nan')):.1f})"
            )
        if "cpu_median" in self.total_ms:
            lines.append(
                f"refinement CPU time per frame (thread time: an idle core's wall time): median "
                f"{self.total_ms['cpu_median']:.1f} ms, p90 {self.total_ms['cpu_p90']:.1f} ms"
            )
        return "\n".join(lines)


def refine_split(refiner, dataset, split: str, priors=None, progress: bool = True) -> list:
    """Refined :class:`~camposer_core.localizer.PoseEstimate` of every frame of ``split``
    (time order, one stream). ``priors``: the prior estimates in the split's order (None:
    retrieval only, every frame starts without a pose)."""
    import time

    from ..localizer import PoseEstimate

    traj = dataset.poses(split)
    cov = np.diag([1.0] * 3 + [np.radians(10.0) ** 2] * 3)
    frames = range(len(traj))
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, desc=f"refine {split}", unit="frame", leave=False)
    refiner.reset()
    out = []
    for i in frames:
        img = dataset.load_image(traj.frames[i])
        prior = (
            priors[i]
            if priors is not None
            else PoseEstimate(np.full(3, np.nan), np.array([1.0, 0, 0, 0]), None, None, cov, 0.0, status="lost")
        )
        t0, c0 = time.perf_counter(), time.thread_time()
        est = refiner.refine(img, prior)
        est.timings_ms["refine_wall"] = (time.perf_counter() - t0) * 1e3
        est.timings_ms["refine_cpu"] = (time.thread_time() - c0) * 1e3  # what an idle core would take
        out.append(est)
    return out


def summarize_refinement(estimates, gt, priors=None, label: str = "") -> RefinementSummary:
    """Compare ``estimates`` (refined, in ``gt``'s order) and ``priors`` with ``gt``."""
    status = np.array([e.status for e in estimates])
    pos = np.array([e.position for e in estimates], float).reshape(-1, 3)
    quat = np.array([e.quaternion for e in estimates], float).reshape(-1, 4)
    has = status != "lost"
    pe = np.full(len(status), np.nan)
    re = np.full(len(status), np.nan)
    if has.any():
        pe[has] = position_error(pos[has], gt.positions[has])
        re[has] = rotation_error_deg(quat[has], gt.quaternions[has])
    prior_stats, ppe, pre = None, None, None
    if priors is not None:
        pp = np.array([e.position for e in priors], float)
        pq = np.array([e.quaternion for e in priors], float)
        ppe, pre = position_error(pp, gt.positions), rotation_error_deg(pq, gt.quaternions)
        prior_stats = _stats(ppe, pre)
    ref = status == "refined"
    timings = {}
    for stage in STAGES:
        vals = [e.timings_ms[stage] for e in estimates if stage in e.timings_ms]
        if vals:
            timings[stage] = float(np.median(vals))
    totals = [sum(e.timings_ms.get(s, 0.0) for s in STAGES) for e in estimates]
    cpu = [e.timings_ms["refine_cpu"] for e in estimates if "refine_cpu" in e.timings_ms]
    return RefinementSummary(
        label=label,
        frames=len(status),
        status_counts={s: int(np.sum(status == s)) for s in ("refined", "prior_only", "lost")},
        prior=prior_stats,
        published=_stats(pe[has], re[has]),
        refined=_stats(pe[ref], re[ref]),
        timings_ms=timings,
        total_ms=(
            {"median": float(np.median(totals)), "p90": float(np.percentile(totals, 90))}
            | ({"cpu_median": float(np.median(cpu)), "cpu_p90": float(np.percentile(cpu, 90))} if cpu else {})
        )
        if totals
        else {},
        per_frame={
            "status": status,
            "position_error_m": pe,
            "rotation_error_deg": re,
            "prior_position_error_m": ppe,
            "positions": pos,
        },
    )
