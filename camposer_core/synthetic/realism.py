"""Camera realism and scene changes applied on top of the exact renderer.

What a real camera adds to the clean ray-cast frame, in the order a sensor sees it:

1. **Motion blur**: the frame integrates the scene over the exposure (``exposure_ms``,
   centred on the frame's timestamp, so the ground-truth pose is the mid-exposure pose); it is
   the mean of renders at poses interpolated along the trajectory (positions linear, rotations
   slerp), as many as the image motion needs (one per ~pixel of motion, at most
   ``max_blur_samples``).
2. **Scene changes** per sub-frame, exact because they use the per-pixel hit points:
   darker rooms (:class:`Lighting.dark_rooms`) and moving people (:class:`Person` boxes,
   occluding only where nearer than the building).
3. **Illumination and exposure**: a global gain drifting within ``gain_range``, a colour
   temperature (per-channel gains) and an auto-exposure that chases mid-grey with a lag.
4. **Sensor noise**: shot noise (variance proportional to the signal) and read noise, in
   digital numbers (0..255), then quantisation to uint8.
5. **Compression**: the frames are stored as H.264 at ``video_crf`` (blocking, smearing).

Everything is deterministic per seed: noise comes from ``default_rng([seed, stream, frame])``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Slerp

from ..camera import PinholeCamera
from ..geometry import quat_from_scipy, quat_to_matrix, quat_to_scipy
from ..trajectory import Trajectory

__all__ = ["CameraRealism", "Lighting", "Person", "FrameRenderer", "people_boxes"]


@dataclass(frozen=True)
class CameraRealism:
    """Sensor effects (milliseconds, digital numbers 0..255, x264 CRF)."""

    exposure_ms: float = 10.0  # motion blur integrates over this exposure (0 = none)
    max_blur_samples: int = 6
    shot_noise: float = 0.6  # noise variance per DN of signal
    read_noise: float = 1.5  # noise std, DN
    video_crf: int = 26  # H.264 quality of the stored video (artefacts)

    def __post_init__(self):
        if not 0 <= self.exposure_ms <= 100:
            raise ValueError(f"CameraRealism: exposure_ms must be within [0, 100], got {self.exposure_ms}")
        if self.max_blur_samples < 1 or self.shot_noise < 0 or self.read_noise < 0:
            raise ValueError("CameraRealism: max_blur_samples >= 1 and noise levels >= 0 required")
        if not 0 <= self.video_crf <= 51:
            raise ValueError(f"CameraRealism: video_crf must be within [0, 51], got {self.video_crf}")


@dataclass(frozen=True)
class Lighting:
    """Changed light: per-frame global gain (within ``gain_range``), per-channel colour gains
    (RGB, a colour temperature shift), rooms whose light is dimmed by ``dark_factor``, and an
    auto-exposure (gain towards mid-grey 118 DN, ``ae_speed`` of the way per frame)."""

    gains: tuple[float, ...]  # one per frame
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    dark_rooms: tuple[str, ...] = ()
    dark_factor: float = 0.45
    auto_exposure: bool = True
    ae_speed: float = 0.12

    @classmethod
    def random(cls, num_frames: int, fps: float, room_names, rng: np.random.Generator) -> Lighting:
        """Gain drifting over 0.6..1.4 (~10 s correlation), a warm or cold colour shift, 40 % of
        the rooms darker."""
        from scipy.ndimage import gaussian_filter1d

        pad = int(40 * fps)
        x = gaussian_filter1d(rng.standard_normal(num_frames + 2 * pad), 5.0 * fps)[pad : pad + num_frames]
        x = x / max(x.std(), 1e-9)
        gains = 1.0 + 0.4 * np.tanh(0.9 * x)
        warm = rng.random() < 0.5
        shift = rng.uniform(0.12, 0.2)
        colour = (1.0 + shift, 1.0, 1.0 - shift) if warm else (1.0 - shift, 1.0, 1.0 + shift)
        names = sorted(room_names)
        k = max(1, int(round(0.4 * len(names))))
        dark = tuple(sorted(rng.choice(names, size=k, replace=False).tolist())) if names else ()
        return cls(tuple(float(g) for g in gains), tuple(float(c) for c in colour), dark)


@dataclass(frozen=True)
class Person:
    """A person-sized box walking along the corridor loop's centre line: arc position
    ``s0 + speed * t`` (m; negative speed = clockwise), ``lateral`` m to the left of the
    anticlockwise direction, footprint ``size`` (m), ``height`` (m), clothing colours (RGB)."""

    s0: float
    speed: float
    lateral: float
    height: float = 1.75
    size: tuple[float, float] = (0.5, 0.4)
    shirt: tuple[int, int, int] = (60, 90, 150)
    trousers: tuple[int, int, int] = (40, 40, 50)


def people_boxes(people, loop_pts: np.ndarray, loop_nrm: np.ndarray, t: float) -> list[tuple[np.ndarray, Person]]:
    """``[(box [x0, y0, z0, x1, y1, z1], person)]`` at time ``t`` (s) for people walking on the
    loop's centre line samples ``loop_pts`` (dense, 2 cm apart, one lap)."""
    n = len(loop_pts)
    ds = 0.02
    out = []
    for p in people:
        i = int(round((p.s0 + p.speed * t) / ds)) % n
        c = loop_pts[i] + p.lateral * loop_nrm[i]
        along_x = abs(loop_nrm[i, 1]) > abs(loop_nrm[i, 0])  # travelling along x
        hx, hy = (0.5 * p.size[0], 0.5 * p.size[1]) if along_x else (0.5 * p.size[1], 0.5 * p.size[0])
        out.append((np.array([c[0] - hx, c[1] - hy, 0.0, c[0] + hx, c[1] + hy, p.height]), p))
    return out


