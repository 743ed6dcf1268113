"""Novel-view augmentation: training images re-rendered from nearby camera centres with the
depth the SfM map gives them.

A pose regressor learns the training path and little around it: on the demo's held-out lap,
walked 0.1-0.3 m beside the training laps, its errors lean towards the training path for
seconds at a time, which no fusion with odometry averages away. A rotation can be rendered
from one image exactly (:func:`~camposer_core.training.data.rotate_view`); a translation needs
depth. The dataset's localization map holds, for every database image, its keypoints and the
3D points they observe: projected into the image they give a sparse depth (~1000 points per
frame), interpolated piecewise-linearly over their Delaunay triangulation (walls are planes)
into a dense one. Each pixel is then moved to where a camera displaced by ``t`` (camera axes:
x right, z forward; orientation unchanged) sees it, nearest surface winning; what the old view
did not see is inpainted (OpenCV). Labels: the new camera centre ``C + R_wc t``, the same
orientation.

Only points seen by at least two TRAINING images are used (:meth:`LocalizationMap.without` the
validation and test images), so no structure triangulated from a held-out frame reaches
training.
"""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np
from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

from ..geometry import quat_to_matrix

log = logging.getLogger(__name__)

__all__ = ["dense_depth", "image_depth", "translate_view", "novel_views"]


def image_depth(lmap, i: int, K: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(n, 2)`` (at ``width x height``, intrinsics ``K``) and depths ``(n,)`` (metres
    along the optical axis) of the map points observed by database image ``i``."""
    pts = lmap.points[lmap.point_ids[lmap.rows(i)]]
    R_wc = quat_to_matrix(lmap.quaternions[i])
    X = (pts - lmap.positions[i]) @ R_wc  # world -> camera: R_wc^T (p - C)
    X = X[X[:, 2] > 0.05]
    uv = (X @ K.T)[:, :2] / X[:, 2:3]
    inside = (uv[:, 0] > -0.5) & (uv[:, 0] < width - 0.5) & (uv[:, 1] > -0.5) & (uv[:, 1] < height - 0.5)
    return uv[inside], X[inside, 2]


def dense_depth(uv: np.ndarray, z: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(height, width)`` depth (metres) interpolated from sparse pixels ``uv`` / depths ``z``:
    linear over their Delaunay triangles, the nearest sample outside their hull."""
    gu, gv = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
    grid = np.stack([gu.ravel(), gv.ravel()], 1)
    depth = LinearNDInterpolator(uv, z)(grid)
    missing = ~np.isfinite(depth)
    if missing.any():
        depth[missing] = NearestNDInterpolator(uv, z)(grid[missing])
    return depth.reshape(height, width)


def translate_view(image: np.ndarray, depth: np.ndarray, K: np.ndarray, t_cam: np.ndarray) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 view of a camera moved by ``t_cam`` (metres, in its own optical
    axes) without turning, from ``image`` and its per-pixel ``depth``: every pixel is moved to
    where the new camera sees its surface point (the nearest point wins a pixel), and pixels no
    old one lands on (uncovered or magnified) are inpainted."""
    h, w = depth.shape
    gu, gv = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    rays = np.stack([gu, gv, np.ones_like(gu)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    X = rays * depth.reshape(-1, 1) - np.asarray(t_cam, float)
    front = X[:, 2] > 0.05
    uv = (X[front] @ K.T)[:, :2] / X[front, 2:3]
    u, v = np.rint(uv[:, 0]).astype(np.int64), np.rint(uv[:, 1]).astype(np.int64)
    ok = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    target = (v * w + u)[ok]
    zs = X[front, 2][ok]
    colours = image.reshape(-1, 3)[front][ok]
    order = np.lexsort((zs, target))  # by target pixel, nearest first
    first = np.unique(target[order], return_index=True)[1]
    out = np.zeros((h * w, 3), np.uint8)
    hit = np.zeros(h * w, np.uint8)
    out[target[order][first]] = colours[order][first]
    hit[target[order][first]] = 1
    hole = (hit == 0).reshape(h, w).astype(np.uint8)
    return cv2.inpaint(out.reshape(h, w, 3), hole, 3, cv2.INPAINT_TELEA) if hole.any() else out.reshape(h, w, 3)


def novel_views(
    split, lmap, camera, copies: int, max_offset_m: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``copies`` new views of every image of ``split`` (a :class:`~.data.SplitData` at the
    network input size), each from a camera centre moved by a uniform random offset of up to
    ``max_offset_m`` sideways and forwards (camera x and z), orientation kept.

    ``lmap``: the localization map (held-out images already removed); ``camera``: the dataset's
    camera. Returns images ``(M, H, W, 3)`` uint8, camera centres ``(M, 3)`` (map frame, metres)
    and quaternions ``(M, 4)`` (w, x, y, z camera-to-world). Frames the map does not hold, or
    that see fewer than 30 of its points, get no copies (logged)."""
    _, height, width, _ = split.images.shape
    K = camera.scaled(width, height).K
    index = {n: i for i, n in enumerate(lmap.names)}
    rng = np.random.default_rng(seed)
    images, positions, quaternions, skipped = [], [], [], 0
    log.info(
        "novel views: rendering %d per training image for %d images (moves up to %.2f m)...",
        copies,
        len(split.frames),
        max_offset_m,
    )
    t0 = time.perf_counter()
    for j, frame in enumerate(split.frames):
        i = index.get(frame)
        uv, z = image_depth(lmap, i, K, width, height) if i is not None else (np.zeros((0, 2)), np.zeros(0))
        if len(z) < 30:
            skipped += 1
            continue
        depth = dense_depth(uv, z, width, height)
        R_wc = quat_to_matrix(split.quaternions[j])
        for _ in range(copies):
            t = np.array([rng.uniform(-1, 1), 0.0, rng.uniform(-1, 1)]) * max_offset_m
            images.append(translate_view(split.images[j], depth, K, t))
            positions.append(split.positions[j] + R_wc @ t)
            quaternions.append(split.quaternions[j])
    log.info(
        "novel views: %d from %d training images (%d without map depth) in %.1f s",
        len(images),
        len(split.frames) - skipped,
        skipped,
        time.perf_counter() - t0,
    )
    if not images:
        return np.zeros((0, height, width, 3), np.uint8), np.zeros((0, 3)), np.zeros((0, 4))
    return np.stack(images), np.stack(positions), np.stack(quaternions)
