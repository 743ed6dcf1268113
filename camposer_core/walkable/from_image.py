"""Walkable maps from a floor-plan image (the seed's hand-painted plan, done properly).

1. A :class:`PlanRule` says which pixels are walkable: bright pixels (``brightness``: grey
   level >= ``threshold``, e.g. a white floor with black walls) or pixels of a painted colour
   (``color``: RGB distance to ``color`` <= ``tolerance``); ``invert`` swaps the result.
2. :func:`remove_specks` cleans the mask: walkable islands and non-walkable specks (text,
   dust, thin painting gaps) smaller than ``min_component_m2`` are removed / filled.
3. Control points place the plan in the map frame: ``u,v,x,y`` rows, pixel ``(u, v)`` (OpenCV
   convention: u right, v down, (0, 0) = centre of the top-left pixel) ↔ map ``(x, y)`` metres.
   Two points fix a similarity (scale, rotation, translation); three or more are fitted in
   least squares with :func:`camposer_core.alignment.umeyama` and their residuals reported.
   A plan is never mirrored: control points that need a reflection are rejected.
4. The plan is resampled (nearest pixel) onto an axis-aligned map grid (yaw 0, so every nav2
   tool reads it) whose resolution defaults to the plan's metres per pixel. Cells outside the
   plan are unknown, non-walkable plan pixels occupied.

Control-point file (CSV, header required)::

    u,v,x,y
    12.0,388.5,0.0,0.0
    612.0,388.5,30.0,0.0
    612.0,88.5,30.0,15.0
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..alignment import umeyama
from .grid import FREE, OCCUPIED, UNKNOWN, WalkableMap

__all__ = [
    "PlanRule",
    "PlanAlignment",
    "classify_plan",
    "remove_specks",
    "load_control_points",
    "plan_similarity",
    "map_from_plan",
]


@dataclass
class PlanRule:
    """Which plan pixels are walkable (see module docstring). ``threshold`` is a 0..255 grey
    level, ``color`` an RGB triple, ``tolerance`` a Euclidean RGB distance."""

    mode: str = "brightness"
    threshold: float = 200.0
    color: tuple[int, int, int] = (255, 255, 255)
    tolerance: float = 40.0
    invert: bool = False

    def __post_init__(self):
        if self.mode not in ("brightness", "color"):
            raise ValueError(f"plan rule mode must be 'brightness' or 'color', got {self.mode!r}")
        if len(tuple(self.color)) != 3:
            raise ValueError(f"plan rule colour must be R,G,B, got {self.color}")


@dataclass(frozen=True)
class PlanAlignment:
    """Plan pixels → map: ``similarity`` maps ``(u, -v, 0)`` to ``(x, y, 0)`` (metres);
    ``metres_per_pixel`` is its scale; ``residuals_m`` the control points' misfit (zeros for
    two points, which fit exactly)."""

    similarity: object  # camposer_core.alignment.Similarity
    metres_per_pixel: float
    residuals_m: np.ndarray

    def pixels_to_map(self, uv) -> np.ndarray:
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        p = np.column_stack([uv[:, 0], -uv[:, 1], np.zeros(len(uv))])
        return self.similarity.apply(p)[:, :2]

    def map_to_pixels(self, xy) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        p = self.similarity.inverse().apply(np.column_stack([xy, np.zeros(len(xy))]))
        return np.column_stack([p[:, 0], -p[:, 1]])


def classify_plan(image_rgb: np.ndarray, rule: PlanRule) -> np.ndarray:
    """``(H, W)`` bool, True where the plan pixel is walkable under ``rule``."""
    img = np.asarray(image_rgb)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"plan image must be (H, W) grey or (H, W, 3) RGB, got shape {img.shape}")
    rgb = img[..., :3].astype(np.float64)
    if rule.mode == "brightness":
        walkable = rgb.mean(axis=2) >= rule.threshold
    else:
        walkable = np.linalg.norm(rgb - np.asarray(rule.color, float), axis=2) <= rule.tolerance
    return ~walkable if rule.invert else walkable


def remove_specks(walkable: np.ndarray, min_cells: int) -> np.ndarray:
    """Remove walkable components smaller than ``min_cells`` and fill non-walkable components
    smaller than that (4-connected). Returns a new bool array."""
    out = np.asarray(walkable, dtype=bool).copy()
    if min_cells <= 1:
        return out
    for value in (True, False):
        labels, n = ndimage.label(out == value)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel())
        small = sizes < min_cells
        small[0] = False
        out[small[labels]] = not value
    return out


def load_control_points(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``u,v,x,y`` CSV → ``(uv (N, 2) pixels, xy (N, 2) metres)``. Needs >= 2 rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"control-point file not found: {path}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        if not {"u", "v", "x", "y"} <= set(cols):
            raise ValueError(f"{path}: need a header with columns u,v,x,y (got {cols})")
        rows = []
        for lineno, row in enumerate(reader, start=2):
            row = {k.strip(): v for k, v in row.items() if k is not None}
            try:
                rows.append([float(row[c]) for c in ("u", "v", "x", "y")])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{lineno}: bad number ({exc})") from exc
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    if len(a) < 2:
        raise ValueError(f"{path}: need at least 2 control points, got {len(a)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{path}: NaN or inf in control points")
    return a[:, :2], a[:, 2:]


def plan_similarity(uv, xy) -> PlanAlignment:
    """Similarity from plan pixels ``uv`` to map ``xy`` (see module docstring)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(uv) != len(xy) or len(uv) < 2:
        raise ValueError(f"need >= 2 matching control points, got {len(uv)} pixels and {len(xy)} map points")
    src = np.column_stack([uv[:, 0], -uv[:, 1]])  # pixel frame with y up: no reflection
    dst = xy.copy()
    if np.min(np.linalg.norm(src[1:] - src[0], axis=1)) == 0 and len(uv) == 2:
        raise ValueError("the two control points are the same pixel")
    if len(uv) == 2:
        # A similarity keeps right angles and handedness: a third point at 90 degrees pins it.
        rot90 = np.array([[0.0, -1.0], [1.0, 0.0]])
        src = np.vstack([src, src[0] + (src[1] - src[0]) @ rot90.T])
        dst = np.vstack([dst, dst[0] + (dst[1] - dst[0]) @ rot90.T])
    z = np.zeros((len(src), 1))
    try:
        fit = umeyama(np.hstack([src, z]), np.hstack([dst, z]), with_scale=True)
    except ValueError as exc:
        raise ValueError(f"control points do not fix the plan's placement: {exc}") from exc
    sim = fit.transform
    if sim.rotation[2, 2] < 0.5:
        raise ValueError(
            "control points need a mirrored plan (check u/v against x/y: v grows downwards in "
            "the image, y upwards in the map)"
        )
    return PlanAlignment(sim, float(sim.scale), fit.residuals[: len(uv)])


