"""Simulated odometry of a robot base carrying the walkthrough camera.

The synthetic walk is of a camera; the robot "base" is that camera's rigid carrier: a fixed
``base_from_camera`` (:data:`SYNTHETIC_EXTRINSICS`: optical frame 0.10 m ahead of and 1.50 m
above the base origin, looking along the base's +x and pitched 3° down like the walker's mean
gaze), so ``map_from_base = map_from_camera @ camera_from_base``. The base therefore wobbles with
the walker's bob, pitch and roll (a legged or hand-held platform, not a flat wheeled one); the
odometry is a full 6-DoF relative motion.

:func:`simulate_odometry` integrates the true base motion between ``config.rate_hz`` samples with
drift: a scale error on the distance travelled, a yaw bias (rad/s) and white noise on each
increment. The ``odom`` frame starts at the first base pose (REP-105). It is a pure function of a
ground-truth trajectory, so it can be called per walk or scenario; :func:`write_odometry` writes
``odometry.csv`` and ``extrinsics.yaml`` beside a ``groundtruth.csv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ..fusion.extrinsics import Extrinsics
from ..geometry import quat_from_matrix, quat_to_scipy
from ..trajectory import Trajectory
from .path import camera_rotation

__all__ = [
    "OdometryConfig",
    "SYNTHETIC_EXTRINSICS",
    "base_trajectory",
    "simulate_odometry",
    "write_odometry",
    "ODOMETRY_NAMES",
]

ODOMETRY_NAMES = {"odometry": "odometry.csv", "extrinsics": "extrinsics.yaml"}


def _synthetic_extrinsics() -> Extrinsics:
    R = camera_rotation(np.array([0.0]), np.array([math.radians(-3.0)]), np.array([0.0]))[0]
    return Extrinsics.from_values([0.10, 0.0, 1.50], quat_from_matrix(R))


SYNTHETIC_EXTRINSICS = _synthetic_extrinsics()


@dataclass(frozen=True)
class OdometryConfig:
    """Odometry simulation: rate (Hz) and drift. ``scale_error`` multiplies every distance
    (0.02 = the odometry reads 2 % long), ``yaw_bias_deg_per_s`` adds a constant yaw rate,
    ``trans_noise_std`` (m per sqrt(m) travelled) and ``rot_noise_std_deg`` (deg per sqrt(s))
    are white noise on each increment."""

    rate_hz: float = 50.0
    scale_error: float = 0.02
    yaw_bias_deg_per_s: float = 0.3
    trans_noise_std: float = 0.01
    rot_noise_std_deg: float = 0.1

    def __post_init__(self):
        if not self.rate_hz > 0:
            raise ValueError(f"odometry rate_hz must be positive, got {self.rate_hz}")
        if not -0.5 < self.scale_error < 0.5:
            raise ValueError(f"odometry scale_error must be within (-0.5, 0.5), got {self.scale_error}")
        if self.trans_noise_std < 0 or self.rot_noise_std_deg < 0:
            raise ValueError("odometry noise standard deviations must be >= 0")


def base_trajectory(camera: Trajectory, extrinsics: Extrinsics = SYNTHETIC_EXTRINSICS) -> Trajectory:
    """``map_from_base`` poses of a camera trajectory (``map_from_camera @ camera_from_base``)."""
    T = camera.positions.shape[0]
    cam_from_base = np.linalg.inv(extrinsics.base_from_camera.as_matrix())
    from ..geometry import pose_from_matrix, pose_to_matrix

    M = pose_to_matrix(camera.positions, camera.quaternions) @ cam_from_base if T else np.zeros((0, 4, 4))
    p, q = pose_from_matrix(M) if T else (np.zeros((0, 3)), np.zeros((0, 4)))
    return Trajectory(camera.frames, camera.timestamps, p, q, camera.recordings)


def _resample(traj: Trajectory, t: np.ndarray) -> tuple[np.ndarray, Rotation]:
    """Positions (linear) and rotations (slerp) of ``traj`` at stamps ``t``."""
    pos = np.stack([np.interp(t, traj.timestamps, traj.positions[:, k]) for k in range(3)], axis=1)
    rot = Slerp(traj.timestamps, quat_to_scipy(traj.quaternions))(t)
    return pos, rot


def simulate_odometry(base: Trajectory, config: OdometryConfig | None = None, seed: int = 0) -> Trajectory:
    """Odometry of the base trajectory ``base`` (``map_from_base``, seconds): ``odom_from_base``
    poses at ``config.rate_hz`` over the trajectory's time span (frames ``000000, ...``). A pure
    function of its arguments (same seed → same odometry)."""
    config = config or OdometryConfig()
    if len(base) < 2:
        raise ValueError(f"odometry needs a trajectory of at least 2 poses, got {len(base)}")
    if np.any(np.diff(base.timestamps) <= 0):
        raise ValueError("odometry needs strictly increasing ground-truth timestamps")
    rng = np.random.default_rng(seed)
    t0, t1 = float(base.timestamps[0]), float(base.timestamps[-1])
    t = t0 + np.arange(int(math.floor((t1 - t0) * config.rate_hz + 1e-9)) + 1) / config.rate_hz
    t = np.minimum(t, t1)  # the 1e-9 slack may step past t1 by a rounding error (Slerp refuses that)
    pos, rot = _resample(base, t)
    R = rot.as_matrix()
    # true increments in the body frame of the previous sample
    d_pos = np.einsum("nji,nj->ni", R[:-1], pos[1:] - pos[:-1])
    d_rot = rot[:-1].inv() * rot[1:]
    dt = np.diff(t)
    dist = np.linalg.norm(d_pos, axis=1)
    d_pos = d_pos * (1.0 + config.scale_error) + rng.standard_normal(d_pos.shape) * (
        config.trans_noise_std * np.sqrt(dist)[:, None]
    )
    rv = d_rot.as_rotvec()
    rv[:, 2] += math.radians(config.yaw_bias_deg_per_s) * dt
    rv += rng.standard_normal(rv.shape) * math.radians(config.rot_noise_std_deg) * np.sqrt(dt)[:, None]
    d_rot = Rotation.from_rotvec(rv)
    n = len(t)
    out_p = np.zeros((n, 3))
    out_R = np.zeros((n, 3, 3))
    out_R[0] = np.eye(3)
    Rk = np.eye(3)
    pk = np.zeros(3)
    dR = d_rot.as_matrix()
    for k in range(n - 1):
        pk = pk + Rk @ d_pos[k]
        Rk = Rk @ dR[k]
        out_p[k + 1] = pk
        out_R[k + 1] = Rk
    return Trajectory([f"{i:06d}" for i in range(n)], t, out_p, quat_from_matrix(out_R))


def write_odometry(
    folder,
    camera: Trajectory,
    config: OdometryConfig | None = None,
    seed: int = 0,
    extrinsics: Extrinsics = SYNTHETIC_EXTRINSICS,
) -> dict[str, Path]:
    """Write ``odometry.csv`` (``odom_from_base``, Trajectory CSV layout) and ``extrinsics.yaml``
    for the camera walk ``camera`` (``map_from_camera``) into ``folder``. Returns the paths."""
    folder = Path(folder)
    odo = simulate_odometry(base_trajectory(camera, extrinsics), config, seed)
    paths = {k: folder / v for k, v in ODOMETRY_NAMES.items()}
    tmp = paths["odometry"].with_name(paths["odometry"].name + ".tmp")
    odo.save_csv(tmp)
    tmp.replace(paths["odometry"])
    extrinsics.save_yaml(paths["extrinsics"])
    return paths
