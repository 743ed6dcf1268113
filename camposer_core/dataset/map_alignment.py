"""Stage 3 of the builder: bring an SfM reconstruction (arbitrary frame and scale) into the map
frame (z up, floor at z = 0, metres).

Ways to align, all ending in one :class:`~camposer_core.alignment.Similarity`
``x_map = s R x_sfm + t`` applied to camera centres, orientations and points:

* **control points** (:func:`read_control_points`, :func:`align_control_points`): a file of
  ≥ 3 correspondences, one per line, ``#`` comments, optional header::

      frame_000010.jpg, 2.0, 0.5, 1.5        # a frame's camera centre ↔ map x, y, z (m)
      0.12, -0.40, 3.3, 6.0, 2.0, 0.0        # an SfM-frame point x, y, z ↔ map x, y, z

  fitted with :func:`~camposer_core.alignment.umeyama`; per-point residuals are reported and
  a warning is raised when the RMS residual exceeds ``warn_rmse_m``;
* **automatic gravity and floor** (:func:`align_gravity_floor`): "up" is the normal of the
  plane of the camera centres (a walk on one floor) when that plane is well defined and
  agrees with the mean camera up vector (``-y`` optical axis), otherwise the mean camera up
  vector; the floor is the densest level of sparse points below the cameras; x is the main
  walking direction, the first frame is above the origin. Metric scale comes from a known
  distance between two frames (``scale_distance``) or a known camera height above the floor
  (``camera_height``); without either the map is left in SfM units (``metric = False``);
* **ground truth** (:func:`align_to_groundtruth`): Umeyama from SfM camera centres to the
  ground-truth centres of the same frames (tests, benchmarks, imported poses).

:func:`compare_to_groundtruth` measures how far the aligned poses are from ground truth.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..alignment import Similarity, umeyama
from ..geometry import position_error, quat_to_matrix, rotation_error_deg
from ..trajectory import Trajectory

__all__ = [
    "ControlPoint",
    "MapAlignment",
    "read_control_points",
    "align_control_points",
    "align_gravity_floor",
    "align_to_groundtruth",
    "apply_alignment",
    "compare_to_groundtruth",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControlPoint:
    """One correspondence: ``frame`` (camera centre) or ``sfm_xyz`` ↔ ``map_xyz`` (metres)."""

    map_xyz: np.ndarray
    frame: str | None = None
    sfm_xyz: np.ndarray | None = None
    line: int = 0


@dataclass
class MapAlignment:
    """The SfM → map similarity and how it was found. ``residuals_m``: per correspondence
    (control points / ground truth), metres in the map frame. ``metric``: whether the scale is
    known."""

    method: str
    transform: Similarity
    metric: bool
    residuals_m: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def rmse_m(self) -> float:
        r = np.asarray(self.residuals_m)
        return float(np.sqrt(np.mean(r**2))) if r.size else float("nan")

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "metric": self.metric,
            "transform": self.transform.as_dict(),
            "residuals_m": {lab: float(r) for lab, r in zip(self.labels, self.residuals_m)},
            "rmse_m": self.rmse_m if self.residuals_m else None,
            "warnings": list(self.warnings),
            **self.details,
        }

    def summary(self) -> str:
        lines = [f"alignment: {self.method} (scale {self.transform.scale:.6g}{'' if self.metric else ', NOT metric'})"]
        for lab, r in zip(self.labels, self.residuals_m):
            lines.append(f"  residual {lab}: {r:.4f} m")
        if self.residuals_m:
            lines.append(f"  RMS residual {self.rmse_m:.4f} m")
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------- control points

_SPLIT = re.compile(r"[,\s]+")


def _is_number(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def read_control_points(path) -> list[ControlPoint]:
    """Read a control-point file (format in the module docstring). Raises ``ValueError``
    naming the file and line for malformed lines, and when fewer than 3 points are given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"control points file not found: {path}")
    points = []
    seen_header = False
    for lineno, raw in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        s = raw.split("#", 1)[0].strip()
        if not s:
            continue
        tok = [t for t in _SPLIT.split(s) if t]
        try:
            nums = [float(t) for t in tok]
        except ValueError:
            nums = None
        if nums is not None and len(nums) == 6:
            if not np.all(np.isfinite(nums)):
                raise ValueError(f"{path}:{lineno}: NaN or inf")
            points.append(ControlPoint(np.array(nums[3:]), sfm_xyz=np.array(nums[:3]), line=lineno))
            continue
        if len(tok) == 4:
            try:
                xyz = np.array([float(t) for t in tok[1:]])
            except ValueError:
                if not points and not seen_header and not any(_is_number(t) for t in tok[1:]):
                    seen_header = True
                    continue  # a header line such as "frame,x,y,z"
                raise ValueError(f"{path}:{lineno}: expected 'frame, x, y, z' with numbers, got {s!r}") from None
            if not np.all(np.isfinite(xyz)):
                raise ValueError(f"{path}:{lineno}: NaN or inf")
            points.append(ControlPoint(xyz, frame=tok[0], line=lineno))
            continue
        raise ValueError(
            f"{path}:{lineno}: expected 'frame, x, y, z' or 'sfm_x, sfm_y, sfm_z, x, y, z', got {len(tok)} values: {s!r}"
        )
    if len(points) < 3:
        raise ValueError(f"{path}: need at least 3 control points, found {len(points)}")
    return points


