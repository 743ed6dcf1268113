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
from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from ..geometry import quat_from_matrix
from ..trajectory import Trajectory
from .config import SynthConfig
from .floorplan import CorridorLoop, FloorPlan

__all__ = [
    "loop_centre_line",
    "generate_walkthrough",
    "generate_mapping_walk",
    "camera_rotation",
    "R_BODY_TO_OPTICAL",
    "Route",
    "WalkStyle",
    "loop_route",
    "add_room_visits",
    "walk_route",
]

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


# --------------------------------------------------------------------------- general routes
# The walkthrough above is kept bit-for-bit (the default building's demo and tests depend on
# it). The functions below build any other walk: a dense 2-D route (laps in either direction,
# U-turns, visits into rooms) walked by a person or a robot (:class:`WalkStyle`).


@dataclass(frozen=True)
class WalkStyle:
    """How the camera moves along a route (m, m/s, degrees, seconds)."""

    speed: float = 1.4  # mean speed
    camera_height: float = 1.5
    bob_amplitude: float = 0.025  # vertical step bob
    height_jitter: float = 0.01  # slow height wander (std)
    lateral_amplitude: float = 0.25  # max sideways deviation from the route (corridors only)
    head_turn_interval: float = 9.0  # mean s between head turns (inf = none)
    head_turn_max_deg: float = 40.0
    yaw_jitter_deg: float = 2.0
    pitch_mean_deg: float = -3.0
    pitch_std_deg: float = 2.5
    roll_std_deg: float = 1.0
    step_roll_deg: float = 0.4
    look_ahead_m: float = 1.0  # the camera looks at the path point this far ahead
    yaw_smoothing_s: float = 0.0  # extra smoothing of the yaw (robot: no jerks)

    @classmethod
    def person(cls, config: SynthConfig, **changes) -> WalkStyle:
        """A person carrying the camera, as in the mapping walkthrough of ``config``."""
        base = cls(
            speed=config.speed,
            camera_height=config.camera_height,
            bob_amplitude=config.bob_amplitude,
            lateral_amplitude=config.lateral_amplitude,
            head_turn_interval=config.head_turn_interval,
            head_turn_max_deg=config.head_turn_max_deg,
            pitch_std_deg=config.pitch_std_deg,
            roll_std_deg=config.roll_std_deg,
        )
        return replace(base, **changes)

    @classmethod
    def robot(cls, **changes) -> WalkStyle:
        """A wheeled robot: camera 0.6 m high, level, no bob, no head turns, smooth yaw along
        the direction of travel."""
        base = cls(
            speed=0.8,
            camera_height=0.6,
            bob_amplitude=0.0,
            height_jitter=0.0,
            lateral_amplitude=0.5,
            head_turn_interval=math.inf,
            head_turn_max_deg=0.0,
            yaw_jitter_deg=0.0,
            pitch_mean_deg=0.0,
            pitch_std_deg=0.2,
            roll_std_deg=0.2,
            step_roll_deg=0.0,
            look_ahead_m=0.4,
            yaw_smoothing_s=0.6,
        )
        return replace(base, **changes)


@dataclass
class Route:
    """A dense 2-D route (samples ``_DS`` m apart, map frame): ``xy (M, 2)``, unit
    ``tangent (M, 2)``, ``lap (M,)`` lap index, ``free (M,)`` 1 where the walker may deviate
    sideways (corridors), 0 in room visits and U-turns."""

    xy: np.ndarray
    tangent: np.ndarray
    lap: np.ndarray
    free: np.ndarray

    def __len__(self) -> int:
        return len(self.xy)


def _resample(xy: np.ndarray, lap: np.ndarray, free: np.ndarray, smooth_m: float = 0.0) -> Route:
    """Resample a polyline at ``_DS`` spacing (optionally Gaussian-smoothed over ``smooth_m``)."""
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 1e-9])
    xy, lap, free = xy[keep], lap[keep], free[keep]
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    t = np.arange(0.0, s[-1], _DS)
    out = np.stack([np.interp(t, s, xy[:, 0]), np.interp(t, s, xy[:, 1])], axis=1)
    lap_t = lap[np.clip(np.searchsorted(s, t, side="right") - 1, 0, len(lap) - 1)]
    free_t = np.interp(t, s, free.astype(float))
    if smooth_m > 0:
        out = gaussian_filter1d(out, smooth_m / _DS, axis=0, mode="nearest")
    tan = np.gradient(out, axis=0)
    tan /= np.maximum(np.linalg.norm(tan, axis=1, keepdims=True), 1e-12)
    return Route(out, tan, lap_t, free_t)


