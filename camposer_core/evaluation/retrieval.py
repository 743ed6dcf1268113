"""The nearest-neighbour retrieval baseline: the pose of the most similar training image.

Every image becomes a 32 x 24 grey thumbnail (area-averaged, then zero mean and unit norm so
that global brightness changes do not matter); a query gets the pose of the training image
whose thumbnail is closest in Euclidean distance (equivalently: highest normalised
correlation). A pose regressor that does not beat this has learned nothing beyond image
lookup. Poses are camera-to-world, map frame (m, quaternions w, x, y, z).

    base = RetrievalBaseline().fit("DATASET", split="train")
    positions, quaternions = base.predict(list_of_rgb_images)
    traj = base.predict_split("DATASET", "test")      # a Trajectory of predictions
"""

from __future__ import annotations

import cv2
import numpy as np

from ..dataset.folder import DatasetFolder
from ..geometry import position_error, rotation_error_deg, summarize_errors
from ..trajectory import Trajectory

__all__ = ["RetrievalBaseline", "retrieval_summary", "thumbnail"]

THUMB_SIZE = (32, 24)  # width, height


def thumbnail(image: np.ndarray, size: tuple[int, int] = THUMB_SIZE) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grey) → flat float32 descriptor of the grey
    ``size`` (width, height) thumbnail, zero mean, unit norm."""
    img = np.asarray(image)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[..., :3]
        img = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    elif img.ndim != 2:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {img.shape}")
    t = cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    t -= t.mean()
    n = np.linalg.norm(t)
    return t / n if n > 1e-6 else t


def _open(dataset):
    return dataset if isinstance(dataset, DatasetFolder) else DatasetFolder.open(dataset)


class RetrievalBaseline:
    """Pose of the nearest training thumbnail (see module docstring)."""

    def __init__(self, size: tuple[int, int] = THUMB_SIZE):
        self.size = tuple(size)
        self.descriptors: np.ndarray | None = None
        self.positions: np.ndarray | None = None
        self.quaternions: np.ndarray | None = None
        self.frames: list[str] = []

    def fit_images(self, images, positions, quaternions, frames=None) -> RetrievalBaseline:
        """Index images (RGB uint8) with their camera-to-world poses."""
        self.descriptors = np.stack([thumbnail(im, self.size) for im in images]) if len(images) else None
        if self.descriptors is None:
            raise ValueError("retrieval baseline needs at least one training image")
        self.positions = np.asarray(positions, float).reshape(-1, 3)
        self.quaternions = np.asarray(quaternions, float).reshape(-1, 4)
        if not (len(self.positions) == len(self.quaternions) == len(self.descriptors)):
            raise ValueError("need one pose per training image")
        self.frames = list(frames) if frames is not None else [str(i) for i in range(len(self.descriptors))]
        return self

    def fit(self, dataset, split: str = "train") -> RetrievalBaseline:
        """Index the images of ``split`` of a dataset folder (path or ``DatasetFolder``)."""
        ds = _open(dataset)
        traj = ds.poses(split)
        if len(traj) == 0:
            raise ValueError(f"{ds.root}: split {split!r} has no frames to index")
        images = [ds.load_image(f) for f in traj.frames]
        return self.fit_images(images, traj.positions, traj.quaternions, traj.frames)

    def nearest(self, images) -> np.ndarray:
        """Index of the nearest training image for each query image."""
        if self.descriptors is None:
            raise RuntimeError("RetrievalBaseline.fit() must be called before predict()")
        q = np.stack([thumbnail(im, self.size) for im in images])
        # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b with unit-norm descriptors: the largest a.b wins.
        return np.argmax(q @ self.descriptors.T, axis=1)

    def predict(self, images) -> tuple[np.ndarray, np.ndarray]:
        """``(positions (N, 3), quaternions (N, 4))`` for a list of RGB images."""
        if len(images) == 0:
            return np.zeros((0, 3)), np.zeros((0, 4))
        idx = self.nearest(images)
        return self.positions[idx].copy(), self.quaternions[idx].copy()

    def predict_split(self, dataset, split: str = "test", batch: int = 256) -> Trajectory:
        """Predictions for every frame of ``split`` as a :class:`Trajectory`."""
        ds = _open(dataset)
        traj = ds.poses(split)
        pos, quat = [], []
        for i in range(0, len(traj), batch):
            p, q = self.predict([ds.load_image(f) for f in traj.frames[i : i + batch]])
            pos.append(p)
            quat.append(q)
        positions = np.concatenate(pos) if pos else np.zeros((0, 3))
        quats = np.concatenate(quat) if quat else np.zeros((0, 4))
        return Trajectory(traj.frames, traj.timestamps, positions, quats, traj.recordings)


def retrieval_summary(dataset, split: str = "test"):
    """Errors (:class:`~camposer_core.geometry.ErrorSummary`: metres, degrees) of the baseline
    indexing the train split of ``dataset`` (path or ``DatasetFolder``), on the frames of ``split``."""
    ds = _open(dataset)
    pred = RetrievalBaseline().fit(ds, "train").predict_split(ds, split)
    gt = ds.poses(split)
    return summarize_errors(
        position_error(pred.positions, gt.positions), rotation_error_deg(pred.quaternions, gt.quaternions)
    )
