"""Pose geometry shared by every part of camposer.

Conventions (the only ones used in the project):

* A pose is **camera-to-world** (``T_world_cam``): ``position`` is the camera centre in the
  world/map frame in metres, and the rotation ``R`` maps a vector expressed in the camera
  frame into the world frame: ``p_world = R @ p_cam + position``.
* Quaternions are **(w, x, y, z)**, unit norm. :func:`quat_canonical` puts them in the
  hemisphere ``w >= 0`` (q and -q are the same rotation).
* scipy's :class:`~scipy.spatial.transform.Rotation` uses **(x, y, z, w)**; the conversion
  happens only in :func:`quat_to_scipy` / :func:`quat_from_scipy`.
* ROS ``geometry_msgs/Pose`` uses (x, y, z, w) too; :func:`pose_to_ros` / :func:`pose_from_ros`
  are the only place the project swaps the order for ROS.
* COLMAP stores **world-to-camera** ``(qvec, tvec)`` with ``x_cam = R_cw @ x_world + tvec``;
  :func:`pose_from_colmap` / :func:`pose_to_colmap` convert; pycolmap's ``Rigid3d`` /
  ``Rotation3d`` (quaternion stored x, y, z, w like Eigen) go through :func:`pose_from_rigid3d`.
* Camera axes are OpenCV / REP-103 optical: x right, y down, z forward.

All functions accept a single pose (``(3,)`` positions, ``(4,)`` quaternions) or a batch
(``(N, 3)``, ``(N, 4)``) and return the same leading shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = [
    "Pose",
    "quat_normalize",
    "quat_canonical",
    "quat_multiply",
    "quat_inverse",
    "quat_to_matrix",
    "quat_from_matrix",
    "quat_to_scipy",
    "quat_from_scipy",
    "quat_rotate",
    "pose_from_colmap",
    "pose_to_colmap",
    "pose_from_rigid3d",
    "pose_to_matrix",
    "pose_from_matrix",
    "pose_to_ros",
    "pose_from_ros",
    "compose",
    "invert",
    "relative_pose",
    "position_error",
    "rotation_error_deg",
    "ErrorSummary",
    "summarize_errors",
]

_EPS = 1e-12


# --------------------------------------------------------------------------- quaternions


def _as_quat(q) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] != 4:
        raise ValueError(f"quaternion must have 4 components (w, x, y, z), got shape {q.shape}")
    return q


def quat_normalize(q) -> np.ndarray:
    """Return ``q`` scaled to unit norm. Raises ``ValueError`` on zero or non-finite input."""
    q = _as_quat(q)
    if not np.all(np.isfinite(q)):
        raise ValueError("quaternion contains NaN or inf")
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n < _EPS):
        raise ValueError("cannot normalise a zero quaternion")
    return q / n


def quat_canonical(q) -> np.ndarray:
    """Unit quaternion in the canonical hemisphere ``w >= 0`` (ties broken by the first
    non-zero of x, y, z being positive), so equal rotations get equal components.

    ``|w| <= 1e-15`` counts as zero and is stored as exactly ``+0.0``, so ``w >= 0`` always holds."""
    q = quat_normalize(q)
    flat = q.reshape(-1, 4)
    nonzero = np.abs(flat) > 1e-15
    first = np.argmax(nonzero, axis=1)
    sign = np.where(flat[np.arange(len(flat)), first] < 0, -1.0, 1.0)
    flat = flat * sign[:, None]
    flat[:, 0] = np.where(nonzero[:, 0], flat[:, 0], 0.0)
    return flat.reshape(q.shape)


def quat_multiply(a, b) -> np.ndarray:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``), both (w, x, y, z)."""
    a, b = _as_quat(a), _as_quat(b)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_inverse(q) -> np.ndarray:
    """Inverse of a unit quaternion (its conjugate)."""
    q = quat_normalize(q)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_to_scipy(q) -> Rotation:
    """(w, x, y, z) → scipy ``Rotation`` (which stores x, y, z, w)."""
    q = quat_normalize(q)
    return Rotation.from_quat(np.roll(q, -1, axis=-1))


def quat_from_scipy(r: Rotation) -> np.ndarray:
    """scipy ``Rotation`` → canonical (w, x, y, z)."""
    return quat_canonical(np.roll(r.as_quat(), 1, axis=-1))


def quat_to_matrix(q) -> np.ndarray:
    """(w, x, y, z) → 3x3 rotation matrix (or ``(N, 3, 3)``)."""
    return quat_to_scipy(q).as_matrix()


