"""Absolute pose from 2D-3D correspondences: pycolmap LO-RANSAC PnP + non-linear refinement,
with the pose covariance in the project's convention.

``pycolmap.estimate_and_refine_absolute_pose`` returns ``cam_from_world`` and (with
``return_covariance``) the 6x6 covariance of ``[rotation, translation]`` of ``cam_from_world``,
rotation in the tangent space of its quaternion (Ceres' quaternion manifold: a perturbation
``d`` multiplies the quaternion by ``[cos|d|, sin|d| d/|d|]`` on the left, a rotation by the
rotation vector ``2 d`` in camera axes: ``R_cw' = exp(2d) R_cw``). :func:`covariance_in_map`
propagates it to the camera centre ``C = -R_cw^T t`` and to a rotation vector about the map
frame's axes::

    dC     = -R_cw^T dt - 2 R_cw^T [t]x d          dtheta_map = -2 R_cw^T d

(checked against the scatter of repeated noisy solves in test/test_localization.py).

giving the 6x6 x, y, z (m^2), roll, pitch, yaw (rad^2, small angles about the map axes) that
:class:`~camposer_core.localizer.PoseEstimate` documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import PinholeCamera
from ..geometry import quat_canonical

__all__ = ["PnPConfig", "PnPResult", "colmap_camera", "solve_pnp", "covariance_in_map"]


@dataclass(frozen=True)
class PnPConfig:
    """``max_error_px``: RANSAC inlier threshold at 640 px image width (scaled with the query
    width); ``min_correspondences`` below which PnP is not attempted."""

    max_error_px: float = 8.0
    min_correspondences: int = 12
    confidence: float = 0.9999
    max_trials: int = 2000
    seed: int = 0


@dataclass
class PnPResult:
    position: np.ndarray  # (3,) camera centre, map frame
    quaternion: np.ndarray  # (4,) w x y z camera-to-world
    covariance: np.ndarray  # (6, 6) x y z roll pitch yaw, m^2 / rad^2
    inliers: int
    correspondences: int
    inlier_mask: np.ndarray

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / max(1, self.correspondences)


def colmap_camera(camera: PinholeCamera, width: int, height: int):
    """pycolmap camera of ``camera`` scaled to ``width x height`` (COLMAP puts the centre of
    the top-left pixel at (0.5, 0.5), OpenCV at (0, 0))."""
    import pycolmap

    cam = camera.scaled(width, height) if (camera.width, camera.height) != (width, height) else camera
    cx, cy = cam.cx + 0.5, cam.cy + 0.5
    if cam.has_distortion:
        k1, k2, p1, p2 = cam.distortion[:4]
        return pycolmap.Camera(
            model="OPENCV", width=width, height=height, params=[cam.fx, cam.fy, cx, cy, k1, k2, p1, p2]
        )
    return pycolmap.Camera(model="PINHOLE", width=width, height=height, params=[cam.fx, cam.fy, cx, cy])


def covariance_in_map(R_cw: np.ndarray, t: np.ndarray, cov_cw: np.ndarray) -> np.ndarray:
    """6x6 covariance of ``[rotation, translation]`` of ``cam_from_world`` (pycolmap) → of
    ``[camera centre, rotation about map axes]`` (see module docstring)."""
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    J = np.zeros((6, 6))
    J[:3, :3] = -2.0 * R_cw.T @ tx
    J[:3, 3:] = -R_cw.T
    J[3:, :3] = -2.0 * R_cw.T
    cov = J @ cov_cw @ J.T
    return 0.5 * (cov + cov.T)


def solve_pnp(points2D: np.ndarray, points3D: np.ndarray, camera, config: PnPConfig = PnPConfig()) -> PnPResult | None:
    """Camera-to-world pose from ``points2D`` ``(N, 2)`` (COLMAP pixels of an image of the
    ``camera``'s size) and ``points3D`` ``(N, 3)`` (map frame); ``None`` when RANSAC fails."""
    import pycolmap

    if len(points2D) < config.min_correspondences:
        return None
    est = pycolmap.AbsolutePoseEstimationOptions()
    est.ransac.max_error = config.max_error_px * camera.width / 640.0
    est.ransac.confidence = config.confidence
    est.ransac.max_num_trials = config.max_trials
    est.ransac.random_seed = config.seed
    ref = pycolmap.AbsolutePoseRefinementOptions()
    ans = pycolmap.estimate_and_refine_absolute_pose(
        np.ascontiguousarray(points2D, np.float64),
        np.ascontiguousarray(points3D, np.float64),
        camera,
        est,
        ref,
        return_covariance=True,
    )
    if ans is None:
        return None
    cam_from_world = ans["cam_from_world"]
    R_cw = np.asarray(cam_from_world.rotation.matrix())
    t = np.asarray(cam_from_world.translation, float)
    position = -R_cw.T @ t
    from ..geometry import quat_from_matrix

    quat = quat_canonical(quat_from_matrix(R_cw.T))
    cov_cw = np.asarray(ans.get("covariance", np.full((6, 6), np.nan)), float)
    mask = np.asarray(ans["inlier_mask"], bool)
    return PnPResult(position, quat, covariance_in_map(R_cw, t, cov_cw), int(ans["num_inliers"]), len(points2D), mask)