def align_control_points(
    points: list[ControlPoint], sfm: Trajectory, source: str = "control points", warn_rmse_m: float = 0.1
) -> MapAlignment:
    """Umeyama similarity from control points. Frames must be registered frames of ``sfm``.
    Raises ``ValueError`` for unknown frames and degenerate (collinear) points."""
    index = {f: i for i, f in enumerate(sfm.frames)}
    src, dst, labels = [], [], []
    for cp in points:
        if cp.frame is not None:
            if cp.frame not in index:
                raise ValueError(
                    f"{source}:{cp.line}: frame {cp.frame!r} is not a registered frame of the reconstruction"
                )
            src.append(sfm.positions[index[cp.frame]])
            labels.append(cp.frame)
        else:
            src.append(cp.sfm_xyz)
            labels.append(f"line {cp.line}")
        dst.append(cp.map_xyz)
    try:
        res = umeyama(np.asarray(src), np.asarray(dst), with_scale=True)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    out = MapAlignment("control_points", res.transform, True, res.residuals.tolist(), labels)
    if out.rmse_m > warn_rmse_m:
        worst = labels[int(np.argmax(res.residuals))]
        out.warnings.append(
            f"bad control-point fit: RMS residual {out.rmse_m:.3f} m > {warn_rmse_m} m (worst: {worst}); "
            "check the frame names and map coordinates"
        )
    return out


# --------------------------------------------------------------------------- gravity / floor


def _rotation_to_z(up: np.ndarray) -> np.ndarray:
    """Rotation matrix taking unit vector ``up`` to +z (minimal rotation)."""
    up = up / np.linalg.norm(up)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(up, z)
    s, c = np.linalg.norm(axis), float(np.dot(up, z))
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()


def estimate_up(sfm: Trajectory, max_disagreement_deg: float = 15.0) -> tuple[np.ndarray, str]:
    """Unit "up" vector in the SfM frame and where it came from (``trajectory_plane`` or
    ``camera_up``)."""
    R = quat_to_matrix(sfm.quaternions)
    cam_up = -R[:, :, 1].mean(axis=0)  # optical y points down
    cam_up /= np.linalg.norm(cam_up)
    c = sfm.positions - sfm.positions.mean(axis=0)
    if len(c) >= 10:
        _, sv, vt = np.linalg.svd(c, full_matrices=False)
        normal = vt[2] * np.sign(np.dot(vt[2], cam_up) or 1.0)
        planar = sv[2] < 0.15 * sv[1]
        angle = np.degrees(np.arccos(np.clip(np.dot(normal, cam_up), -1, 1)))
        if planar and angle < max_disagreement_deg:
            return normal, "trajectory_plane"
    return cam_up, "camera_up"