def _box_window(box: np.ndarray, C: np.ndarray, R: np.ndarray, camera: PinholeCamera):
    """``(r0, r1, c0, c1)`` pixel window that can see ``box`` (None: not in view). Exact for a
    pinhole camera (corners projected, 2 px margin); the whole image when a corner is behind
    the camera or the lens distorts."""
    x0, y0, z0, x1, y1, z1 = box
    corners = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)])
    Xc = (corners - C) @ R
    if np.all(Xc[:, 2] <= 1e-6):
        return None
    if np.any(Xc[:, 2] <= 1e-6) or camera.has_distortion:
        return 0, camera.height, 0, camera.width
    u = camera.fx * Xc[:, 0] / Xc[:, 2] + camera.cx
    v = camera.fy * Xc[:, 1] / Xc[:, 2] + camera.cy
    c0, c1 = int(np.floor(u.min())) - 2, int(np.ceil(u.max())) + 3
    r0, r1 = int(np.floor(v.min())) - 2, int(np.ceil(v.max())) + 3
    c0, c1, r0, r1 = max(c0, 0), min(c1, camera.width), max(r0, 0), min(r1, camera.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return r0, r1, c0, c1


def _composite_people(img: np.ndarray, C: np.ndarray, R: np.ndarray, xyz: np.ndarray, boxes, camera) -> None:
    """Paint the people boxes into ``img`` (float, in place) where they are nearer than the
    building point ``xyz`` each pixel sees (ray ``C + s (xyz - C)``, building at ``s = 1``)."""
    H, W = img.shape[:2]
    best = np.ones((H, W))
    for box, person in boxes:
        win = _box_window(box, C, R, camera)
        if win is None:
            continue
        r0, r1, c0, c1 = win
        D = xyz[r0:r1, c0:c1].reshape(-1, 3).astype(np.float64) - C
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / D
            t0 = (box[:3] - C) * inv
            t1 = (box[3:] - C) * inv
        tmin = np.where(np.isnan(t0), -np.inf, np.minimum(t0, t1))
        tmax = np.where(np.isnan(t0), np.inf, np.maximum(t0, t1))
        near = tmin.max(axis=1)
        far = tmax.min(axis=1)
        b = best[r0:r1, c0:c1].reshape(-1)
        hit = (near <= far) & (near > 0) & (near < b)
        if not hit.any():
            continue
        idx = np.flatnonzero(hit)
        s = near[idx]
        z = C[2] + s * D[idx, 2]
        axis = np.argmax(tmin[idx], axis=1)  # which slab the ray entered through: 0 x, 1 y, 2 top
        shade = np.where(axis == 0, 0.8, np.where(axis == 1, 1.0, 1.15))[:, None]
        rel = (z / person.height)[:, None]
        base = np.where(
            rel > 0.86,
            np.array([205.0, 160.0, 130.0]),
            np.where(rel > 0.47, np.asarray(person.shirt, float), np.asarray(person.trousers, float)),
        )
        b[idx] = s
        best[r0:r1, c0:c1] = b.reshape(r1 - r0, c1 - c0)
        patch = img[r0:r1, c0:c1].reshape(-1, 3)
        patch[idx] = base * shade
        img[r0:r1, c0:c1] = patch.reshape(r1 - r0, c1 - c0, 3)


@dataclass
class FrameRenderer:
    """Renders the frames of one walk with realism and scene changes (see module docstring).

    :meth:`radiance` (thread-safe, per frame) gives the float image the sensor integrates;
    :meth:`develop` (sequential: the auto-exposure has memory) turns it into the uint8 frame."""

    scene: object  # Scene
    trajectory: Trajectory
    camera: PinholeCamera
    realism: CameraRealism | None = None
    lighting: Lighting | None = None
    people: tuple[Person, ...] = ()
    seed: int = 0
    stream: int = 0
    _ae: float = field(default=1.0, repr=False)
    _slerp: object = field(default=None, repr=False)

    def __post_init__(self):
        from .path import loop_centre_line

        pts, tan = loop_centre_line(self.scene.plan.loop)
        self._loop = (pts, np.stack([-tan[:, 1], tan[:, 0]], axis=1))
        self._rooms = {r.name: r for r in self.scene.plan.rooms}
        traj = self.trajectory
        self._slerp = Slerp(traj.timestamps, quat_to_scipy(traj.quaternions)) if len(traj) > 1 else None

    # ---------------------------------------------------------------- per frame, any order

    def _needs_hits(self) -> bool:
        return bool(self.people) or bool(self.lighting and self.lighting.dark_rooms)

    def _blur_times(self, i: int) -> np.ndarray:
        t = float(self.trajectory.timestamps[i])
        if self.realism is None or self.realism.exposure_ms <= 0 or self._slerp is None:
            return np.array([t])
        half = 0.5e-3 * self.realism.exposure_ms
        ends = np.array([t - half, t + half])
        p, q = self._poses(ends)
        # image motion of points 2 m in front of the camera over the exposure, pixels
        cam = self.camera
        uv = np.array([[0.0, 0.0], [cam.width, 0], [0, cam.height], [cam.width, cam.height], [cam.cx, cam.cy]])
        rays = np.stack([(uv[:, 0] - cam.cx) / cam.fx, (uv[:, 1] - cam.cy) / cam.fy, np.ones(len(uv))], axis=1)
        R0, R1 = quat_to_matrix(q[0]), quat_to_matrix(q[1])
        X = p[0] + 2.0 * rays @ R0.T
        Xc = (X - p[1]) @ R1
        uv1 = np.stack([cam.fx * Xc[:, 0] / Xc[:, 2] + cam.cx, cam.fy * Xc[:, 1] / Xc[:, 2] + cam.cy], axis=1)
        motion = float(np.max(np.linalg.norm(uv1 - uv, axis=1))) if np.all(Xc[:, 2] > 0.1) else 50.0
        n = int(np.clip(math.ceil(motion / 2.0), 1, self.realism.max_blur_samples))  # a sub-frame per 2 px
        if n == 1:
            return np.array([t])
        return t - half + (np.arange(n) + 0.5) * (2 * half / n)

    def _poses(self, times: np.ndarray):
        traj = self.trajectory
        t = np.clip(times, traj.timestamps[0], traj.timestamps[-1])
        pos = np.stack([np.interp(t, traj.timestamps, traj.positions[:, k]) for k in range(3)], axis=1)
        if self._slerp is None:
            return pos, np.repeat(traj.quaternions[:1], len(t), axis=0)
        return pos, quat_from_scipy(self._slerp(t))

    def _shade_one(self, position, quaternion, t: float) -> np.ndarray:
        renderer = self.scene.renderer
        if not self._needs_hits():
            return renderer.render(position, quaternion, self.camera).astype(np.float32)
        img, hits = renderer.render(position, quaternion, self.camera, return_hits=True)
        img = img.astype(np.float32)
        xyz = hits["xyz"]
        if self.lighting is not None and self.lighting.dark_rooms:
            x, y = xyz[..., 0], xyz[..., 1]
            dim = np.ones(x.shape, np.float32)
            for name in self.lighting.dark_rooms:
                room = self._rooms.get(name)
                if room is not None:
                    dim[room.contains(x, y)] = self.lighting.dark_factor
            img *= dim[..., None]
        if self.people:
            boxes = people_boxes(self.people, *self._loop, t)
            C = np.asarray(position, float)
            _composite_people(img, C, quat_to_matrix(np.asarray(quaternion, float)), xyz, boxes, self.camera)
        return img

    def radiance(self, i: int) -> np.ndarray:
        """Float32 ``(H, W, 3)`` image of frame ``i`` before exposure, noise and quantisation
        (0..255 scale): the mean over the exposure's sub-frames."""
        times = self._blur_times(i)
        if len(times) == 1:
            t = float(self.trajectory.timestamps[i])
            return self._shade_one(self.trajectory.positions[i], self.trajectory.quaternions[i], t)
        pos, quat = self._poses(times)
        acc = None
        for p, q, t in zip(pos, quat, times):
            img = self._shade_one(p, q, float(t))
            acc = img if acc is None else acc + img
        return acc / len(times)

    # ---------------------------------------------------------------- sequential

    def develop(self, i: int, radiance: np.ndarray) -> np.ndarray:
        """uint8 RGB frame ``i`` from its radiance: light, auto-exposure, sensor noise. Call
        in frame order (the auto-exposure follows the previous frames)."""
        img = radiance
        if self.lighting is not None:
            lt = self.lighting
            img = img * (np.float32(lt.gains[i]) * np.asarray(lt.colour, np.float32))
            if lt.auto_exposure:
                img = img * np.float32(self._ae)
                mean = float(img.mean()) / max(self._ae, 1e-6)
                target = 118.0 / max(mean, 1.0)
                self._ae = float(np.clip(self._ae * (target / self._ae) ** lt.ae_speed, 0.4, 2.5))
        if self.realism is not None and (self.realism.shot_noise > 0 or self.realism.read_noise > 0):
            rng = np.random.default_rng([int(self.seed), int(self.stream), int(i)])
            sd = np.sqrt(self.realism.shot_noise * np.clip(img, 0, 255) + self.realism.read_noise**2)
            img = img + sd * rng.standard_normal(img.shape, dtype=np.float32)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    def iter_frames(self, workers: int = 1):
        """uint8 RGB frames in order (``workers`` threads render ahead)."""
        n = len(self.trajectory)
        if workers <= 1:
            for i in range(n):
                yield self.develop(i, self.radiance(i))
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth-realism") as pool:
            pending: deque = deque()
            nxt = 0
            for i in range(n):
                pending.append(pool.submit(self.radiance, i))
                if len(pending) >= 2 * workers:
                    yield self.develop(nxt, pending.popleft().result())
                    nxt += 1
            while pending:
                yield self.develop(nxt, pending.popleft().result())
                nxt += 1
