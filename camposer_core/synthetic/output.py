"""Write a synthetic building and its rendered walkthrough to a folder (``camposer synth``).

Folder contents (all in the map frame, metres):

* ``walkthrough.mp4`` — H.264 video of the walkthrough at ``config.fps``,
* ``groundtruth.csv`` — pose CSV (:class:`~camposer_core.trajectory.Trajectory`): ``frame`` =
  zero-padded video frame index, ``timestamp`` = index / fps (s), camera-to-world poses,
  ``recording`` = ``lap0``, ``lap1``, ...,
* ``camera.yaml`` — intrinsics (ROS CameraInfo layout),
* ``walkable.yaml`` + ``walkable.pgm`` — nav2 map_server walkable map, 5 cm cells, map
  coordinates = world x, y,
* ``floorplan.png`` — top-down picture (walkable map, walls, doors, path with heading arrows),
* ``scene.json`` — seed, parameters, geometry (boxes, rooms, doors), survey markers,
* ``odometry.csv`` + ``extrinsics.yaml`` — simulated 50 Hz odometry of a robot base carrying the
  camera (``odom_from_base``, pose CSV layout) and its ``base_from_camera`` mounting
  (:mod:`camposer_core.synthetic.odometry`).
* ``queries/<name>/`` — one folder per query walk in ``config.query_walks`` (test scenarios
  never used for mapping; see :mod:`.queries`).

With ``config.mapping_realism`` the walkthrough video carries camera realism (motion blur,
sensor noise, H.264 at ``config.realism_crf``; see :mod:`.realism`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..camera import save_camera_yaml
from ..fsio import is_unfinished, mark_finished, mark_unfinished
from .config import SynthConfig
from .odometry import ODOMETRY_NAMES, write_odometry
from .plot import plot_floorplan
from .scene import Scene, generate_scene

__all__ = ["SynthOutput", "synthesize", "OUTPUT_NAMES", "check_out_dir"]

log = logging.getLogger(__name__)

OUTPUT_NAMES = {
    "video": "walkthrough.mp4",
    "groundtruth": "groundtruth.csv",
    "camera_yaml": "camera.yaml",
    "walkable_yaml": "walkable.yaml",
    "floorplan_png": "floorplan.png",
    "scene_json": "scene.json",
}


@dataclass(frozen=True)
class SynthOutput:
    """Paths of everything :func:`synthesize` wrote, and a few numbers about the run."""

    root: Path
    video: Path | None
    groundtruth: Path
    camera_yaml: Path
    walkable_yaml: Path
    walkable_image: Path
    floorplan_png: Path
    scene_json: Path
    num_frames: int
    duration_s: float  # length of the walkthrough, s
    render_seconds: float  # wall time spent rendering (and encoding) the frames
    odometry: Path | None = None  # odometry.csv (simulated base odometry), when written
    extrinsics: Path | None = None  # extrinsics.yaml (base_from_camera), when written
    queries: tuple = ()  # QueryWalk of each query walk written (see .queries)

    @classmethod
    def from_folder(cls, root) -> SynthOutput:
        """The :class:`SynthOutput` of a folder written earlier by :func:`synthesize`."""
        from ..trajectory import Trajectory

        root = Path(root)
        paths = {k: root / v for k, v in OUTPUT_NAMES.items()}
        for key in ("groundtruth", "camera_yaml", "walkable_yaml", "scene_json"):
            if not paths[key].is_file():
                raise FileNotFoundError(f"{root} is not a synthetic building folder: {OUTPUT_NAMES[key]} is missing")
        traj = Trajectory.load_csv(paths["groundtruth"])
        from .queries import load_query_walks

        return cls(
            root=root,
            video=paths["video"] if paths["video"].is_file() else None,
            groundtruth=paths["groundtruth"],
            camera_yaml=paths["camera_yaml"],
            walkable_yaml=paths["walkable_yaml"],
            walkable_image=paths["walkable_yaml"].with_suffix(".pgm"),
            floorplan_png=paths["floorplan_png"],
            scene_json=paths["scene_json"],
            num_frames=len(traj),
            duration_s=float(traj.timestamps[-1]) if len(traj) else 0.0,
            render_seconds=0.0,
            odometry=root / ODOMETRY_NAMES["odometry"] if (root / ODOMETRY_NAMES["odometry"]).is_file() else None,
            extrinsics=root / ODOMETRY_NAMES["extrinsics"] if (root / ODOMETRY_NAMES["extrinsics"]).is_file() else None,
            queries=tuple(load_query_walks(root).values()),
        )


def check_out_dir(out_dir, force: bool) -> Path:
    """``out_dir`` as a Path; raises ``FileExistsError`` if it is a non-empty folder (or a
    file) and ``force`` is false."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        if is_unfinished(out):
            raise FileExistsError(f"{out} holds an unfinished synth run (interrupted); use --force to redo it")
        raise FileExistsError(f"{out} is not empty (use --force / force=True to write into it anyway)")
    return out