def loop_route(loop: CorridorLoop, laps: int, directions: str = "ccw") -> Route:
    """``laps`` laps of the corridor loop's centre line from the middle of the south corridor.
    ``directions``: ``"ccw"`` (anticlockwise, as the walkthrough), ``"cw"``, or ``"alternate"``
    (ccw, cw, ccw, ...; the walker turns round in the corridor between laps)."""
    if directions not in ("ccw", "cw", "alternate"):
        raise ValueError(f"directions must be 'ccw', 'cw' or 'alternate', got {directions!r}")
    pts, _ = loop_centre_line(loop)
    turn_r = max(0.3, min(0.4, 0.5 * loop.free_width - 0.6))
    pieces, laps_idx, free = [], [], []
    for k in range(laps):
        ccw = directions == "ccw" or (directions == "alternate" and k % 2 == 0)
        if k > 0 and directions == "alternate":
            # U-turn past the start point: a half circle across the corridor (d = +1: the
            # previous lap arrived heading +x)
            d = -1.0 if ccw else 1.0
            c = pts[0] + np.array([d * 1.0, 0.0])
            a = np.linspace(-0.5 * math.pi, 0.5 * math.pi, 31)
            arc = np.stack([c[0] + d * turn_r * np.cos(a), c[1] + turn_r * np.sin(a)], axis=1)
            pieces.append(arc)
            laps_idx.append(np.full(len(arc), k))
            free.append(np.zeros(len(arc)))
        p = pts if ccw else np.concatenate([pts[:1], pts[1:][::-1]])
        pieces.append(p)
        laps_idx.append(np.full(len(p), k))
        free.append(np.ones(len(p)))
    pieces.append(pts[:1])
    laps_idx.append(np.full(1, laps - 1))
    free.append(np.ones(1))
    return _resample(np.concatenate(pieces), np.concatenate(laps_idx), np.concatenate(free), smooth_m=0.25)


def _visit_waypoints(route: Route, i: int, door, room, depth: float, r: float) -> np.ndarray:
    """Waypoints of a visit through ``door`` into ``room`` from route sample ``i``: to the
    doorway, straight in to ``depth`` m, a small loop of radius ``r`` (the walker turns round),
    back out to the route."""
    mid = 0.5 * (door.a0 + door.a1)
    if door.axis == "x":  # wall along x at y = c
        P = np.array([mid, door.c])
        n = np.array([0.0, math.copysign(1.0, 0.5 * (room.y0 + room.y1) - door.c)])
    else:
        P = np.array([door.c, mid])
        n = np.array([math.copysign(1.0, 0.5 * (room.x0 + room.x1) - door.c), 0.0])
    t = np.array([-n[1], n[0]])
    a = np.linspace(math.pi, -math.pi, 33)  # once round a circle centred depth + r in front
    loop = P + (depth + r) * n + r * (np.cos(a)[:, None] * n + np.sin(a)[:, None] * t)
    start = route.xy[i]
    stem = P + np.linspace(0, depth, 8)[:, None] * n
    return np.concatenate([[start, P - 0.45 * n], stem, loop[1:-1], stem[::-1], [P - 0.45 * n, start]])


