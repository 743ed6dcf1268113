"""The localization map: what PnP refinement matches a query image against.

One file per dataset, ``DATASET/localization_map.npz`` (uncompressed numpy archive, loads in
well under a second for ~600 images because the arrays are read, not parsed). It holds, in the
dataset's map frame (z up, metres):

* ``points`` ``(P, 3)``: the SfM/triangulated 3D points (map frame),
* per database image ``i`` (``names[i]``, camera-to-world ``positions[i]``, ``quaternions[i]``):
  the rows ``offsets[i]:offsets[i+1]`` of ``keypoints`` ``(M, 2)`` (COLMAP pixel coordinates of
  the dataset's images: the centre of the top-left pixel is (0.5, 0.5)), ``descriptors``
  ``(M, 128)`` uint8 (COLMAP SIFT, L1-root normalised, x 512) and ``point_ids`` ``(M,)`` (row
  in ``points``). Only keypoints that observe a 3D point are kept: nothing else can give a
  2D-3D correspondence;
* ``vocabulary`` ``(K, 128)`` and per-image word counts ``word_counts`` ``(N, K)`` for the
  global retrieval (:mod:`.retrieval`);
* ``camera``: the dataset's ``camera.yaml`` as JSON (OpenCV convention).

:meth:`LocalizationMap.without` removes images (e.g. a held-out split: no leakage) with their
observations, and the points left with fewer than 2 observations.
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..camera import PinholeCamera

__all__ = ["LocalizationMap", "MAP_FILE", "MAP_VERSION"]

MAP_FILE = "localization_map.npz"
MAP_VERSION = 1


@dataclass
class LocalizationMap:
    """Database images, their 2D-3D observations and descriptors (see module docstring)."""

    names: list[str]
    positions: np.ndarray  # (N, 3) camera centres, map frame, metres
    quaternions: np.ndarray  # (N, 4) w x y z camera-to-world
    offsets: np.ndarray  # (N + 1,) int64 row ranges into keypoints/descriptors/point_ids
    keypoints: np.ndarray  # (M, 2) float32, COLMAP pixel coordinates
    descriptors: np.ndarray  # (M, 128) uint8
    point_ids: np.ndarray  # (M,) int32 rows of points
    points: np.ndarray  # (P, 3) float64 map frame, metres
    camera: PinholeCamera
    vocabulary: np.ndarray  # (K, 128) float32 visual words
    word_counts: np.ndarray  # (N, K) float32 visual-word histogram per image
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.names)
        if self.offsets.shape != (n + 1,) or self.positions.shape != (n, 3) or self.quaternions.shape != (n, 4):
            raise ValueError(f"localization map: inconsistent image arrays for {n} images")
        m = int(self.offsets[-1])
        if len(self.keypoints) != m or len(self.descriptors) != m or len(self.point_ids) != m:
            raise ValueError(f"localization map: offsets end at {m} but there are {len(self.keypoints)} keypoints")
        # optical axes (camera z) in the map frame, for the "looking the same way" test
        from ..geometry import quat_to_matrix

        self.view_dirs = quat_to_matrix(self.quaternions)[..., :, 2] if n else np.zeros((0, 3))

    @property
    def num_images(self) -> int:
        return len(self.names)

    @property
    def num_observations(self) -> int:
        return int(self.offsets[-1])

    def rows(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def summary(self) -> str:
        return (
            f"{self.num_images} images, {len(self.points)} points, {self.num_observations} observations "
            f"({self.num_observations / max(1, self.num_images):.0f} per image), "
            f"{len(self.vocabulary)} visual words"
        )

    # ------------------------------------------------------------------ leakage

    def without(self, excluded) -> LocalizationMap:
        """The map without the images named in ``excluded``: their observations and
        descriptors are dropped, then every point seen by fewer than 2 remaining images is
        dropped with its observations (a point triangulated with a held-out image must not
        help to localise that image)."""
        excluded = set(excluded)
        keep_img = np.array([n not in excluded for n in self.names], bool)
        if keep_img.all():
            return self
        counts = np.diff(self.offsets)
        keep_obs = np.repeat(keep_img, counts)
        obs_per_point = np.bincount(self.point_ids[keep_obs], minlength=len(self.points))
        keep_point = obs_per_point >= 2
        keep_obs &= keep_point[self.point_ids]
        new_index = np.cumsum(keep_point) - 1
        image_of_obs = np.repeat(np.arange(self.num_images), counts)
        new_counts = np.bincount(image_of_obs[keep_obs], minlength=self.num_images)[keep_img]
        return LocalizationMap(
            names=[n for n, k in zip(self.names, keep_img) if k],
            positions=self.positions[keep_img],
            quaternions=self.quaternions[keep_img],
            offsets=np.concatenate([[0], np.cumsum(new_counts)]).astype(np.int64),
            keypoints=self.keypoints[keep_obs],
            descriptors=self.descriptors[keep_obs],
            point_ids=new_index[self.point_ids[keep_obs]].astype(np.int32),
            points=self.points[keep_point],
            camera=self.camera,
            vocabulary=self.vocabulary,
            word_counts=self.word_counts[keep_img],
            meta={**self.meta, "excluded_images": int((~keep_img).sum())},
        )

    def without_splits(self, folder, splits) -> LocalizationMap:
        """:meth:`without` the images of ``splits`` of the dataset ``folder`` (a
        :class:`~camposer_core.dataset.folder.DatasetFolder`)."""
        return self.without([f for split in splits for f in folder.poses(split).frames])

    # ------------------------------------------------------------------ file

    def save(self, path) -> Path:
        """Write the map to ``path`` atomically (a ``.tmp`` file renamed into place)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            version=np.int64(MAP_VERSION),
            names=np.array(self.names, dtype=str),
            positions=self.positions,
            quaternions=self.quaternions,
            offsets=self.offsets.astype(np.int64),
            keypoints=self.keypoints.astype(np.float32),
            descriptors=self.descriptors.astype(np.uint8),
            point_ids=self.point_ids.astype(np.int32),
            points=self.points,
            camera=np.array(json.dumps(self.camera.to_dict())),
            vocabulary=self.vocabulary.astype(np.float32),
            word_counts=self.word_counts.astype(np.float32),
            meta=np.array(json.dumps(self.meta, default=str)),
        )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path) -> LocalizationMap:
        """Read a map written by :meth:`save`. Raises ``FileNotFoundError`` / ``ValueError``
        naming the file when it is missing, of another version or damaged."""
        path = Path(path)
        if path.is_dir():
            path = path / MAP_FILE
        if not path.is_file():
            raise FileNotFoundError(f"localization map not found: {path} (build it with `camposer map-index DATASET`)")
        t0 = time.perf_counter()
        try:
            with np.load(path, allow_pickle=False) as z:
                version = int(z["version"])
                if version != MAP_VERSION:
                    raise ValueError(
                        f"{path}: localization map version {version}, this camposer reads {MAP_VERSION} "
                        "(rebuild it with `camposer map-index DATASET --force`)"
                    )
                m = cls(
                    names=[str(n) for n in z["names"]],
                    positions=z["positions"],
                    quaternions=z["quaternions"],
                    offsets=z["offsets"],
                    keypoints=z["keypoints"],
                    descriptors=z["descriptors"],
                    point_ids=z["point_ids"],
                    points=z["points"],
                    camera=PinholeCamera.from_dict(json.loads(str(z["camera"])), source=str(path)),
                    vocabulary=z["vocabulary"],
                    word_counts=z["word_counts"],
                    meta=json.loads(str(z["meta"])),
                )
        except (KeyError, OSError, EOFError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            if isinstance(exc, ValueError) and "localization map version" in str(exc):
                raise
            raise ValueError(f"{path}: not a readable localization map ({exc})") from exc
        m.meta["load_seconds"] = time.perf_counter() - t0
        return m
