"""Where along the walk an SfM trajectory goes wrong, against ground truth.

A reconstruction that is wrong everywhere by about the same rotation points at a convention
bug (axes, quaternion order, world-to-camera vs camera-to-world); an error that grows smoothly
along the walk is drift (or a wrong focal length); an error that *jumps* between two
consecutive frames is a fold: the model is made of pieces glued at a wrong relative pose (a
wrong loop-closure pair, or a fast turn with too few matches, where a revisit was registered
against a second copy of the same place).

:func:`error_profile` measures all three after a Sim(3) fit of the camera centres:

* per-frame position (m) and rotation (deg) errors,
* the constant rotation that best explains the orientation errors, on the world side
  (``q_est ≈ Q q_gt``: a frame/alignment bug) and on the camera side (``q_est ≈ q_gt Q``:
  a camera-axes bug), and the median error left after removing each,
* per-step relative-pose errors (:func:`camposer_core.alignment.rpe`, delta 1 frame) and the
  worst steps: a fold shows as one step whose rotation error is far above the median and whose
  length does not match the ground-truth step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alignment import rpe, umeyama
from ..geometry import position_error, quat_from_scipy, quat_inverse, quat_multiply, quat_to_scipy, rotation_error_deg
from ..trajectory import Trajectory

__all__ = ["ErrorProfile", "error_profile"]


@dataclass
class ErrorProfile:
    """Per-frame errors of an estimate against ground truth after a Sim(3) fit (see module
    docstring). Arrays are in frame order of ``frames``; ``steps`` are ``(i, i + 1)`` indices."""

    frames: list[str]
    position_errors_m: np.ndarray
    rotation_errors_deg: np.ndarray
    world_offset_deg: float
    camera_offset_deg: float
    rotation_median_deg: float
    rotation_median_without_world_offset_deg: float
    rotation_median_without_camera_offset_deg: float
    step_rotation_errors_deg: np.ndarray
    step_length_ratios: np.ndarray
    worst_steps: list[int]

    def folds(self, min_jump_deg: float = 3.0, factor: float = 10.0) -> list[int]:
        """Steps whose relative rotation error exceeds both ``min_jump_deg`` and ``factor``
        times the median step error: likely folds."""
        med = float(np.median(self.step_rotation_errors_deg)) if len(self.step_rotation_errors_deg) else 0.0
        bad = (self.step_rotation_errors_deg > min_jump_deg) & (self.step_rotation_errors_deg > factor * med)
        return [int(i) for i in np.flatnonzero(bad)]

    def segments(self, n: int = 10) -> list[tuple[str, str, float, float]]:
        """The walk cut into ``n`` consecutive pieces: ``(first frame, last frame, median
        position error m, median rotation error deg)``; shows smooth growth vs jumps."""
        out = []
        for idx in np.array_split(np.arange(len(self.frames)), max(1, min(n, len(self.frames)))):
            if len(idx):
                out.append(
                    (
                        self.frames[idx[0]],
                        self.frames[idx[-1]],
                        float(np.median(self.position_errors_m[idx])),
                        float(np.median(self.rotation_errors_deg[idx])),
                    )
                )
        return out

    def report(self, n_segments: int = 10, n_steps: int = 5) -> str:
        lines = [
            f"rotation error median {self.rotation_median_deg:.3f} deg; best constant world-side offset "
            f"{self.world_offset_deg:.2f} deg (median left {self.rotation_median_without_world_offset_deg:.3f}), "
            f"camera-side offset {self.camera_offset_deg:.2f} deg (median left "
            f"{self.rotation_median_without_camera_offset_deg:.3f})",
            "along the walk (first..last frame: median position error m, rotation error deg):",
        ]
        for a, b, pe, re in self.segments(n_segments):
            lines.append(f"  {a} .. {b}: {pe:.4f} m  {re:.3f} deg")
        med = float(np.median(self.step_rotation_errors_deg)) if len(self.step_rotation_errors_deg) else float("nan")
        lines.append(f"frame-to-frame steps: median rotation error {med:.3f} deg; worst:")
        for i in self.worst_steps[:n_steps]:
            lines.append(
                f"  {self.frames[i]} -> {self.frames[i + 1]}: rotation error {self.step_rotation_errors_deg[i]:.2f} deg,"
                f" step length x{self.step_length_ratios[i]:.2f} of ground truth"
            )
        folds = self.folds()
        lines.append(f"likely folds: {', '.join(f'{self.frames[i]}->{self.frames[i + 1]}' for i in folds) or 'none'}")
        return "\n".join(lines)


def _constant_offset(q_rel: np.ndarray) -> np.ndarray:
    """Mean rotation of ``q_rel`` (w, x, y, z) as a quaternion (chordal L2 mean, scipy)."""
    return quat_from_scipy(quat_to_scipy(q_rel).mean())


def error_profile(est: Trajectory, gt: Trajectory) -> ErrorProfile:
    """Error profile of ``est`` (any frame and scale) against ``gt``, matched by frame name, in
    ``est`` frame order. Raises ``ValueError`` with fewer than 3 common frames."""
    index = {f: i for i, f in enumerate(gt.frames)}
    common = np.asarray([i for i, f in enumerate(est.frames) if f in index], dtype=int)
    if len(common) < 3:
        raise ValueError(f"ground truth shares only {len(common)} frames with the estimate (need 3)")
    e = est.subset(common)
    g = gt.subset(np.asarray([index[f] for f in e.frames]))
    sim = umeyama(e.positions, g.positions).transform
    p, q = sim.apply_poses(e.positions, e.quaternions)
    pe = position_error(p, g.positions)
    re = rotation_error_deg(q, g.quaternions)
    world = _constant_offset(quat_multiply(q, quat_inverse(g.quaternions)))  # q ≈ W q_gt
    cam = _constant_offset(quat_multiply(quat_inverse(g.quaternions), q))  # q ≈ q_gt C
    re_w = rotation_error_deg(quat_multiply(quat_inverse(world), q), g.quaternions)
    re_c = rotation_error_deg(quat_multiply(q, quat_inverse(cam)), g.quaternions)
    ident = np.array([1.0, 0.0, 0.0, 0.0])
    if len(e) >= 2:
        r = rpe(p, q, g.positions, g.quaternions, delta=1)
        steps = np.asarray(r.rotation_errors_deg)
        le = np.linalg.norm(np.diff(p, axis=0), axis=1)
        lg = np.linalg.norm(np.diff(g.positions, axis=0), axis=1)
        ratio = le / np.maximum(lg, 1e-9)
    else:
        steps, ratio = np.zeros(0), np.zeros(0)
    return ErrorProfile(
        frames=list(e.frames),
        position_errors_m=pe,
        rotation_errors_deg=re,
        world_offset_deg=float(rotation_error_deg(world, ident)),
        camera_offset_deg=float(rotation_error_deg(cam, ident)),
        rotation_median_deg=float(np.median(re)),
        rotation_median_without_world_offset_deg=float(np.median(re_w)),
        rotation_median_without_camera_offset_deg=float(np.median(re_c)),
        step_rotation_errors_deg=steps,
        step_length_ratios=ratio,
        worst_steps=[int(i) for i in np.argsort(-steps)],
    )