def quat_from_matrix(R) -> np.ndarray:
    """3x3 rotation matrix (or ``(N, 3, 3)``) → canonical (w, x, y, z).

    The matrix is projected onto SO(3) by scipy; a reflection (det < 0) is rejected."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrix must be 3x3, got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError("rotation matrix contains NaN or inf")
    if np.any(np.linalg.det(R) <= 0):
        raise ValueError("matrix is not a rotation (determinant <= 0)")
    return quat_from_scipy(Rotation.from_matrix(R))


def quat_rotate(q, v) -> np.ndarray:
    """Rotate vector(s) ``v`` by quaternion(s) ``q``."""
    return quat_to_scipy(q).apply(np.asarray(v, dtype=np.float64))


# --------------------------------------------------------------------------- poses


@dataclass(frozen=True)
class Pose:
    """A camera-to-world pose: camera centre ``position`` (m, map frame) and orientation
    ``quaternion`` (w, x, y, z) rotating camera-frame vectors into the map frame."""

    position: np.ndarray
    quaternion: np.ndarray

    def __post_init__(self):
        p = np.asarray(self.position, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(p)):
            raise ValueError(f"pose position is not finite: {p}")
        object.__setattr__(self, "position", p)
        object.__setattr__(self, "quaternion", quat_canonical(np.asarray(self.quaternion).reshape(4)))

    @property
    def rotation_matrix(self) -> np.ndarray:
        return quat_to_matrix(self.quaternion)

    def as_matrix(self) -> np.ndarray:
        """4x4 homogeneous camera-to-world matrix."""
        return pose_to_matrix(self.position, self.quaternion)

    @classmethod
    def from_matrix(cls, T) -> Pose:
        return cls(*pose_from_matrix(T))

    def inverse(self) -> Pose:
        return Pose(*invert(self.position, self.quaternion))

    def __matmul__(self, other: Pose) -> Pose:
        """``self @ other``: compose, i.e. ``T_self @ T_other``."""
        return Pose(*compose(self.position, self.quaternion, other.position, other.quaternion))


def pose_from_colmap(qvec, tvec):
    """COLMAP world-to-camera ``(qvec (w,x,y,z), tvec)`` → camera-to-world ``(position, quat)``.

    COLMAP: ``x_cam = R_cw x_world + t``. The camera centre is ``-R_cw^T t`` and the
    camera-to-world rotation is ``R_cw^T``."""
    q_cw = quat_normalize(qvec)
    tvec = np.asarray(tvec, dtype=np.float64)
    q_wc = quat_inverse(q_cw)
    position = -quat_rotate(q_wc, tvec)
    return position, quat_canonical(q_wc)


def pose_from_rigid3d(cam_from_world):
    """pycolmap ``Rigid3d`` ``cam_from_world`` (world-to-camera; ``rotation.quat`` is x, y, z, w)
    → camera-to-world ``(position, quat)``; no detour through rotation matrices."""
    return pose_from_colmap(
        np.roll(np.asarray(cam_from_world.rotation.quat, np.float64), 1), cam_from_world.translation
    )


def pose_to_colmap(position, quaternion):
    """Camera-to-world ``(position, quat)`` → COLMAP world-to-camera ``(qvec, tvec)``."""
    q_cw = quat_inverse(quaternion)
    tvec = -quat_rotate(q_cw, np.asarray(position, dtype=np.float64))
    return quat_canonical(q_cw), tvec


def pose_to_matrix(position, quaternion) -> np.ndarray:
    """``(position, quat)`` → 4x4 (or ``(N, 4, 4)``) homogeneous matrix."""
    position = np.asarray(position, dtype=np.float64)
    R = quat_to_matrix(quaternion)
    T = np.zeros(position.shape[:-1] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = position
    T[..., 3, 3] = 1.0
    return T


def pose_from_matrix(T):
    """4x4 (or ``(N, 4, 4)``) homogeneous matrix → ``(position, quat)``."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"pose matrix must be 4x4, got shape {T.shape}")
    return T[..., :3, 3].copy(), quat_from_matrix(T[..., :3, :3])


def pose_to_ros(position, quaternion) -> dict:
    """Core pose → ``geometry_msgs/Pose`` field values (ROS order x, y, z, w)."""
    p = np.asarray(position, dtype=np.float64).reshape(3)
    w, x, y, z = quat_normalize(np.asarray(quaternion).reshape(4))
    return {
        "position": {"x": float(p[0]), "y": float(p[1]), "z": float(p[2])},
        "orientation": {"x": float(x), "y": float(y), "z": float(z), "w": float(w)},
    }


def pose_from_ros(position_xyz, orientation_xyzw):
    """``geometry_msgs/Pose`` values (position x,y,z; orientation x,y,z,w) → core pose."""
    x, y, z, w = np.asarray(orientation_xyzw, dtype=np.float64).reshape(4)
    return np.asarray(position_xyz, dtype=np.float64).reshape(3), quat_canonical([w, x, y, z])


