"""Replay recorded camera fixes + odometry through :class:`PoseFusion`, as a robot would see them,
and report the fused base poses beside the raw fixes.

The replay is causal: events are taken in arrival order (odometry at its stamp, each fix
``fix_latency_s`` after its image stamp, like inference delay), the output at each odometry
message is what the fusion node would publish at that moment (only fixes that had arrived), and
:meth:`PoseFusion.update` runs after each fix arrival and after each odometry message while a fix
waits for odometry to cover its stamp (the node's timer). Errors are of the base pose
(``map_from_base``) against the ground truth converted with the same extrinsics; raw fixes are
converted camera → base too, so both columns compare the same frame.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..geometry import (
    ErrorSummary,
    Pose,
    pose_from_matrix,
    pose_to_matrix,
    position_error,
    rotation_error_deg,
    summarize_errors,
)
from ..trajectory import Trajectory
from .extrinsics import Extrinsics
from .smoother import FusionStats, PoseFusion

__all__ = ["FusionRun", "FusionReport", "replay", "evaluate_run", "to_base", "to_camera", "interpolate_trajectory"]


@dataclass
class FusionRun:
    """What a replay produced: the causal outputs (``map_from_base`` at odometry stamps, frames =
    odometry frames) with their ROS-order covariances, the raw fixes converted to the base, the
    wall time of each ``add_odometry`` call (ms; the pose-out latency), of each smoother update
    (ms) with the number of fixes accepted before it, and the fusion's counters."""

    outputs: Trajectory
    covariances: np.ndarray
    raw_base: Trajectory
    odometry_ms: np.ndarray
    update_ms: np.ndarray
    update_index: np.ndarray
    stats: FusionStats
    extrinsics: Extrinsics | None = None  # the fusion's (to compare in the camera frame too)


def to_base(camera: Trajectory, fusion) -> Trajectory:
    """``map_from_base`` of each ``map_from_camera`` pose, with the extrinsics of ``fusion`` (a
    :class:`PoseFusion` or anything with an ``extrinsics`` attribute)."""
    return _apply(camera, np.linalg.inv(fusion.extrinsics.base_from_camera.as_matrix()))


def to_camera(base: Trajectory, extrinsics: Extrinsics) -> Trajectory:
    """``map_from_camera`` of each ``map_from_base`` pose."""
    return _apply(base, extrinsics.base_from_camera.as_matrix())


def _apply(traj: Trajectory, right: np.ndarray) -> Trajectory:
    if not len(traj):
        return traj
    p, q = pose_from_matrix(pose_to_matrix(traj.positions, traj.quaternions) @ right)
    return Trajectory(traj.frames, traj.timestamps, p, q, traj.recordings)