def map_from_plan(
    image_rgb: np.ndarray,
    uv,
    xy,
    rule: PlanRule | None = None,
    resolution_m: float | None = None,
    min_component_m2: float = 0.25,
    frame_id: str = "map",
) -> tuple[WalkableMap, PlanAlignment]:
    """Walkable map from a floor-plan image and control points (see module docstring).

    ``resolution_m`` defaults to the plan's metres per pixel. Returns the map and the
    alignment (with the control-point residuals, to report to the user)."""
    rule = rule or PlanRule()
    align = plan_similarity(uv, xy)
    walk = classify_plan(image_rgb, rule)
    mpp = align.metres_per_pixel
    walk = remove_specks(walk, int(np.ceil(min_component_m2 / mpp**2)))
    res = float(resolution_m or mpp)
    if not res > 0:
        raise ValueError(f"resolution must be > 0 m, got {res}")
    h, w = walk.shape
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])
    cxy = align.pixels_to_map(corners)
    lo, hi = cxy.min(axis=0), cxy.max(axis=0)
    gw, gh = (np.maximum(np.ceil((hi - lo) / res), 1)).astype(int)
    if gw * gh > 40_000_000:
        raise ValueError(f"plan map would have {gw}x{gh} cells at {res} m; use a coarser --resolution")
    m = WalkableMap(np.full((gh, gw), UNKNOWN, np.int8), res, (float(lo[0]), float(lo[1]), 0.0), frame_id)
    rows, cols = np.mgrid[0:gh, 0:gw]
    uvc = np.rint(align.map_to_pixels(m.cell_to_world(rows.ravel(), cols.ravel()))).astype(np.int64)
    inside = (uvc[:, 0] >= 0) & (uvc[:, 0] < w) & (uvc[:, 1] >= 0) & (uvc[:, 1] < h)
    occ = m.occupancy.reshape(-1)
    occ[inside] = np.where(walk[uvc[inside, 1], uvc[inside, 0]], FREE, OCCUPIED)
    return m, align
