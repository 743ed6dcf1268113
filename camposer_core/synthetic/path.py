"""The walkthrough: a person-like camera path around the corridor loop.

Anticlockwise (seen from above) laps of the corridor loop's centre line with rounded corners,
a smooth sideways deviation that differs from lap to lap (so one lap can be held out), a
walking speed around ``config.speed`` that drops in the corners, eye height with a step bob,
yaw that looks ahead along the path with occasional head turns, and small pitch/roll wobble.

Every lap starts at the middle of the south corridor. Poses are camera-to-world with OpenCV
optical axes: a level camera looking along +x has ``R = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from ..geometry import quat_from_matrix
from ..trajectory import Trajectory
from .config import SynthConfig
from .floorplan import CorridorLoop

__all__ = ["loop_centre_line", "generate_walkthrough", "camera_rotation", "R_BODY_TO_OPTICAL"]

# columns: optical x (right) -> -y_body, optical y (down) -> -z_body, optical z (forward) -> x_body
R_BODY_TO_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
_DS = 0.02  # arc-length sampling of the dense path, m


def loop_centre_line(loop: CorridorLoop, ds: float = _DS) -> tuple[np.ndarray, np.ndarray]:
    """Dense samples of one anticlockwise lap of the rounded centre line, starting mid-south.

    Returns ``(points (M, 2), tangents (M, 2))`` spaced ``ds`` metres apart (the last sample
    is just before the start)."""
    r = loop.corner_radius
    x0, y0, x1, y1 = loop.x0, loop.y0, loop.x1, loop.y1
    sx, sy = x1 - x0 - 2 * r, y1 - y0 - 2 * r
    arc = 0.5 * math.pi * r
    # pieces: half south, SE arc, east, NE arc, north, NW arc, west, SW arc, half south
    lengths = [sx / 2, arc, sy, arc, sx, arc, sy, arc, sx / 2]
    total = float(sum(lengths))
    s = np.arange(0.0, total, ds)
    pts = np.empty((len(s), 2))
    tan = np.empty((len(s), 2))
    bounds = np.concatenate([[0.0], np.cumsum(lengths)])
    corners = [(x1 - r, y0 + r), (x1 - r, y1 - r), (x0 + r, y1 - r), (x0 + r, y0 + r)]
    starts = [(x0 + r + sx / 2, y0), None, (x1, y0 + r), None, (x1 - r, y1), None, (x0, y1 - r), None, (x0 + r, y0)]
    dirs = [(1, 0), None, (0, 1), None, (-1, 0), None, (0, -1), None, (1, 0)]
    for k in range(9):
        m = (s >= bounds[k]) & (s < bounds[k + 1])
        t = s[m] - bounds[k]
        if k % 2 == 0:
            d = np.array(dirs[k], float)
            pts[m] = np.asarray(starts[k]) + t[:, None] * d
            tan[m] = d
        else:
            cx, cy = corners[k // 2]
            a = -0.5 * math.pi + (k // 2) * 0.5 * math.pi + t / r  # angle on the corner circle
            pts[m] = np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1)
            tan[m] = np.stack([-np.sin(a), np.cos(a)], axis=1)
    return pts, tan


def _smooth(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Smooth zero-mean noise with unit standard deviation, correlation ~``sigma`` samples."""
    sigma = max(float(sigma), 0.5)
    pad = int(4 * sigma) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma)[pad : pad + n]
    sd = x.std()
    return x / sd if sd > 0 else x


def camera_rotation(yaw, pitch, roll) -> np.ndarray:
    """Camera-to-world rotation matrices ``(N, 3, 3)`` (optical axes) from body yaw (about z,
    0 = looking along +x), pitch (positive = looking up) and roll, radians."""
    body = Rotation.from_euler("ZYX", np.stack([yaw, -np.asarray(pitch), roll], axis=-1)).as_matrix()
    return body @ R_BODY_TO_OPTICAL


