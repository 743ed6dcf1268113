"""The dataset folder: what the builder writes and training, evaluation, the ROS map node
and the bag tools read.

Layout::

    DATASET/
      manifest.json        sources, parameters, alignment residuals, counts, versions
      camera.yaml          intrinsics of the images in images/ (CameraInfo layout)
      images/              one image per registered frame (name = ``frame`` column)
      poses.csv            every registered frame (camera-to-world, map frame, metres)
      train/poses.csv      the training split       (same columns, see trajectory.py)
      val/poses.csv        the validation split
      test/poses.csv       the test split
      points3D.ply         sparse SfM points in the map frame (optional)
      walkable.yaml        nav2 map_server walkable map + its image (optional)

Only ``manifest.json``, ``camera.yaml``, ``images/`` and ``poses.csv`` are required; a split
that is absent reads as empty.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..camera import PinholeCamera, load_camera_yaml
from ..trajectory import Trajectory

__all__ = ["DatasetFolder", "SPLITS", "MANIFEST", "read_image_rgb"]

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"


def read_image_rgb(path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB. Raises ``ValueError`` naming the file
    when it is missing, empty or not decodable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ValueError(f"{path}: not a readable image (corrupt or unsupported format)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class DatasetFolder:
    """Read access to a dataset folder (see module docstring)."""

    root: Path

    @classmethod
    def open(cls, root) -> DatasetFolder:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {root}")
        if not (root / MANIFEST).is_file() and any((root / n).exists() for n in ("poses.csv", "images", "work")):
            raise ValueError(
                f"{root}: unfinished dataset (no {MANIFEST}: its build was interrupted or failed); "
                "rerun `camposer build-dataset` on it to finish it"
            )
        for required in (MANIFEST, "camera.yaml", "poses.csv"):
            if not (root / required).is_file():
                raise ValueError(f"{root}: not a camposer dataset (missing {required})")
        return cls(root)

    @property
    def manifest(self) -> dict:
        try:
            return json.loads((self.root / MANIFEST).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.root / MANIFEST}: invalid JSON ({exc})") from exc

    @property
    def map_frame(self) -> str:
        return str(self.manifest.get("map_frame", "map"))

    @property
    def camera(self) -> PinholeCamera:
        return load_camera_yaml(self.root / "camera.yaml")

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    def poses(self, split: str = "all") -> Trajectory:
        """Poses of one split (``train``, ``val``, ``test``) or of every frame (``all``)."""
        if split == "all":
            return Trajectory.load_csv(self.root / "poses.csv")
        path = self.root / split / "poses.csv"
        if not path.is_file():
            if split not in SPLITS:
                raise ValueError(f"{self.root}: unknown split {split!r} (have {self.splits()})")
            return Trajectory([], np.zeros(0), np.zeros((0, 3)), np.zeros((0, 4)))
        return Trajectory.load_csv(path)

    def splits(self) -> list[str]:
        """Names of the splits present (folders holding a poses.csv)."""
        return sorted(p.parent.name for p in self.root.glob("*/poses.csv"))

    def image_path(self, frame: str) -> Path:
        return self.images_dir / frame

    def load_image(self, frame: str) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB image of ``frame``."""
        return read_image_rgb(self.image_path(frame))

    @property
    def points_path(self) -> Path | None:
        p = self.root / "points3D.ply"
        return p if p.is_file() else None

    @property
    def walkable_map_path(self) -> Path | None:
        p = self.root / "walkable.yaml"
        return p if p.is_file() else None

    def manifest_hash(self) -> str:
        """SHA-256 of manifest.json and every poses.csv: identifies the labels a model saw."""
        h = hashlib.sha256()
        for p in [self.root / MANIFEST, self.root / "poses.csv"] + sorted(self.root.glob("*/poses.csv")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
        return h.hexdigest()