def add_room_visits(route: Route, plan: FloorPlan, per_lap: int, rng: np.random.Generator) -> Route:
    """Insert ``per_lap`` visits per lap into rooms with an open doorway (enter, turn round,
    leave). Visits whose path would pass closer than 0.4 m to a wall or furniture are tried
    shallower or dropped, so the result is always walkable."""
    if per_lap <= 0:
        return route
    rooms = {r.name: r for r in plan.rooms}
    doors = [d for d in plan.doors if d.is_open and d.room in rooms and rooms[d.room].kind != "open_area"]
    inserts: list[tuple[int, np.ndarray]] = []
    used_doors: set[int] = set()
    for k in np.unique(route.lap):
        idx_lap = np.flatnonzero((route.lap == k) & (route.free >= 1.0))
        if len(idx_lap) == 0:
            continue
        chosen = 0
        for j in rng.permutation(len(doors)):
            if chosen >= per_lap:
                break
            if int(j) in used_doors and len(used_doors) < len(doors):
                continue
            door, room = doors[j], rooms[doors[j].room]
            mid = 0.5 * (door.a0 + door.a1)
            P = np.array([mid, door.c]) if door.axis == "x" else np.array([door.c, mid])
            dist = np.linalg.norm(route.xy[idx_lap] - P, axis=1)
            if dist.min() > plan.corridor_width:
                continue
            i = int(idx_lap[np.argmin(dist)])
            if any(abs(i - i2) < int(3.0 / _DS) for i2, _ in inserts):
                continue
            for depth, r in ((1.6, 0.6), (1.2, 0.5), (0.9, 0.4), (0.6, 0.35)):
                wp = np.asarray(_visit_waypoints(route, i, door, room, depth, r))
                dense = _resample(wp, np.zeros(len(wp), int), np.zeros(len(wp)), smooth_m=0.15).xy
                inside = dense[np.linalg.norm(dense - P, axis=1) > 0.6]
                inside = inside[np.sum((inside - P) * (wp[3] - P), axis=1) > 0]
                if plan.clearance(dense).min() >= 0.4 and np.all(room.contains(inside[:, 0], inside[:, 1])):
                    inserts.append((i, wp))
                    used_doors.add(int(j))
                    chosen += 1
                    break
    if not inserts:
        return route
    inserts.sort(key=lambda v: v[0])
    xy, lap, free, prev = [], [], [], 0
    for i, wp in inserts:
        xy += [route.xy[prev : i + 1], wp[1:-1]]
        lap += [route.lap[prev : i + 1], np.full(len(wp) - 2, route.lap[i])]
        free += [route.free[prev : i + 1], np.zeros(len(wp) - 2)]
        prev = i
    xy.append(route.xy[prev:])
    lap.append(route.lap[prev:])
    free.append(route.free[prev:])
    return _resample(np.concatenate(xy), np.concatenate(lap), np.concatenate(free), smooth_m=0.15)