def generate_walkthrough(loop: CorridorLoop, config: SynthConfig, rng: np.random.Generator) -> Trajectory:
    """``config.laps`` laps at ``config.fps``: frames ``000000, 000001, ...``, timestamps
    ``index / fps`` seconds, recordings ``lap0, lap1, ...``."""
    base, tan = loop_centre_line(loop)
    lap_len = len(base) * _DS
    n_lap = len(base)
    n = n_lap * config.laps
    s = np.arange(n) * _DS  # distance along the base centre line, all laps
    nrm = np.stack([-tan[:, 1], tan[:, 0]], axis=1)  # left of travel = towards the core
    # sideways deviation: smooth, different each lap, ~8 m correlation
    lat = _smooth(rng, n, 4.0 / _DS)
    lat = config.lateral_amplitude * np.tanh(0.8 * lat)
    idx = np.arange(n) % n_lap
    xy = base[idx] + lat[:, None] * nrm[idx]
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    sigma_xy = np.concatenate([[0.0], np.cumsum(seg)])  # arc length of the actual path
    # walking speed: slower in corners, slow drift
    straight = (np.abs(tan[idx, 0]) > 0.999) | (np.abs(tan[idx, 1]) > 0.999)
    corner = gaussian_filter1d(1.0 - straight.astype(float), 1.0 / _DS)
    v = config.speed * (1.0 + 0.07 * _smooth(rng, n, 6.0 / _DS)) * (1.0 - 0.2 * corner)
    t_of = np.concatenate([[0.0], np.cumsum(seg / (0.5 * (v[1:] + v[:-1])))])
    T = t_of[-1]
    n_frames = int(math.floor(T * config.fps)) + 1
    t = np.arange(n_frames) / config.fps
    t = t[t <= T]
    n_frames = len(t)
    fx = np.interp(t, t_of, xy[:, 0])
    fy = np.interp(t, t_of, xy[:, 1])
    s_f = np.interp(t, t_of, s)
    sig_f = np.interp(t, t_of, sigma_xy)
    v_f = np.interp(t, t_of, v)
    lap = np.minimum((s_f / lap_len).astype(int), config.laps - 1)
    # yaw: look 1 m ahead along the path
    ahead = np.interp(sig_f + 1.0, sigma_xy, np.arange(n))
    ai = np.clip(np.round(ahead).astype(int), 0, n - 1)
    yaw = np.arctan2(xy[ai, 1] - fy, xy[ai, 0] - fx)
    last = sig_f + 1.0 > sigma_xy[-1]
    if last.any():
        tangent = tan[idx[np.clip(np.round(np.interp(sig_f, sigma_xy, np.arange(n))).astype(int), 0, n - 1)]]
        yaw[last] = np.arctan2(tangent[last, 1], tangent[last, 0])
    yaw = np.unwrap(yaw)
    # occasional head turns (raised-cosine excursions), small yaw jitter
    turns = np.zeros(n_frames)
    tt = rng.exponential(config.head_turn_interval)
    max_turn = math.radians(config.head_turn_max_deg)
    while tt < T:
        dur = rng.uniform(1.5, 3.5)
        amp = rng.uniform(0.35, 1.0) * max_turn * (1 if rng.random() < 0.5 else -1)
        m = (t >= tt) & (t <= tt + dur)
        turns[m] += amp * np.sin(np.pi * (t[m] - tt) / dur) ** 2
        tt += dur + rng.exponential(config.head_turn_interval)
    fps = config.fps
    yaw = yaw + turns + math.radians(2.0) * _smooth(rng, n_frames, 1.5 * fps)
    # step bob (~1.8 Hz at 1.4 m/s), sway, pitch and roll
    step_phase = 2 * np.pi * 1.8 * np.cumsum(v_f / config.speed) / fps + rng.uniform(0, 2 * np.pi)
    z = config.camera_height + config.bob_amplitude * np.sin(2 * step_phase) + 0.01 * _smooth(rng, n_frames, 2 * fps)
    pitch = math.radians(-3.0) + math.radians(config.pitch_std_deg) * _smooth(rng, n_frames, 1.2 * fps)
    roll = math.radians(config.roll_std_deg) * _smooth(rng, n_frames, 1.2 * fps) + math.radians(0.4) * np.sin(
        step_phase
    )
    R = camera_rotation(yaw, pitch, roll)
    quats = quat_from_matrix(R)
    return Trajectory(
        frames=[f"{i:06d}" for i in range(n_frames)],
        timestamps=t,
        positions=np.stack([fx, fy, z], axis=1),
        quaternions=quats,
        recordings=[f"lap{k}" for k in lap],
    )