def interpolate_trajectory(traj: Trajectory, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions and quaternions of ``traj`` at stamps ``t`` (linear / slerp) and the mask of
    stamps inside its time span (outside ones are clamped)."""
    from scipy.spatial.transform import Slerp

    from ..geometry import quat_from_scipy, quat_to_scipy

    t = np.asarray(t, float)
    inside = (t >= traj.timestamps[0]) & (t <= traj.timestamps[-1])
    tc = np.clip(t, traj.timestamps[0], traj.timestamps[-1])
    pos = np.stack([np.interp(tc, traj.timestamps, traj.positions[:, k]) for k in range(3)], axis=1)
    q = quat_from_scipy(Slerp(traj.timestamps, quat_to_scipy(traj.quaternions))(tc))
    return pos, q, inside


def replay(
    fusion: PoseFusion,
    fixes: Trajectory,
    odometry: Trajectory | None,
    fix_covariances: np.ndarray | None = None,
    fix_latency_s: float = 0.15,
) -> FusionRun:
    """Feed ``fixes`` (``map_from_camera`` at image stamps; covariances ``(N, 6, 6)`` ROS order or
    None for the config's default) and ``odometry`` (``odom_from_base``; None = constant-velocity
    mode, outputs at fix arrivals) through ``fusion`` in arrival order. See the module docstring."""
    n_odo = len(odometry) if odometry is not None else 0
    events = [(float(odometry.timestamps[i]), 0, i) for i in range(n_odo)]
    events += [(float(fixes.timestamps[i]) + fix_latency_s, 1, i) for i in range(len(fixes))]
    events.sort()
    out_t, out_f, out_p, out_q, out_c, odo_ms, upd_ms, upd_i = [], [], [], [], [], [], [], []

    def emit(res, frame):
        out_t.append(res.stamp)
        out_f.append(frame)
        out_p.append(res.map_from_base.position)
        out_q.append(res.map_from_base.quaternion)
        out_c.append(res.covariance)

    def run_update(now):
        before = fusion.stats.fixes_accepted
        t0 = time.perf_counter()
        fusion.update(now=now)
        if fusion.stats.fixes_accepted > before:
            upd_ms.append((time.perf_counter() - t0) * 1e3)
            upd_i.append(before)

    for t_arr, kind, i in events:
        if kind == 0:
            pose = Pose(odometry.positions[i], odometry.quaternions[i])
            t0 = time.perf_counter()
            res = fusion.add_odometry(float(odometry.timestamps[i]), pose)
            odo_ms.append((time.perf_counter() - t0) * 1e3)
            if res is not None:
                emit(res, odometry.frames[i])
            if fusion.num_pending:
                run_update(t_arr)
        else:
            cov = None if fix_covariances is None else fix_covariances[i]
            fusion.add_fix(float(fixes.timestamps[i]), Pose(fixes.positions[i], fixes.quaternions[i]), cov, t_arr)
            run_update(t_arr)
            if n_odo == 0 and fusion.initialised:
                emit(fusion.latest(), fixes.frames[i])
    outputs = Trajectory(out_f, np.asarray(out_t), np.asarray(out_p).reshape(-1, 3), np.asarray(out_q).reshape(-1, 4))
    return FusionRun(
        outputs=outputs,
        covariances=np.asarray(out_c).reshape(-1, 6, 6),
        raw_base=to_base(fixes, fusion),
        odometry_ms=np.asarray(odo_ms),
        update_ms=np.asarray(upd_ms),
        update_index=np.asarray(upd_i, int),
        stats=fusion.stats,
        extrinsics=fusion.extrinsics,
    )


@dataclass(frozen=True)
class FusionReport:
    """Fused outputs vs raw fixes against the ground-truth base poses.

    ``*_max_jump_m``: the largest difference between the motion of two consecutive outputs (or
    fixes) and the true motion over the same interval, metres (a pose jump); ``*_max_step_m``:
    the largest distance between two consecutive outputs. Latency: wall time of
    ``add_odometry`` per odometry message (ms). Update: smoother time per accepted fix (ms), over
    the first and the last fifth of the run (a fixed lag keeps them equal)."""

    fused: ErrorSummary
    raw: ErrorSummary
    fused_camera: ErrorSummary  # the same outputs as camera poses (base @ base_from_camera) vs the true camera
    raw_camera: ErrorSummary  # the raw fixes as they came (camera poses) vs the true camera
    fused_max_jump_m: float
    raw_max_jump_m: float
    fused_max_step_m: float
    fixes: int
    fixes_accepted: int
    fixes_rejected: int
    fixes_dropped: int
    resets: int
    first_output_s: float
    latency_ms_p50: float
    latency_ms_p95: float
    update_ms_p50: float
    update_ms_p95: float
    update_ms_first_fifth: float
    update_ms_last_fifth: float

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"fused (base, every output): {self.fused}",
            f"raw fixes (camera->base):   {self.raw}",
            f"camera frame: fused {self.fused_camera.position_median_m:.3f} / {self.fused_camera.position_mean_m:.3f}"
            f" / {self.fused_camera.position_p90_m:.3f} m (median/mean/p90), {self.fused_camera.rotation_median_deg:.2f}"
            f" deg median; raw fixes {self.raw_camera.position_median_m:.3f} / {self.raw_camera.position_mean_m:.3f} / "
            f"{self.raw_camera.position_p90_m:.3f} m, {self.raw_camera.rotation_median_deg:.2f} deg",
            f"max jump between consecutive outputs: fused {self.fused_max_jump_m:.3f} m (max step "
            f"{self.fused_max_step_m:.3f} m), raw fixes {self.raw_max_jump_m:.3f} m",
            f"fixes {self.fixes}: accepted {self.fixes_accepted}, rejected {self.fixes_rejected}, dropped "
            f"{self.fixes_dropped}; resets {self.resets}; first output at {self.first_output_s:.2f} s",
            f"pose-out latency per odometry message: p50 {self.latency_ms_p50:.3f} ms, p95 {self.latency_ms_p95:.3f} ms",
            f"smoother per accepted fix: p50 {self.update_ms_p50:.2f} ms, p95 {self.update_ms_p95:.2f} ms; "
            f"mean over first fifth {self.update_ms_first_fifth:.2f} ms, last fifth {self.update_ms_last_fifth:.2f} ms",
        ]


def _errors(traj: Trajectory, gt: Trajectory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, q, inside = interpolate_trajectory(gt, traj.timestamps)
    return position_error(traj.positions, p)[inside], rotation_error_deg(traj.quaternions, q)[inside], inside


def max_jump_m(traj: Trajectory, gt: Trajectory) -> float:
    """The largest jump of ``traj`` against ``gt`` (same frame and clock): the change of the
    position error between consecutive poses, m (true motion is not a jump); 0 for < 2 poses."""
    if len(traj) < 2:
        return 0.0
    p, _, inside = interpolate_trajectory(gt, traj.timestamps)
    d = np.diff(traj.positions, axis=0) - np.diff(p, axis=0)
    ok = inside[1:] & inside[:-1]
    return float(np.linalg.norm(d[ok], axis=1).max()) if ok.any() else 0.0


def evaluate_run(run: FusionRun, base_gt: Trajectory) -> FusionReport:
    """Compare ``run``'s outputs and raw fixes with the ground-truth base trajectory (same clock)."""
    if not len(run.outputs):
        raise ValueError("the fusion produced no output (never initialised): nothing to evaluate")
    fe, fr, _ = _errors(run.outputs, base_gt)
    re_, rr, _ = _errors(run.raw_base, base_gt)
    ext = run.extrinsics or Extrinsics.identity()
    cam_gt = to_camera(base_gt, ext)
    fce, fcr, _ = _errors(to_camera(run.outputs, ext), cam_gt)
    rce, rcr, _ = _errors(to_camera(run.raw_base, ext), cam_gt)
    lat = run.odometry_ms if run.odometry_ms.size else np.zeros(1)
    upd = run.update_ms if run.update_ms.size else np.zeros(1)
    k = max(1, upd.size // 5)
    s = run.stats
    return FusionReport(
        fused=summarize_errors(fe, fr),
        raw=summarize_errors(re_, rr),
        fused_camera=summarize_errors(fce, fcr),
        raw_camera=summarize_errors(rce, rcr),
        fused_max_jump_m=max_jump_m(run.outputs, base_gt),
        raw_max_jump_m=max_jump_m(run.raw_base, base_gt),
        fused_max_step_m=float(np.linalg.norm(np.diff(run.outputs.positions, axis=0), axis=1).max())
        if len(run.outputs) > 1
        else 0.0,
        fixes=s.fixes_received,
        fixes_accepted=s.fixes_accepted,
        fixes_rejected=s.fixes_rejected,
        fixes_dropped=s.fixes_dropped,
        resets=s.resets,
        first_output_s=float(run.outputs.timestamps[0] - base_gt.timestamps[0]),
        latency_ms_p50=float(np.percentile(lat, 50)),
        latency_ms_p95=float(np.percentile(lat, 95)),
        update_ms_p50=float(np.percentile(upd, 50)),
        update_ms_p95=float(np.percentile(upd, 95)),
        update_ms_first_fifth=float(upd[:k].mean()),
        update_ms_last_fifth=float(upd[-k:].mean()),
    )