def walk_route(
    route: Route,
    style: WalkStyle,
    fps: float,
    rng: np.random.Generator,
    recording: str = "lap{}",
    clearance=None,
    min_clearance: float = 0.35,
) -> Trajectory:
    """Walk ``route`` in ``style`` at ``fps``: frames ``000000, ...``, timestamps ``i / fps``,
    recordings ``recording.format(lap)``. ``clearance``: ``xy (N, 2) -> metres`` to the
    nearest obstacle (``FloorPlan.clearance``); the sideways deviation is shrunk where it would
    come closer than ``min_clearance``. Same structure as :func:`generate_walkthrough`."""
    base, tan = route.xy, route.tangent
    n = len(base)
    nrm = np.stack([-tan[:, 1], tan[:, 0]], axis=1)
    w = np.clip(gaussian_filter1d(np.clip(route.free, 0, 1), 0.5 / _DS), 0, 1)
    w = np.where(route.free >= 1.0, w, 0.0) if style.lateral_amplitude > 0 else w
    lat = style.lateral_amplitude * np.tanh(0.8 * _smooth(rng, n, 4.0 / _DS)) * w
    if clearance is not None and style.lateral_amplitude > 0:
        for _ in range(30):  # shrink the deviation where it would come close to an obstacle
            bad = clearance(base + lat[:, None] * nrm) < min_clearance + 0.03
            if not bad.any():
                break
            shrink = gaussian_filter1d(bad.astype(float), 0.4 / _DS)
            lat = lat * (1.0 - np.clip(2.0 * shrink, 0.0, 0.5))
            lat[bad] *= 0.7
    xy = base + lat[:, None] * nrm
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    sigma_xy = np.concatenate([[0.0], np.cumsum(seg)])
    straight = (np.abs(tan[:, 0]) > 0.999) | (np.abs(tan[:, 1]) > 0.999)
    corner = gaussian_filter1d(1.0 - straight.astype(float), 1.0 / _DS)
    v = style.speed * (1.0 + 0.07 * _smooth(rng, n, 6.0 / _DS)) * (1.0 - 0.3 * corner)
    t_of = np.concatenate([[0.0], np.cumsum(seg / (0.5 * (v[1:] + v[:-1])))])
    T = t_of[-1]
    t = np.arange(int(math.floor(T * fps)) + 1) / fps
    t = t[t <= T]
    n_frames = len(t)
    fx, fy = np.interp(t, t_of, xy[:, 0]), np.interp(t, t_of, xy[:, 1])
    sig_f = np.interp(t, t_of, sigma_xy)
    v_f = np.interp(t, t_of, v)
    k_f = np.clip(np.round(np.interp(t, t_of, np.arange(n))).astype(int), 0, n - 1)
    lap = route.lap[k_f]
    ahead = np.clip(np.round(np.interp(sig_f + style.look_ahead_m, sigma_xy, np.arange(n))).astype(int), 0, n - 1)
    yaw = np.arctan2(xy[ahead, 1] - fy, xy[ahead, 0] - fx)
    last = sig_f + style.look_ahead_m > sigma_xy[-1]
    yaw[last] = np.arctan2(tan[k_f[last], 1], tan[k_f[last], 0])
    yaw = np.unwrap(yaw)
    if style.yaw_smoothing_s > 0:
        yaw = gaussian_filter1d(yaw, style.yaw_smoothing_s * fps, mode="nearest")
    turns = np.zeros(n_frames)
    if math.isfinite(style.head_turn_interval) and style.head_turn_max_deg > 0:
        tt = rng.exponential(style.head_turn_interval)
        max_turn = math.radians(style.head_turn_max_deg)
        while tt < T:
            dur = rng.uniform(1.5, 3.5)
            amp = rng.uniform(0.35, 1.0) * max_turn * (1 if rng.random() < 0.5 else -1)
            m = (t >= tt) & (t <= tt + dur)
            turns[m] += amp * np.sin(np.pi * (t[m] - tt) / dur) ** 2
            tt += dur + rng.exponential(style.head_turn_interval)
    yaw = yaw + turns + math.radians(style.yaw_jitter_deg) * _smooth(rng, n_frames, 1.5 * fps)
    step_phase = 2 * np.pi * 1.8 * np.cumsum(v_f / style.speed) / fps + rng.uniform(0, 2 * np.pi)
    z = (
        style.camera_height
        + style.bob_amplitude * np.sin(2 * step_phase)
        + style.height_jitter * _smooth(rng, n_frames, 2 * fps)
    )
    pitch = math.radians(style.pitch_mean_deg) + math.radians(style.pitch_std_deg) * _smooth(rng, n_frames, 1.2 * fps)
    roll = math.radians(style.roll_std_deg) * _smooth(rng, n_frames, 1.2 * fps) + math.radians(
        style.step_roll_deg
    ) * np.sin(step_phase)
    R = camera_rotation(yaw, pitch, roll)
    return Trajectory(
        frames=[f"{i:06d}" for i in range(n_frames)],
        timestamps=t,
        positions=np.stack([fx, fy, z], axis=1),
        quaternions=quat_from_matrix(R),
        recordings=[recording.format(k) for k in lap],
    )


def generate_mapping_walk(plan: FloorPlan, config: SynthConfig, rng: np.random.Generator) -> Trajectory:
    """The mapping walkthrough of ``config``: :func:`generate_walkthrough` (bit-for-bit as
    before) unless ``config.lap_directions`` / ``config.room_visits`` ask for laps in both
    directions or visits into rooms through open doorways."""
    if config.lap_directions == "ccw" and config.room_visits == 0:
        return generate_walkthrough(plan.loop, config, rng)
    route = loop_route(plan.loop, config.laps, config.lap_directions)
    route = add_room_visits(route, plan, config.room_visits, rng)
    return walk_route(route, WalkStyle.person(config), config.fps, rng, "lap{}", plan.clearance)
