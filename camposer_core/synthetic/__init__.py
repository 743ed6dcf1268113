"""The built-in synthetic building: a procedural university floor, a person-like walkthrough
around its corridor loop, fast vectorised rendering and exact ground truth.

API::

    SynthConfig(...), SynthConfig.small(), SynthConfig.preset("default" | "small")
    generate_scene(config) -> Scene
    Scene.render(position, quaternion, camera=None) -> (H, W, 3) uint8 RGB
    Scene.render_batch(positions, quaternions, camera=None) -> (N, H, W, 3) uint8
    Scene.walkthrough() -> Trajectory      (camera-to-world, map frame, recordings lap0, lap1, ...)
    Scene.walkable_map() -> WalkableMap; Scene.markers -> known 3-D points; Scene.camera
    synthesize(config, out_dir, progress=True, force=False) -> SynthOutput

Command line: ``camposer synth --out DIR [--preset small] [--seed N] ...``.
"""

from .config import SynthConfig
from .output import OUTPUT_NAMES, SynthOutput, synthesize
from .scene import Scene, generate_scene, scene_camera
from .surfaces import Marker

__all__ = [
    "SynthConfig",
    "Scene",
    "generate_scene",
    "scene_camera",
    "synthesize",
    "SynthOutput",
    "OUTPUT_NAMES",
    "Marker",
]
