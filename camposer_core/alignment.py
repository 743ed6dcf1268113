"""Similarity alignment of point sets and trajectories, and trajectory metrics (ATE, RPE).

Frames and units:

* A :class:`Similarity` maps points of a *source* frame into a *target* frame:
  ``x_target = scale * R @ x_source + t`` (``t`` in target metres). Aligning an SfM
  reconstruction to the map is ``umeyama(src=sfm_positions, dst=map_positions)``.
* Orientations are camera-to-world (w, x, y, z) quaternions (see :mod:`camposer_core.geometry`);
  a similarity rotates them (``q_target = q_R * q_source``); scale does not change them.
* Errors are metres and degrees.

:func:`umeyama` is the closed-form least-squares solution of Umeyama (PAMI 1991), the same
formula as ``evo.core.geometry.umeyama_alignment`` (``test/test_alignment.py`` checks that
they agree). :func:`ransac_umeyama` wraps it with 3-point RANSAC for data with outliers.
Written here, not taken from a library, because none of the installed ones fits: evo is a
test-only dependency whose version would then pin the runtime, scipy's ``Rotation.align_vectors``
has no scale, and pycolmap's ``estimate_sim3d`` / ``estimate_sim3d_robust`` have no rigid
(scale-free) variant and return no inlier mask; evo stays the cross-check.
:func:`ate` and :func:`rpe` equal evo's APE (translation part) and RPE (translation part /
rotation angle in degrees, delta in frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import quat_canonical, quat_from_matrix, quat_multiply, relative_pose, rotation_error_deg

__all__ = [
    "Similarity",
    "AlignmentResult",
    "AteResult",
    "RpeResult",
    "umeyama",
    "ransac_umeyama",
    "ate",
    "rpe",
]

# Relative tolerance on singular values below which a point set counts as collinear.
_DEGENERATE_RTOL = 1e-9


def _as_points(points, name: str) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must be an (N, 3) array of points, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains NaN or inf")
    return p


# --------------------------------------------------------------------------- Similarity


@dataclass(frozen=True)
class Similarity:
    """``x_target = scale * rotation @ x_source + translation`` (a Sim(3) transform).

    ``scale`` is dimensionless (> 0), ``rotation`` a 3x3 proper rotation, ``translation`` metres
    in the target frame."""

    scale: float = 1.0
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self):
        s = float(self.scale)
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"similarity scale must be finite and > 0, got {self.scale}")
        R = np.asarray(self.rotation, dtype=np.float64)
        if R.shape != (3, 3) or not np.all(np.isfinite(R)):
            raise ValueError(f"similarity rotation must be a finite 3x3 matrix, got shape {R.shape}")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) <= 0:
            raise ValueError("similarity rotation is not a proper rotation matrix (R R^T != I or det <= 0)")
        t = np.asarray(self.translation, dtype=np.float64).reshape(-1)
        if t.shape != (3,) or not np.all(np.isfinite(t)):
            raise ValueError(f"similarity translation must be 3 finite numbers, got {self.translation}")
        object.__setattr__(self, "scale", s)
        object.__setattr__(self, "rotation", R.copy())
        object.__setattr__(self, "translation", t.copy())

    @classmethod
    def identity(cls) -> Similarity:
        return cls()

    @classmethod
    def from_matrix(cls, T) -> Similarity:
        """From a 4x4 matrix ``[[s R, t], [0, 1]]``."""
        T = np.asarray(T, dtype=np.float64)
        if T.shape != (4, 4):
            raise ValueError(f"similarity matrix must be 4x4, got shape {T.shape}")
        if not np.allclose(T[3], [0, 0, 0, 1]):
            raise ValueError("similarity matrix last row must be [0, 0, 0, 1]")
        sR = T[:3, :3]
        det = np.linalg.det(sR)
        if det <= 0:
            raise ValueError("similarity matrix has det(sR) <= 0 (reflection or singular)")
        s = det ** (1.0 / 3.0)
        return cls(s, sR / s, T[:3, 3])

    def as_matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix ``[[s R, t], [0, 1]]``."""
        T = np.eye(4)
        T[:3, :3] = self.scale * self.rotation
        T[:3, 3] = self.translation
        return T

    @property
    def quaternion(self) -> np.ndarray:
        """The rotation as a canonical (w, x, y, z) quaternion."""
        return quat_from_matrix(self.rotation)

    def apply(self, points) -> np.ndarray:
        """Map ``(3,)`` or ``(N, 3)`` source points into the target frame."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1] != 3:
            raise ValueError(f"points must have 3 coordinates, got shape {p.shape}")
        return self.scale * p @ self.rotation.T + self.translation

    def apply_poses(self, positions, quaternions):
        """Map camera-to-world poses from the source into the target frame.

        Positions (m) are transformed like points; orientations (w, x, y, z) are rotated by
        ``R`` (``q_target = q_R * q_source``), unaffected by scale. Returns canonical quaternions."""
        q = np.asarray(quaternions, dtype=np.float64)
        return self.apply(positions), quat_canonical(quat_multiply(self.quaternion, q))

    def inverse(self) -> Similarity:
        """The transform from target back to source."""
        R_inv = self.rotation.T
        return Similarity(1.0 / self.scale, R_inv, -(R_inv @ self.translation) / self.scale)

    def __matmul__(self, other: Similarity) -> Similarity:
        """``self @ other``: apply ``other`` first, then ``self``."""
        return Similarity(
            self.scale * other.scale,
            self.rotation @ other.rotation,
            self.scale * self.rotation @ other.translation + self.translation,
        )

    def as_dict(self) -> dict:
        """JSON-friendly form (``scale``, ``rotation`` row-major 3x3, ``translation``, and the
        rotation as ``quaternion_wxyz`` for reading)."""
        return {
            "scale": self.scale,
            "rotation": self.rotation.tolist(),
            "translation": self.translation.tolist(),
            "quaternion_wxyz": self.quaternion.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Similarity:
        try:
            return cls(float(d["scale"]), np.asarray(d["rotation"], float), np.asarray(d["translation"], float))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a similarity description (need scale, rotation, translation): {exc}") from exc


# --------------------------------------------------------------------------- Umeyama


@dataclass(frozen=True)
class AlignmentResult:
    """Result of aligning ``src`` onto ``dst``: ``dst ≈ transform.apply(src)``.

    ``residuals`` are per-point distances (m, target frame) after alignment for *all* points;
    ``inliers`` marks the points used for the final fit (all True for :func:`umeyama`)."""

    transform: Similarity
    residuals: np.ndarray
    inliers: np.ndarray

    @property
    def num_inliers(self) -> int:
        return int(np.count_nonzero(self.inliers))

    @property
    def rmse(self) -> float:
        """RMS residual over the inliers, metres."""
        r = self.residuals[self.inliers]
        return float(np.sqrt(np.mean(r**2))) if r.size else float("nan")

    @property
    def median(self) -> float:
        """Median residual over the inliers, metres."""
        r = self.residuals[self.inliers]
        return float(np.median(r)) if r.size else float("nan")


def _umeyama_batch(src: np.ndarray, dst: np.ndarray, with_scale: bool):
    """Umeyama for a batch: ``src``, ``dst`` of shape ``(B, K, 3)``.

    Returns ``(scale (B,), R (B, 3, 3), t (B, 3), valid (B,))``; ``valid`` is False where the
    source points are collinear/coincident or the cross-covariance has rank < 2."""
    mu_s = src.mean(axis=1)
    mu_d = dst.mean(axis=1)
    xs = src - mu_s[:, None, :]
    xd = dst - mu_d[:, None, :]
    k = src.shape[1]
    var_s = np.sum(xs**2, axis=(1, 2)) / k
    cov = np.einsum("bki,bkj->bij", xd, xs) / k  # Sigma_xy of eq. 38 (dst x src^T)
    U, D, Vt = np.linalg.svd(cov)
    sv_src = np.linalg.svd(xs, compute_uv=False)
    scale_ref = np.maximum(sv_src[:, 0], 1e-300)
    valid = (sv_src[:, 1] > _DEGENERATE_RTOL * scale_ref) & (D[:, 1] > _DEGENERATE_RTOL * np.maximum(D[:, 0], 1e-300))
    valid &= sv_src[:, 0] > 1e-12
    S = np.tile(np.eye(3), (len(src), 1, 1))
    flip = np.linalg.det(U) * np.linalg.det(Vt) < 0
    S[flip, 2, 2] = -1.0
    R = U @ S @ Vt
    if with_scale:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.einsum("bi,bii->b", D, S) / var_s
    else:
        scale = np.ones(len(src))
    t = mu_d - scale[:, None] * np.einsum("bij,bj->bi", R, mu_s)
    valid &= np.isfinite(scale) & (scale > 0)
    return scale, R, t, valid


def _residuals(sim_scale, R, t, src, dst) -> np.ndarray:
    return np.linalg.norm(dst - (sim_scale * src @ R.T + t), axis=-1)


def umeyama(src, dst, with_scale: bool = True) -> AlignmentResult:
    """Least-squares similarity (``with_scale``) or rigid transform with ``dst ≈ s R src + t``.

    ``src``, ``dst``: ``(N, 3)`` corresponding points (N >= 3). Raises ``ValueError`` when there
    are fewer than 3 points, the shapes differ, or the points are degenerate (collinear or
    coincident), for which the rotation is not determined."""
    src = _as_points(src, "src")
    dst = _as_points(dst, "dst")
    if src.shape != dst.shape:
        raise ValueError(f"src and dst must have the same shape, got {src.shape} and {dst.shape}")
    if len(src) < 3:
        raise ValueError(f"Umeyama alignment needs at least 3 point pairs, got {len(src)}")
    scale, R, t, valid = _umeyama_batch(src[None], dst[None], with_scale)
    if not valid[0]:
        raise ValueError(
            f"Umeyama alignment is degenerate: the {len(src)} points are collinear or coincident "
            "(in src or dst), so the rotation is not determined; use points spread in 2D/3D"
        )
    sim = Similarity(float(scale[0]), R[0], t[0])
    res = _residuals(sim.scale, sim.rotation, sim.translation, src, dst)
    return AlignmentResult(sim, res, np.ones(len(src), dtype=bool))


def ransac_umeyama(
    src,
    dst,
    threshold_m: float,
    iterations: int = 500,
    min_inliers: int = 3,
    seed: int | None = 0,
    with_scale: bool = True,
) -> AlignmentResult:
    """Robust similarity ``dst ≈ s R src + t`` by 3-point RANSAC, refit on the inliers.

    A point is an inlier when its residual after alignment is ``<= threshold_m`` (metres in the
    ``dst`` frame). The best minimal model (most inliers, then lowest inlier error) is refit with
    :func:`umeyama` on its inliers, and the inlier set is re-evaluated and refit until it stops
    changing (at most 10 rounds). Raises ``ValueError`` if fewer than ``min_inliers`` (and 3)
    points agree with any model, naming the count found."""
    src = _as_points(src, "src")
    dst = _as_points(dst, "dst")
    if src.shape != dst.shape:
        raise ValueError(f"src and dst must have the same shape, got {src.shape} and {dst.shape}")
    n = len(src)
    if n < 3:
        raise ValueError(f"RANSAC Umeyama needs at least 3 point pairs, got {n}")
    if not (threshold_m > 0):
        raise ValueError(f"threshold_m must be > 0, got {threshold_m}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    min_inliers = max(3, int(min_inliers))

    rng = np.random.default_rng(seed)
    # Minimal samples of 3 distinct indices, solved in one batch.
    idx = rng.integers(0, n, size=(iterations * 2, 3))
    idx = idx[(idx[:, 0] != idx[:, 1]) & (idx[:, 0] != idx[:, 2]) & (idx[:, 1] != idx[:, 2])][:iterations]
    if len(idx) == 0:
        idx = np.arange(3)[None]
    scale, R, t, valid = _umeyama_batch(src[idx], dst[idx], with_scale)
    best_mask, best_key = None, None
    for b in np.flatnonzero(valid):
        res = _residuals(scale[b], R[b], t[b], src, dst)
        mask = res <= threshold_m
        key = (int(mask.sum()), -float(np.sum(res[mask] ** 2)))
        if best_key is None or key > best_key:
            best_key, best_mask = key, mask
    if best_mask is None or best_key[0] < min_inliers:
        found = 0 if best_key is None else best_key[0]
        raise ValueError(
            f"RANSAC Umeyama found no model with >= {min_inliers} inliers within {threshold_m} m "
            f"(best: {found} of {n} points after {iterations} iterations); the correspondences "
            "are inconsistent or the threshold is too small"
        )

    mask = best_mask
    result = None
    for _ in range(10):
        try:
            fit = umeyama(src[mask], dst[mask], with_scale=with_scale)
        except ValueError:
            if result is None:
                raise
            break
        res = _residuals(fit.transform.scale, fit.transform.rotation, fit.transform.translation, src, dst)
        result = AlignmentResult(fit.transform, res, mask)
        new_mask = res <= threshold_m
        if np.array_equal(new_mask, mask) or new_mask.sum() < min_inliers:
            break
        mask = new_mask
    return result


# --------------------------------------------------------------------------- metrics


def _stats(errors: np.ndarray) -> tuple[float, float, float]:
    """(rmse, median, mean) of a non-empty error array."""
    return (
        float(np.sqrt(np.mean(errors**2))),
        float(np.median(errors)),
        float(np.mean(errors)),
    )


@dataclass(frozen=True)
class AteResult:
    """Absolute trajectory error: per-frame position errors (m) after aligning the estimate onto
    the ground truth with ``transform`` (``gt ≈ transform.apply(est)``)."""

    errors: np.ndarray
    rmse: float
    median: float
    mean: float
    max: float
    transform: Similarity
    align: str

    def __str__(self) -> str:
        return (
            f"ATE ({self.align}, n={len(self.errors)}): rmse {self.rmse:.4f} m, median "
            f"{self.median:.4f} m, mean {self.mean:.4f} m, max {self.max:.4f} m"
        )


def ate(est_positions, gt_positions, align: str = "sim3") -> AteResult:
    """Absolute trajectory error of estimated camera centres against ground truth (metres).

    ``align``: ``"sim3"`` (Umeyama with scale, for monocular SfM), ``"se3"`` (rigid) or
    ``"none"``. The estimate is aligned onto the ground truth; the errors are Euclidean
    distances, equal to evo's APE (translation part) with the same alignment."""
    est = _as_points(est_positions, "est_positions")
    gt = _as_points(gt_positions, "gt_positions")
    if est.shape != gt.shape:
        raise ValueError(f"estimate and ground truth differ in length: {len(est)} vs {len(gt)} positions")
    if len(est) == 0:
        raise ValueError("ATE needs at least one position")
    if align == "none":
        transform = Similarity.identity()
    elif align in ("sim3", "se3"):
        transform = umeyama(est, gt, with_scale=(align == "sim3")).transform
    else:
        raise ValueError(f"align must be 'sim3', 'se3' or 'none', got {align!r}")
    errors = np.linalg.norm(transform.apply(est) - gt, axis=1)
    rmse, median, mean = _stats(errors)
    return AteResult(errors, rmse, median, mean, float(errors.max()), transform, align)