def estimate_floor_z(points_z: np.ndarray, cameras_z: np.ndarray, bin_size: float) -> float | None:
    """Height of the floor: the densest ``bin_size`` level of points below the lowest camera
    (refined to the median of the points around it). ``None`` when too few points."""
    below = points_z[points_z < cameras_z.min() - 2 * bin_size]
    if below.size < 20:
        return None
    lo = np.percentile(below, 0.5)
    bins = np.arange(lo, below.max() + bin_size, bin_size)
    if len(bins) < 2:
        return float(np.median(below))
    hist, edges = np.histogram(below, bins=bins)
    k = int(np.argmax(hist))
    centre = 0.5 * (edges[k] + edges[k + 1])
    near = below[np.abs(below - centre) <= 1.5 * bin_size]
    return float(np.median(near))


def align_gravity_floor(
    sfm: Trajectory,
    points: np.ndarray | None = None,
    scale_distance: tuple[str, str, float] | None = None,
    camera_height: float | None = None,
) -> MapAlignment:
    """Automatic map frame (see module docstring). Raises ``ValueError`` for unknown frames or
    a non-positive distance/height."""
    warnings = []
    up, up_source = estimate_up(sfm)
    R_up = _rotation_to_z(up)
    pos = sfm.positions @ R_up.T
    # yaw: main walking direction along x
    xy = pos[:, :2] - pos[:, :2].mean(axis=0)
    if len(xy) >= 2 and np.linalg.norm(xy) > 0:
        _, _, vt = np.linalg.svd(xy, full_matrices=False)
        yaw = -np.arctan2(vt[0, 1], vt[0, 0])
    else:
        yaw = 0.0
    Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1.0]])
    R = Rz @ R_up
    pos = sfm.positions @ R.T
    extent = float(np.ptp(pos[:, :2], axis=0).max()) if len(pos) > 1 else 1.0
    pts = None if points is None or len(points) == 0 else np.asarray(points) @ R.T
    floor_sfm = estimate_floor_z(pts[:, 2], pos[:, 2], max(extent, 1e-9) / 200) if pts is not None else None
    # scale
    scale, metric, scale_source = 1.0, False, "none"
    if scale_distance is not None:
        a, b, metres = scale_distance
        index = {f: i for i, f in enumerate(sfm.frames)}
        for f in (a, b):
            if f not in index:
                raise ValueError(f"--scale-distance: frame {f!r} is not a registered frame")
        if not metres > 0:
            raise ValueError(f"--scale-distance: distance must be positive, got {metres}")
        d = np.linalg.norm(sfm.positions[index[a]] - sfm.positions[index[b]])
        if d < 1e-9:
            raise ValueError(f"--scale-distance: frames {a} and {b} are at the same place in the reconstruction")
        scale, metric, scale_source = metres / d, True, "scale_distance"
    elif camera_height is not None:
        if not camera_height > 0:
            raise ValueError(f"--camera-height must be positive, got {camera_height}")
        if floor_sfm is None:
            raise ValueError("--camera-height: no floor found in the point cloud (too few points below the cameras)")
        h = float(np.median(pos[:, 2])) - floor_sfm
        scale, metric, scale_source = camera_height / h, True, "camera_height"
    else:
        warnings.append("no scale given (--scale-distance or --camera-height): the map is in SfM units, not metres")
    # floor at z = 0, first frame above the origin
    if floor_sfm is None:
        floor_sfm = float(np.median(pos[:, 2])) - (camera_height / scale if camera_height else 0.0)
        warnings.append(
            "no floor found in the point cloud: z = 0 is placed at the median camera height"
            + (" minus --camera-height" if camera_height else "")
        )
    t = -scale * np.array([pos[0, 0], pos[0, 1], floor_sfm])
    sim = Similarity(scale, R, t)
    details = {
        "up_source": up_source,
        "scale_source": scale_source,
        "camera_height_m": float(scale * (np.median(pos[:, 2]) - floor_sfm)),
    }
    return MapAlignment("gravity_floor", sim, metric, warnings=warnings, details=details)


