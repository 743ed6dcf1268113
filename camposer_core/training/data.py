"""Training data from a dataset folder: images held in memory at the network input size,
pose targets, position normalisation, MapNet tuples / MeNet pairs, and augmentation.

Targets are ``(N, 7)`` float32: position normalised as ``(p - pos_mean) / pos_scale`` (ONE
shared scale, the RMS distance of the training camera centres from their mean, so the few
centimetres of height variation do not dominate the loss) and the canonical quaternion
(w >= 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torchvision.transforms import v2

from ..dataset.folder import DatasetFolder
from ..geometry import quat_canonical, quat_from_scipy, quat_multiply, relative_pose, rotation_error_deg
from ..imaging import IMAGENET_MEAN, resize_rgb
from .config import AugmentConfig

__all__ = [
    "SplitData",
    "Normalization",
    "load_split",
    "tuple_indices",
    "make_augmenter",
    "relative_targets",
    "pose_targets",
    "rotate_view",
    "RandomCameraRotation",
]


@dataclass
class Normalization:
    """``p_norm = (p - mean) / scale``; ``mean`` (3,) metres, ``scale`` metres per unit."""

    mean: np.ndarray
    scale: float

    @classmethod
    def from_positions(cls, positions: np.ndarray) -> Normalization:
        positions = np.asarray(positions, float).reshape(-1, 3)
        mean = positions.mean(axis=0)
        scale = float(np.sqrt(np.mean(np.sum((positions - mean) ** 2, axis=1))))
        return cls(mean, max(scale, 1e-3))

    def apply(self, positions: np.ndarray) -> np.ndarray:
        return (np.asarray(positions, float) - self.mean) / self.scale


@dataclass
class SplitData:
    """One split of a dataset, images resized to the input size."""

    name: str
    frames: list[str]
    images: np.ndarray  # (N, H, W, 3) uint8 RGB at the network input size
    positions: np.ndarray  # (N, 3) metres, map frame
    quaternions: np.ndarray  # (N, 4) canonical w, x, y, z
    recordings: list[str]
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)

    def targets(self, norm: Normalization) -> np.ndarray:
        """``(N, 7)`` float32 normalised position + canonical quaternion."""
        return pose_targets(norm, self.positions, self.quaternions)


def pose_targets(norm: Normalization, positions: np.ndarray, quaternions: np.ndarray) -> np.ndarray:
    """``(N, 7)`` float32 regression targets: ``positions`` (metres, map frame) normalised by
    ``norm``, then the quaternions (w, x, y, z) made canonical."""
    return np.concatenate([norm.apply(positions), quat_canonical(quaternions)], axis=1).astype(np.float32)


def load_split(folder: DatasetFolder, split: str, width: int, height: int) -> SplitData:
    """Read the poses and images of ``split``, resizing every image to ``width x height``."""
    traj = folder.poses(split)
    n = len(traj)
    images = np.empty((n, height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(traj.frames):
        images[i] = resize_rgb(folder.load_image(frame), width, height)
    recordings = traj.recordings if traj.recordings is not None else ["all"] * n
    return SplitData(
        name=split,
        frames=list(traj.frames),
        images=images,
        positions=traj.positions.copy(),
        quaternions=quat_canonical(traj.quaternions) if n else traj.quaternions,
        recordings=list(recordings),
        timestamps=traj.timestamps.copy(),
    )


def tuple_indices(recordings, timestamps, steps: int, skip: int) -> np.ndarray:
    """``(M, steps)`` indices of frame tuples ``i, i+skip, ..., i+(steps-1)*skip`` taken within
    each recording in timestamp order (never across recordings)."""
    recordings = np.asarray(recordings)
    timestamps = np.asarray(timestamps, float)
    out = []
    span = (steps - 1) * skip
    for rec in dict.fromkeys(recordings.tolist()):
        idx = np.flatnonzero(recordings == rec)
        idx = idx[np.argsort(timestamps[idx], kind="stable")]
        for start in range(len(idx) - span):
            out.append(idx[start : start + span + 1 : skip])
    return np.asarray(out, dtype=np.int64).reshape(-1, steps)


def nearby_pairs(
    positions_a: np.ndarray,
    quaternions_a: np.ndarray,
    positions_b: np.ndarray,
    quaternions_b: np.ndarray,
    radius_m: float,
    max_deg: float,
    same: bool = False,
) -> np.ndarray:
    """``(M, 2)`` index pairs ``(i, j)``: camera ``i`` of set a and camera ``j`` of set b whose
    centres are within ``radius_m`` metres and orientations within ``max_deg`` degrees (their
    views overlap). ``same``: a and b are one set, so ``i != j`` (both orders are returned)."""
    from scipy.spatial import cKDTree

    positions_b = np.asarray(positions_b, float).reshape(-1, 3)
    if len(positions_a) == 0 or len(positions_b) == 0:
        return np.zeros((0, 2), np.int64)
    near = cKDTree(positions_b).query_ball_point(np.asarray(positions_a, float).reshape(-1, 3), radius_m)
    pairs = np.array([(i, j) for i, js in enumerate(near) for j in js if not (same and i == j)], np.int64)
    if len(pairs) == 0:
        return np.zeros((0, 2), np.int64)
    turn = rotation_error_deg(np.asarray(quaternions_a)[pairs[:, 0]], np.asarray(quaternions_b)[pairs[:, 1]])
    return pairs[turn <= max_deg]


def concat_splits(a: SplitData, b: SplitData) -> SplitData:
    """The frames of ``a`` then those of ``b`` as one SplitData (named ``a+b``)."""
    return SplitData(
        name=f"{a.name}+{b.name}",
        frames=a.frames + b.frames,
        images=np.concatenate([a.images, b.images]),
        positions=np.concatenate([a.positions, b.positions]),
        quaternions=np.concatenate([a.quaternions, b.quaternions]),
        recordings=a.recordings + b.recordings,
        timestamps=np.concatenate([a.timestamps, b.timestamps]),
    )


def relative_targets(split: SplitData, pairs: np.ndarray, trans_scale: float) -> np.ndarray:
    """``(M, 7)`` MeNet targets for index pairs ``(M, 2)``: ``T_a^{-1} T_b`` with the
    translation divided by ``trans_scale``."""
    a, b = pairs[:, 0], pairs[:, 1]
    t, q = relative_pose(split.positions[a], split.quaternions[a], split.positions[b], split.quaternions[b])
    return np.concatenate([np.asarray(t).reshape(-1, 3) / trans_scale, quat_canonical(q).reshape(-1, 4)], 1).astype(
        np.float32
    )


def make_augmenter(cfg: AugmentConfig, width: int, height: int):
    """A callable uint8 ``(3, H, W)`` tensor → augmented uint8 tensor (same size), or None."""
    if not cfg.enabled:
        return None
    ops = []
    if cfg.crop_scale < 1.0:
        ratio = width / height
        ops.append(
            v2.RandomResizedCrop(
                (height, width), scale=(cfg.crop_scale, 1.0), ratio=(ratio * 0.95, ratio / 0.95), antialias=True
            )
        )
    if cfg.shift > 0:
        pad = [max(1, round(cfg.shift * width)), max(1, round(cfg.shift * height))]
        ops.append(v2.RandomCrop((height, width), padding=pad, padding_mode="edge"))
    if max(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue) > 0:
        ops.append(v2.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue))
    if cfg.channel_jitter > 0:
        ops.append(ChannelJitter(cfg.channel_jitter))
    return v2.Compose(ops) if ops else None


class ChannelJitter(torch.nn.Module):
    """uint8 ``(3, H, W)`` → each channel ``c``: ``mean_c + (x - mean_c) * U(1-a, 1+a) +
    U(-a, a) * 57`` grey levels, clipped (``mean_c``: ImageNet's, 57 ~ its std in grey levels).
    Not in torchvision: ColorJitter's factors are shared by the three channels."""

    def __init__(self, amount: float):
        super().__init__()
        self.amount = float(amount)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(3, 1, 1) * 255.0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        a = self.amount
        gain = 1.0 + (torch.rand(3, 1, 1) * 2 - 1) * a
        offset = (torch.rand(3, 1, 1) * 2 - 1) * a * 57.0
        out = self.mean + (image.float() - self.mean) * gain + offset
        return out.round_().clamp_(0, 255).to(torch.uint8)


def rotate_view(image: np.ndarray, K: np.ndarray, R_old_from_new: np.ndarray) -> np.ndarray:
    """The ``(H, W, C)`` image a camera with intrinsics ``K`` (pixels, this image's size) sees
    after turning about its own centre so that ``x_old = R_old_from_new @ x_new`` (OpenCV optical
    axes: x right, y down, z forward). Exact for a pinhole camera (a pure rotation needs no
    depth): pixel ``p_new`` samples the old image at ``K R K^-1 p_new``; edge pixels fill what
    the old view did not see."""
    H = K @ np.asarray(R_old_from_new, float) @ np.linalg.inv(K)
    h, w = image.shape[:2]
    return cv2.warpPerspective(
        np.ascontiguousarray(image),
        H,
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


class RandomCameraRotation:
    """Label-consistent geometric augmentation: turn the camera about its centre by a random
    angle in ``[-max_deg, max_deg]`` about each optical axis (x tilt, y pan, z roll), render the
    view with :func:`rotate_view` and turn the target's camera-to-world quaternion with it;
    the camera centre (the normalised position) does not move. Lens distortion is ignored
    (small at these angles). Draws from torch's RNG, so the training seed fixes it."""

    def __init__(self, max_deg: float, K: np.ndarray):
        self.max_rad = math.radians(max_deg)
        self.K = np.asarray(K, float)

    def __call__(self, image: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``image`` uint8 ``(3, H, W)``, ``target`` ``(7,)`` normalised position + quaternion."""
        angles = (torch.rand(3, dtype=torch.float64).numpy() * 2.0 - 1.0) * self.max_rad
        r = Rotation.from_euler("xyz", angles)  # new camera -> old camera
        out = rotate_view(image.permute(1, 2, 0).numpy(), self.K, r.as_matrix())
        q = quat_canonical(quat_multiply(target[3:].numpy().astype(float), quat_from_scipy(r)))
        target = torch.cat([target[:3], torch.from_numpy(q.astype(np.float32))])
        return torch.from_numpy(out).permute(2, 0, 1).contiguous(), target


class ImageDataset(torch.utils.data.Dataset):
    """Items ``(uint8 images (S, 3, H, W), targets (S, 7))`` for index tuples ``(M, S)``
    (S = 1 for PoseNet); each image is augmented independently: first ``rotate`` (a
    :class:`RandomCameraRotation`, which also turns its target), then ``augment``."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, index: np.ndarray, augment=None, rotate=None):
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2)  # (N, 3, H, W) uint8 view
        self.targets = torch.from_numpy(targets)
        self.index = torch.as_tensor(index, dtype=torch.long).reshape(len(index), -1)
        self.augment = augment
        self.rotate = rotate

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        idx = self.index[i]
        imgs, targets = self.images[idx], self.targets[idx]
        if self.rotate is not None:
            pairs = [self.rotate(im, t) for im, t in zip(imgs, targets)]
            imgs, targets = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
        if self.augment is not None:
            imgs = torch.stack([self.augment(im) for im in imgs])
        return imgs, targets


class PairDataset(torch.utils.data.Dataset):
    """MeNet items ``(uint8 (2, 3, H, W), target (7,))`` for pairs ``(M, 2)``; the same
    photometric/crop augmentation draw is NOT shared between the two images."""

    def __init__(self, images: np.ndarray, pairs: np.ndarray, targets: np.ndarray, augment=None):
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2)
        self.pairs = torch.as_tensor(pairs, dtype=torch.long)
        self.targets = torch.from_numpy(targets)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i):
        imgs = self.images[self.pairs[i]]
        if self.augment is not None:
            imgs = torch.stack([self.augment(im) for im in imgs])
        return imgs, self.targets[i]