@dataclass(frozen=True)
class RpeResult:
    """Relative pose error over frame pairs ``pairs[k] = (i, j)``, ``j = i + delta``.

    For each pair, ``E = (gt_i^-1 gt_j)^-1 (est_i^-1 est_j)``; ``translation_errors`` is
    ``|t(E)|`` in metres and ``rotation_errors_deg`` the rotation angle of ``E`` in degrees."""

    pairs: np.ndarray
    translation_errors: np.ndarray
    rotation_errors_deg: np.ndarray
    translation_rmse: float
    translation_median: float
    translation_mean: float
    rotation_rmse_deg: float
    rotation_median_deg: float
    rotation_mean_deg: float
    delta: int

    def __str__(self) -> str:
        return (
            f"RPE (delta={self.delta} frames, n={len(self.pairs)}): translation rmse "
            f"{self.translation_rmse:.4f} m, median {self.translation_median:.4f} m | rotation rmse "
            f"{self.rotation_rmse_deg:.3f} deg, median {self.rotation_median_deg:.3f} deg"
        )


def rpe(est_p, est_q, gt_p, gt_q, delta: int = 1, all_pairs: bool = False) -> RpeResult:
    """Relative pose error between consecutive poses ``delta`` frames apart.

    Poses are camera-to-world (positions ``(N, 3)`` m, quaternions ``(N, 4)`` w, x, y, z).
    Pairs are ``(0, d), (d, 2d), ...`` like evo's default, or every ``(i, i + d)`` with
    ``all_pairs=True``. No alignment is needed (relative motion is frame-independent), but the
    estimate must be metric (or scaled) for translation errors to mean metres."""
    est_p, gt_p = _as_points(est_p, "est positions"), _as_points(gt_p, "gt positions")
    est_q, gt_q = np.asarray(est_q, float), np.asarray(gt_q, float)
    n = len(est_p)
    if not (len(gt_p) == n and est_q.shape == (n, 4) and gt_q.shape == (n, 4)):
        raise ValueError(
            f"RPE needs equal-length trajectories: est {est_p.shape}/{est_q.shape}, gt {gt_p.shape}/{gt_q.shape}"
        )
    delta = int(delta)
    if delta < 1:
        raise ValueError(f"delta must be >= 1 frame, got {delta}")
    if n <= delta:
        raise ValueError(f"RPE with delta={delta} needs more than {delta} poses, got {n}")
    if all_pairs:
        i = np.arange(n - delta)
    else:
        i = np.arange(0, n, delta)[:-1]
        i = i[i + delta < n]
    j = i + delta
    t_gt, q_gt = relative_pose(gt_p[i], gt_q[i], gt_p[j], gt_q[j])
    t_est, q_est = relative_pose(est_p[i], est_q[i], est_p[j], est_q[j])
    t_err, q_err = relative_pose(t_gt, q_gt, t_est, q_est)
    trans = np.linalg.norm(t_err, axis=1)
    rot = rotation_error_deg(q_est, q_gt)
    t_rmse, t_med, t_mean = _stats(trans)
    r_rmse, r_med, r_mean = _stats(rot)
    return RpeResult(np.stack([i, j], axis=1), trans, rot, t_rmse, t_med, t_mean, r_rmse, r_med, r_mean, delta)
