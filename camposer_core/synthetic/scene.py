"""The synthetic building as one object: floor plan + textures + renderer + walkthrough.

::

    from camposer_core.synthetic import SynthConfig, generate_scene, synthesize

    scene = generate_scene(SynthConfig.small(seed=3))
    traj = scene.walkthrough()                      # Trajectory, camera-to-world, map frame
    rgb = scene.render(traj.positions[0], traj.quaternions[0])   # (H, W, 3) uint8
    out = synthesize(SynthConfig.small(), "out/")   # video, ground truth, camera, map, ...

Random streams are derived from ``(seed, stream)`` so the floor plan and textures do not change
when only walkthrough or camera parameters change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from ..camera import PinholeCamera
from ..trajectory import Trajectory
from .config import SynthConfig
from .floorplan import FloorPlan, generate_floorplan
from .path import generate_mapping_walk
from .render import Renderer
from .surfaces import Marker, SceneSurfaces, build_surfaces

__all__ = ["Scene", "generate_scene", "scene_camera"]

_STREAM_PLAN, _STREAM_TEXTURES, _STREAM_PATH = 1, 2, 3
FORMAT_VERSION = 1


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def scene_camera(config: SynthConfig) -> PinholeCamera:
    """The pinhole camera of ``config`` (square pixels, centred principal point)."""
    return PinholeCamera.from_fov(
        config.width, config.height, config.hfov_deg, distortion=config.distortion, name="camposer_synth"
    )


@dataclass
class Scene:
    """A generated building. Rendering never changes it (safe to share between threads)."""

    config: SynthConfig
    plan: FloorPlan
    surfaces: SceneSurfaces
    renderer: Renderer

    @property
    def camera(self) -> PinholeCamera:
        return scene_camera(self.config)

    @property
    def markers(self) -> list[Marker]:
        """Survey discs (known 3-D points on corridor walls)."""
        return self.surfaces.markers

    def render(self, pose_position, pose_quaternion, camera: PinholeCamera | None = None) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB image from a camera-to-world pose (position in m, map frame;
        quaternion (w, x, y, z), optical axes). ``camera`` defaults to :attr:`camera`."""
        return self.renderer.render(pose_position, pose_quaternion, camera or self.camera)

    def render_hits(self, pose_position, pose_quaternion, camera: PinholeCamera | None = None):
        """Like :meth:`render` but also returns a dict with ``xyz``: the ``(H, W, 3)`` map-frame
        point each pixel sees (m)."""
        return self.renderer.render(pose_position, pose_quaternion, camera or self.camera, return_hits=True)

    def render_batch(self, positions, quaternions, camera: PinholeCamera | None = None) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 images for ``(N, 3)`` positions and ``(N, 4)`` quaternions."""
        cam = camera or self.camera
        P = np.asarray(positions, float).reshape(-1, 3)
        Q = np.asarray(quaternions, float).reshape(-1, 4)
        if len(P) != len(Q):
            raise ValueError(f"got {len(P)} positions but {len(Q)} quaternions")
        out = np.empty((len(P), cam.height, cam.width, 3), np.uint8)
        for i in range(len(P)):
            out[i] = self.renderer.render(P[i], Q[i], cam)
        return out

    def iter_frames(
        self, trajectory: Trajectory | None = None, camera: PinholeCamera | None = None, workers: int = 1
    ) -> Iterator[np.ndarray]:
        """Render the frames of ``trajectory`` (default: the walkthrough) in order.
        ``workers > 1`` renders ahead in that many threads (numpy releases the GIL); the frames
        are identical either way."""
        traj = trajectory if trajectory is not None else self.walkthrough()
        cam = camera or self.camera
        poses = list(zip(traj.positions, traj.quaternions))
        if workers <= 1:
            for p, q in poses:
                yield self.renderer.render(p, q, cam)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth-render") as pool:
            pending: deque = deque()
            for p, q in poses:
                pending.append(pool.submit(self.renderer.render, p, q, cam))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def walkthrough(self) -> Trajectory:
        """The ground-truth walkthrough (a copy; frames ``000000...``, timestamps ``i / fps``,
        recordings ``lap0, lap1, ...``)."""
        t = self._walkthrough
        return t.subset(np.arange(len(t)))

    @cached_property
    def _walkthrough(self) -> Trajectory:
        traj = generate_mapping_walk(self.plan, self.config, _rng(self.config.seed, _STREAM_PATH))
        clearance = self.plan.clearance(traj.positions[:, :2])
        if clearance.min() < 0.25:  # a generator bug, never the user's fault
            i = int(np.argmin(clearance))
            raise RuntimeError(
                f"synthetic walkthrough passes {clearance[i]:.2f} m from an obstacle at frame "
                f"{traj.frames[i]} {traj.positions[i, :2]} (seed {self.config.seed})"
            )
        return traj

    def walkable_map(self):
        """The walkable map (:class:`~camposer_core.walkable.WalkableMap`, 5 cm cells, map
        coordinates = world x, y)."""
        from ..walkable import WalkableMap

        grid, origin = self.plan.walkable_grid()
        return WalkableMap.from_walkable(grid, self.plan.walkable_resolution, origin)

    def to_dict(self) -> dict:
        """Everything needed to describe the scene (``scene.json``)."""
        return {
            "format_version": FORMAT_VERSION,
            "generator": "camposer_core.synthetic",
            "seed": self.config.seed,
            "config": self.config.to_dict(),
            "camera": self.camera.to_dict(),
            "floorplan": self.plan.to_dict(),
            "markers": [asdict(m) for m in self.markers],
            "texture_atlas_mb": round(self.surfaces.atlas.nbytes / 1e6, 1),
            "conventions": {
                "frame": "map, z up, floor at z = 0, metres",
                "poses": "camera-to-world, quaternion (w, x, y, z), OpenCV optical camera axes",
            },
        }

    def save_json(self, path) -> None:
        from ..fsio import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))


def generate_scene(config: SynthConfig | None = None) -> Scene:
    """Build the floor plan, paint the textures and set up the renderer (deterministic)."""
    config = config or SynthConfig()
    plan = generate_floorplan(config, _rng(config.seed, _STREAM_PLAN))
    surfaces = build_surfaces(plan, config, _rng(config.seed, _STREAM_TEXTURES))
    renderer = Renderer(
        surfaces.faces, surfaces.atlas, surfaces.floor, surfaces.ceiling, plan.width, plan.depth, plan.wall_height
    )
    return Scene(config, plan, surfaces, renderer)