# --------------------------------------------------------------------------- ground truth


def align_to_groundtruth(sfm: Trajectory, gt: Trajectory) -> MapAlignment:
    """Umeyama similarity from SfM camera centres to ground-truth centres of the same frames
    (matched by frame name)."""
    index = {f: i for i, f in enumerate(gt.frames)}
    common = [i for i, f in enumerate(sfm.frames) if f in index]
    if len(common) < 3:
        raise ValueError(f"ground truth shares only {len(common)} frames with the reconstruction (need 3)")
    src = sfm.positions[common]
    dst = gt.positions[[index[sfm.frames[i]] for i in common]]
    res = umeyama(src, dst, with_scale=True)
    out = MapAlignment("groundtruth", res.transform, True)
    out.details = {"frames": len(common), "rmse_m": res.rmse, "median_m": res.median}
    return out


def apply_alignment(sfm: Trajectory, alignment: MapAlignment) -> Trajectory:
    """The trajectory in the map frame."""
    p, q = alignment.transform.apply_poses(sfm.positions, sfm.quaternions)
    return Trajectory(sfm.frames, sfm.timestamps, p, q, sfm.recordings, dict(sfm.extra))


# --------------------------------------------------------------------------- evaluation


def compare_to_groundtruth(est: Trajectory, gt: Trajectory) -> dict:
    """Errors of map-frame poses ``est`` against ``gt`` (matched by frame name), metres/degrees.

    * ``map_frame``: raw errors, no fitting;
    * ``yaw_xy``: after the best rotation about z and horizontal translation (what an automatic
      gravity/floor alignment cannot know: heading and origin);
    * ``sim3``: after the best similarity (ATE, the reconstruction's own accuracy).
    Also ``path_length_m`` of the ground truth over the matched frames."""
    index = {f: i for i, f in enumerate(gt.frames)}
    common = [i for i, f in enumerate(est.frames) if f in index]
    if len(common) < 3:
        raise ValueError(f"ground truth shares only {len(common)} frames with the poses (need 3)")
    e = est.subset(np.asarray(common))
    g = gt.subset(np.asarray([index[f] for f in e.frames]))

    def stats(p, q):
        pe = position_error(p, g.positions)
        re = rotation_error_deg(q, g.quaternions)
        return {
            "rmse_m": float(np.sqrt(np.mean(pe**2))),
            "median_m": float(np.median(pe)),
            "max_m": float(pe.max()),
            "rotation_median_deg": float(np.median(re)),
            "rotation_max_deg": float(re.max()),
        }

    out = {"frames": len(common), "path_length_m": g.path_length(), "map_frame": stats(e.positions, e.quaternions)}
    # yaw + xy translation
    a = e.positions[:, :2] - e.positions[:, :2].mean(0)
    b = g.positions[:, :2] - g.positions[:, :2].mean(0)
    H = a.T @ b
    yaw = np.arctan2(H[0, 1] - H[1, 0], H[0, 0] + H[1, 1])
    Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1.0]])
    t = np.zeros(3)
    t[:2] = g.positions[:, :2].mean(0) - (Rz @ np.r_[e.positions[:, :2].mean(0), 0])[:2]
    p, q = Similarity(1.0, Rz, t).apply_poses(e.positions, e.quaternions)
    out["yaw_xy"] = stats(p, q)
    sim = umeyama(e.positions, g.positions).transform
    p, q = sim.apply_poses(e.positions, e.quaternions)
    out["sim3"] = {**stats(p, q), "scale": sim.scale}
    return out