def synthesize(
    config: SynthConfig | None,
    out_dir,
    progress: bool = True,
    force: bool = False,
    video: bool = True,
    scene: Scene | None = None,
    workers: int | None = None,
) -> SynthOutput:
    """Generate the building of ``config`` and write the folder described in the module
    docstring. Refuses a non-empty ``out_dir`` unless ``force`` (files of the same names are
    then replaced; nothing else is touched). ``video=False`` skips rendering (no mp4).
    ``workers``: render threads (default: 2 if the machine has 2+ cores). ``scene``: an already
    generated scene of ``config`` (skips generation)."""
    if scene is not None:
        if config is not None and config != scene.config:
            raise ValueError("synthesize: pass either a config or a scene generated from it, not different ones")
        config = scene.config
    config = config or SynthConfig()
    out = check_out_dir(out_dir, force)
    mark_unfinished(out)  # removed when every file is written
    t0 = time.perf_counter()
    scene = scene if scene is not None else generate_scene(config)
    log.info(
        "generated the building in %.1f s (%d boxes, textures %.0f MB)",
        time.perf_counter() - t0,
        len(scene.plan.boxes),
        scene.surfaces.atlas.nbytes / 1e6,
    )
    traj = scene.walkthrough()
    cam = scene.camera
    paths = {k: out / v for k, v in OUTPUT_NAMES.items()}
    traj.save_csv(paths["groundtruth"])
    odometry = write_odometry(out, traj, seed=config.seed)
    save_camera_yaml(cam, paths["camera_yaml"])
    walkable_yaml = scene.walkable_map().save(paths["walkable_yaml"], image_format="pgm")
    walkable_image = walkable_yaml.with_suffix(".pgm")
    scene.save_json(paths["scene_json"])
    plot_floorplan(scene, paths["floorplan_png"], traj)

    t1 = time.perf_counter()
    if video:
        from tqdm import tqdm

        from ..video import VideoWriter

        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        crf = config.realism_crf if config.mapping_realism else config.video_crf
        with VideoWriter(
            paths["video"], fps=config.fps, width=cam.width, height=cam.height, crf=crf, overwrite=True
        ) as writer:
            if config.mapping_realism:
                from .queries import camera_realism
                from .realism import FrameRenderer

                frames = FrameRenderer(
                    scene, traj, cam, camera_realism(config), seed=config.seed, stream=19
                ).iter_frames(workers)
            else:
                frames = scene.iter_frames(traj, cam, workers=workers)
            for rgb in tqdm(frames, total=len(traj), desc="rendering", unit="frame", disable=not progress):
                writer.write(rgb)
    render_s = time.perf_counter() - t1
    if video:
        log.info("rendered %d frames in %.1f s (%.1f frames/s)", len(traj), render_s, len(traj) / max(render_s, 1e-9))
    queries = []
    if config.query_walks:
        from .queries import QUERIES_DIR, write_query_walk

        for name in config.query_walks:
            queries.append(
                write_query_walk(
                    scene, name, out / QUERIES_DIR / name, video=video, progress=progress, workers=workers, force=force
                )
            )
    mark_finished(out)
    return SynthOutput(
        root=out,
        video=paths["video"] if video else None,
        groundtruth=paths["groundtruth"],
        camera_yaml=paths["camera_yaml"],
        walkable_yaml=walkable_yaml,
        walkable_image=walkable_image,
        floorplan_png=paths["floorplan_png"],
        scene_json=paths["scene_json"],
        num_frames=len(traj),
        duration_s=float(traj.timestamps[-1]) if len(traj) else 0.0,
        render_seconds=render_s,
        odometry=odometry["odometry"],
        extrinsics=odometry["extrinsics"],
        queries=tuple(queries),
    )