def compose(p_a, q_a, p_b, q_b):
    """``T_a @ T_b``: pose ``b`` expressed in frame ``a``, mapped to ``a``'s parent."""
    return np.asarray(p_a, float) + quat_rotate(q_a, p_b), quat_canonical(quat_multiply(q_a, q_b))


def invert(p, q):
    """Inverse of a rigid transform ``(p, q)``."""
    q_inv = quat_inverse(q)
    return -quat_rotate(q_inv, p), quat_canonical(q_inv)


def relative_pose(p1, q1, p2, q2):
    """Relative pose ``T_1^{-1} T_2`` of frame 2 seen from frame 1.

    Returns ``(t_rel, q_rel)``: translation from camera 1 to camera 2 expressed in camera 1's
    axes, and rotation ``q1^{-1} q2``, so that ``compose(p1, q1, t_rel, q_rel) == (p2, q2)``."""
    p_inv, q_inv = invert(p1, q1)
    return compose(p_inv, q_inv, p2, q2)


# --------------------------------------------------------------------------- errors


def position_error(p_est, p_gt) -> np.ndarray:
    """Per-frame Euclidean distance between positions, metres."""
    return np.linalg.norm(np.asarray(p_est, float) - np.asarray(p_gt, float), axis=-1)


def rotation_error_deg(q_est, q_gt) -> np.ndarray:
    """Per-frame geodesic angle between orientations in degrees, in [0, 180].

    Sign-invariant: ``q`` and ``-q`` give 0. Computed as ``2 atan2(|v|, |w|)`` of the relative
    rotation ``q_gt^-1 q_est`` (accurate for tiny angles, unlike ``arccos`` of a dot product)."""
    d = quat_multiply(quat_inverse(q_gt), quat_normalize(q_est))
    return np.degrees(2.0 * np.arctan2(np.linalg.norm(d[..., 1:], axis=-1), np.abs(d[..., 0])))


# Rows of the plain-text error tables (report and refinement): (label, ErrorSummary field, format).
ERROR_TABLE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("position median (m)", "position_median_m", "{:.3f}"),
    ("position mean (m)", "position_mean_m", "{:.3f}"),
    ("position p90 (m)", "position_p90_m", "{:.3f}"),
    ("rotation median (deg)", "rotation_median_deg", "{:.2f}"),
    ("rotation mean (deg)", "rotation_mean_deg", "{:.2f}"),
    ("rotation p90 (deg)", "rotation_p90_deg", "{:.2f}"),
)


@dataclass(frozen=True)
class ErrorSummary:
    """Median / mean / 90th percentile of per-frame errors (metres and degrees), and the
    fraction of frames within the standard (0.25 m, 2°), (0.5 m, 5°), (1 m, 10°) bins."""

    count: int
    position_median_m: float
    position_mean_m: float
    position_p90_m: float
    rotation_median_deg: float
    rotation_mean_deg: float
    rotation_p90_deg: float
    within_025m_2deg: float
    within_05m_5deg: float
    within_1m_10deg: float

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"n={self.count}  position median {self.position_median_m:.3f} m, mean "
            f"{self.position_mean_m:.3f} m, p90 {self.position_p90_m:.3f} m | rotation median "
            f"{self.rotation_median_deg:.2f} deg, mean {self.rotation_mean_deg:.2f} deg, p90 "
            f"{self.rotation_p90_deg:.2f} deg | within (0.25m,2deg) {100 * self.within_025m_2deg:.1f}%"
            f" (0.5m,5deg) {100 * self.within_05m_5deg:.1f}% (1m,10deg) {100 * self.within_1m_10deg:.1f}%"
        )


def summarize_errors(pos_err_m, rot_err_deg) -> ErrorSummary:
    """Summarise per-frame position (m) and rotation (deg) errors. Raises on empty or NaN."""
    pe = np.asarray(pos_err_m, dtype=np.float64).reshape(-1)
    re = np.asarray(rot_err_deg, dtype=np.float64).reshape(-1)
    if pe.size == 0 or pe.shape != re.shape:
        raise ValueError(f"need equal, non-empty error arrays (got {pe.size} and {re.size})")
    if not (np.all(np.isfinite(pe)) and np.all(np.isfinite(re))):
        raise ValueError("errors contain NaN or inf")

    def within(m, d):
        return float(np.mean((pe <= m) & (re <= d)))

    return ErrorSummary(
        count=int(pe.size),
        position_median_m=float(np.median(pe)),
        position_mean_m=float(np.mean(pe)),
        position_p90_m=float(np.percentile(pe, 90)),
        rotation_median_deg=float(np.median(re)),
        rotation_mean_deg=float(np.mean(re)),
        rotation_p90_deg=float(np.percentile(re, 90)),
        within_025m_2deg=within(0.25, 2.0),
        within_05m_5deg=within(0.5, 5.0),
        within_1m_10deg=within(1.0, 10.0),
    )
