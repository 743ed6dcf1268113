"""Query walks: named test scenarios recorded in the building, never used for mapping/training.

Each scenario is one extra recording written by :func:`write_query_walk` into its own folder
(``<building>/queries/<name>/``: ``walkthrough.mp4``, ``groundtruth.csv``, ``camera.yaml``,
``scenario.json``, and the walk's simulated base odometry ``odometry.csv`` + ``extrinsics.yaml``
as for the mapping walk), with the same exact ground truth as the mapping walkthrough
(camera-to-world, map frame, frames ``000000...``, timestamps ``index / fps`` from 0 s). All
query walks carry camera realism (:mod:`.realism`: motion blur, sensor noise, H.264
artefacts):

``retrace``   the mapping walkthrough's last lap (the demo's held-out lap), kept for continuity;
``offset``    its own lap: up to +-0.8 m sideways of the corridor centre line (the mapping walk
              keeps within +-``lateral_amplitude``), its own (more frequent, wider) head turns,
              and visits into two rooms through open doorways;
``robot``     a wheeled robot's camera: 0.6 m high, level, no bob, smooth yaw along the
              direction of travel, 0.8 m/s, its own sideways offsets (+-0.5 m);
``lighting``  the ``offset`` walk (same poses) under changed light: global gain drifting within
              0.6..1.4, a colour temperature shift, 40 % of the rooms darker, auto-exposure;
``people``    the ``retrace`` walk with person-sized boxes walking the corridor both ways.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..camera import save_camera_yaml
from ..trajectory import Trajectory
from .odometry import ODOMETRY_NAMES, write_odometry
from .path import WalkStyle, add_room_visits, loop_route, walk_route
from .realism import CameraRealism, FrameRenderer, Lighting, Person

__all__ = [
    "QUERY_SCENARIOS",
    "QueryWalk",
    "query_trajectory",
    "query_renderer",
    "write_query_walk",
    "load_query_walks",
    "camera_realism",
]

QUERY_SCENARIOS = ("retrace", "offset", "robot", "lighting", "people")
DESCRIPTIONS = {
    "retrace": "the mapping walk's last lap (held out), re-rendered with camera realism",
    "offset": "own lap: up to +-0.8 m sideways, own head turns, two room visits",
    "robot": "wheeled robot: camera 0.6 m high, level, no bob, smooth yaw, 0.8 m/s",
    "lighting": "the offset walk under changed light (gain 0.6-1.4, colour shift, darker rooms, auto-exposure)",
    "people": "the retrace walk with people (moving boxes) in the corridor",
}
_STREAMS = {"retrace": 20, "offset": 21, "robot": 22, "lighting": 23, "people": 24}
QUERIES_DIR = "queries"
FILES = {
    "video": "walkthrough.mp4",
    "groundtruth": "groundtruth.csv",
    "camera_yaml": "camera.yaml",
    "scenario_json": "scenario.json",
}


def _check(name: str) -> None:
    if name not in QUERY_SCENARIOS:
        raise ValueError(f"unknown query scenario {name!r} (choose from {', '.join(QUERY_SCENARIOS)})")


def _rng(scene, name: str) -> np.random.Generator:
    return np.random.default_rng([int(scene.config.seed), _STREAMS[name]])


def camera_realism(config) -> CameraRealism:
    """The :class:`CameraRealism` of a :class:`SynthConfig` (its ``exposure_ms``,
    ``sensor_noise`` scale and ``realism_crf``)."""
    return CameraRealism(
        exposure_ms=config.exposure_ms,
        shot_noise=0.6 * config.sensor_noise,
        read_noise=1.5 * config.sensor_noise,
        video_crf=config.realism_crf,
    )


def _renumber(traj: Trajectory, recording: str) -> Trajectory:
    n = len(traj)
    return Trajectory(
        [f"{i:06d}" for i in range(n)],
        traj.timestamps - traj.timestamps[0],
        traj.positions.copy(),
        traj.quaternions.copy(),
        [recording] * n,
    )


def query_trajectory(scene, name: str) -> Trajectory:
    """Ground truth of scenario ``name`` (camera-to-world, map frame; recording = ``name``)."""
    _check(name)
    cfg, plan = scene.config, scene.plan
    if name in ("retrace", "people"):
        walk = scene.walkthrough()
        last = f"lap{cfg.laps - 1}"
        return _renumber(walk.subset(np.flatnonzero(np.array(walk.recordings) == last)), name)
    if name in ("offset", "lighting"):
        rng = _rng(scene, "offset")
        route = add_room_visits(loop_route(plan.loop, 1, "ccw"), plan, 2, rng)
        style = WalkStyle.person(cfg, lateral_amplitude=0.8, head_turn_interval=6.0, head_turn_max_deg=60.0)
        traj = walk_route(route, style, cfg.fps, rng, "x", plan.clearance, min_clearance=0.35)
        return _renumber(traj, name)
    rng = _rng(scene, "robot")
    traj = walk_route(loop_route(plan.loop, 1, "ccw"), WalkStyle.robot(), cfg.fps, rng, "x", plan.clearance, 0.35)
    return _renumber(traj, name)


def _people(scene, rng: np.random.Generator) -> tuple[Person, ...]:
    loop = scene.plan.loop
    n = max(3, int(round(loop.perimeter / 12.0)))
    lane = min(0.65, 0.5 * loop.free_width - 0.3)
    out = []
    for _ in range(n):
        sign = 1.0 if rng.random() < 0.5 else -1.0
        out.append(
            Person(
                s0=float(rng.uniform(0, loop.perimeter)),
                speed=float(sign * rng.uniform(0.9, 1.4)),
                lateral=float(-sign * rng.uniform(lane - 0.15, lane)),  # keep right
                height=float(rng.uniform(1.6, 1.9)),
                shirt=tuple(int(v) for v in rng.integers(30, 220, 3)),
                trousers=tuple(int(v) for v in rng.integers(20, 90, 3)),
            )
        )
    return tuple(out)


def query_renderer(scene, name: str, realism: CameraRealism | None = None, clean: bool = False) -> FrameRenderer:
    """The :class:`FrameRenderer` of scenario ``name``: its trajectory, light and people,
    with ``realism`` (default: :func:`camera_realism` of the scene's config); ``clean``: no
    camera realism at all (exact frames, for tests)."""
    traj = query_trajectory(scene, name)
    realism = None if clean else (camera_realism(scene.config) if realism is None else realism)
    lighting, people = None, ()
    if name == "lighting":
        rooms = [r.name for r in scene.plan.rooms]
        lighting = Lighting.random(len(traj), scene.config.fps, rooms, _rng(scene, "lighting"))
    if name == "people":
        people = _people(scene, _rng(scene, "people"))
    return FrameRenderer(
        scene, traj, scene.camera, realism, lighting, people, seed=scene.config.seed, stream=_STREAMS[name]
    )


@dataclass(frozen=True)
class QueryWalk:
    """Paths of one written query walk."""

    name: str
    root: Path
    video: Path | None
    groundtruth: Path
    camera_yaml: Path
    scenario_json: Path
    num_frames: int
    render_seconds: float = 0.0
    odometry: Path | None = None  # odometry.csv (odom_from_base, 50 Hz), extrinsics.yaml beside it

    @classmethod
    def from_folder(cls, root) -> QueryWalk:
        root = Path(root)
        paths = {k: root / v for k, v in FILES.items()}
        for key in ("groundtruth", "camera_yaml", "scenario_json"):
            if not paths[key].is_file():
                raise FileNotFoundError(f"{root} is not a query walk folder: {FILES[key]} is missing")
        info = json.loads(paths["scenario_json"].read_text())
        return cls(
            name=info["name"],
            root=root,
            video=paths["video"] if paths["video"].is_file() else None,
            groundtruth=paths["groundtruth"],
            camera_yaml=paths["camera_yaml"],
            scenario_json=paths["scenario_json"],
            num_frames=int(info["num_frames"]),
            render_seconds=float(info.get("render_seconds", 0.0)),
            odometry=root / ODOMETRY_NAMES["odometry"] if (root / ODOMETRY_NAMES["odometry"]).is_file() else None,
        )


def write_query_walk(
    scene,
    name: str,
    out_dir,
    realism: CameraRealism | None = None,
    video: bool = True,
    progress: bool = True,
    workers: int | None = None,
    force: bool = False,
) -> QueryWalk:
    """Write scenario ``name`` into ``out_dir`` (the ONE function per walk folder: later
    additions such as synthetic odometry belong here). Written into ``<out_dir>.partial`` and
    renamed when complete; an existing ``out_dir`` is replaced only with ``force``."""
    import os

    _check(name)
    out = Path(out_dir)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists (use force=True / --force to replace it)")
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)  # our own leftover of an interrupted run
    tmp.mkdir(parents=True)
    fr = query_renderer(scene, name, realism)
    traj = fr.trajectory
    traj.save_csv(tmp / FILES["groundtruth"])
    save_camera_yaml(fr.camera, tmp / FILES["camera_yaml"])
    # simulated base odometry of this walk (odometry.csv, extrinsics.yaml), as for the mapping walk
    write_odometry(tmp, traj, seed=int(scene.config.seed) * 1000 + _STREAMS[name])
    t0 = time.perf_counter()
    if video:
        from tqdm import tqdm

        from ..video import VideoWriter

        workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        crf = fr.realism.video_crf if fr.realism is not None else scene.config.video_crf
        cam = fr.camera
        with VideoWriter(tmp / FILES["video"], scene.config.fps, cam.width, cam.height, crf=crf) as writer:
            for rgb in tqdm(fr.iter_frames(workers), total=len(traj), desc=name, unit="frame", disable=not progress):
                writer.write(rgb)
    render_s = time.perf_counter() - t0
    info = {
        "name": name,
        "description": DESCRIPTIONS[name],
        "seed": scene.config.seed,
        "num_frames": len(traj),
        "duration_s": float(traj.timestamps[-1]) if len(traj) else 0.0,
        "path_length_m": float(traj.path_length()) if len(traj) > 1 else 0.0,
        "render_seconds": round(render_s, 2),
        "realism": asdict(fr.realism) if fr.realism is not None else None,
        "lighting": None
        if fr.lighting is None
        else {
            "gain_min": min(fr.lighting.gains),
            "gain_max": max(fr.lighting.gains),
            "colour": fr.lighting.colour,
            "dark_rooms": fr.lighting.dark_rooms,
            "dark_factor": fr.lighting.dark_factor,
            "auto_exposure": fr.lighting.auto_exposure,
        },
        "people": [asdict(p) for p in fr.people],
        "conventions": "camera-to-world poses, quaternion (w, x, y, z), map frame; never used for mapping/training",
    }
    (tmp / FILES["scenario_json"]).write_text(json.dumps(info, indent=1))
    if out.exists():
        shutil.rmtree(out)  # force: replace the earlier walk of this name
    tmp.rename(out)
    return QueryWalk.from_folder(out)


def load_query_walks(building_root) -> dict[str, QueryWalk]:
    """The query walks written into ``<building_root>/queries/`` (by name, in scenario order)."""
    root = Path(building_root) / QUERIES_DIR
    found = {}
    for name in QUERY_SCENARIOS:
        if (root / name / FILES["scenario_json"]).is_file():
            found[name] = QueryWalk.from_folder(root / name)
    return found
