"""Walkable maps built from data, for buildings without a floor plan.

* :func:`map_from_trajectory`: the cells within ``radius_m`` of the camera path are walkable
  (the person/robot carrying the camera walked there); everything else is unknown.
* :func:`map_from_points`: the sparse SfM point cloud, split by height above the floor: points
  near the floor (``|z - floor| <= floor_band_m``) are evidence of free floor, points between
  ``obstacle_min_m`` and ``obstacle_max_m`` above it (furniture, walls) of obstacles; higher
  points (ceiling, lamps) are ignored.
* :func:`map_from_data`: both together: the path corridor is walkable, floor cells without
  obstacles are walkable, obstacle cells are occupied (except on the path itself).

The floor height: the map frame has the floor at z = 0 (project convention). If the dataset
does not, :func:`estimate_floor_z` takes it from the camera heights: ``median(camera z) -
camera_height_m`` (height of the camera above the floor while walking).

All coordinates are map-frame metres; the grids are axis-aligned (yaw 0) with ``padding_m``
of margin around the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .grid import FREE, OCCUPIED, UNKNOWN, WalkableMap

__all__ = [
    "TrajectoryMapConfig",
    "PointMapConfig",
    "estimate_floor_z",
    "map_from_trajectory",
    "map_from_points",
    "map_from_data",
    "path_cells",
]


@dataclass
class TrajectoryMapConfig:
    """How a camera path becomes walkable cells.

    ``radius_m``: half-width of the walkable corridor around the path. ``resolution_m``: cell
    size. ``padding_m``: margin around the data. ``max_gap_m``: consecutive frames farther
    apart than this are not joined (separate recordings, tracking jumps)."""

    radius_m: float = 0.5
    resolution_m: float = 0.05
    padding_m: float = 1.0
    max_gap_m: float = 2.0

    def __post_init__(self):
        for name in ("radius_m", "resolution_m", "max_gap_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.padding_m < 0:
            raise ValueError(f"padding_m must be >= 0, got {self.padding_m}")


@dataclass
class PointMapConfig:
    """How SfM points become free/occupied cells (heights in metres above the floor).

    A cell is floor when its neighbourhood (square of half-side ``evidence_radius_m``) holds
    >= ``min_points`` points within ``floor_band_m`` of the floor, an obstacle when it holds
    >= ``min_points`` points between ``obstacle_min_m`` and ``obstacle_max_m``. SfM clouds are
    sparse, so single cells rarely hold enough points. ``fill_radius_m`` grows the floor
    evidence further (plain floors give few points) before obstacles are subtracted."""

    floor_band_m: float = 0.1
    obstacle_min_m: float = 0.1
    obstacle_max_m: float = 2.0
    min_points: int = 3
    evidence_radius_m: float = 0.1
    fill_radius_m: float = 0.3

    def __post_init__(self):
        if not (0 <= self.obstacle_min_m < self.obstacle_max_m):
            raise ValueError("need 0 <= obstacle_min_m < obstacle_max_m")
        if self.floor_band_m <= 0 or self.min_points < 1 or self.fill_radius_m < 0 or self.evidence_radius_m < 0:
            raise ValueError("floor_band_m must be > 0, min_points >= 1, fill/evidence radius >= 0")


def estimate_floor_z(camera_z, camera_height_m: float | None = None) -> float:
    """Floor height (m, map frame): ``median(camera_z) - camera_height_m``, or 0.0 (the map
    convention) when the camera height above the floor is not given."""
    if camera_height_m is None:
        return 0.0
    z = np.asarray(camera_z, dtype=np.float64).reshape(-1)
    if z.size == 0:
        raise ValueError("cannot estimate the floor height without camera positions")
    return float(np.median(z) - camera_height_m)


def _grid(xy_min, xy_max, res: float, padding: float) -> tuple[tuple[int, int], tuple[float, float]]:
    """Shape ``(H, W)`` and origin of an axis-aligned grid covering the box plus padding."""
    lo = np.floor((np.asarray(xy_min) - padding) / res) * res
    hi = np.asarray(xy_max) + padding
    w, h = (np.maximum(np.ceil((hi - lo) / res), 1)).astype(int)
    if h * w > 40_000_000:
        raise ValueError(
            f"map would have {w}x{h} cells at {res} m: the data spans {hi - lo} m; "
            "check the positions' units or use a coarser resolution"
        )
    return (int(h), int(w)), (float(lo[0]), float(lo[1]))


def _densify(xy: np.ndarray, step: float, max_gap: float) -> np.ndarray:
    """Points along the polyline ``xy`` every ``step`` m; segments longer than ``max_gap``
    are skipped (their end points are kept)."""
    if len(xy) < 2:
        return xy
    seg = np.diff(xy, axis=0)
    length = np.linalg.norm(seg, axis=1)
    keep = length <= max_gap
    n = np.where(keep, np.ceil(length / step).astype(int), 0)
    idx = np.repeat(np.arange(len(seg)), n)
    starts = np.cumsum(n) - n
    frac = (np.arange(n.sum()) - np.repeat(starts, n)) / np.maximum(np.repeat(n, n), 1)
    pts = xy[idx] + seg[idx] * frac[:, None]
    return np.concatenate([pts, xy], axis=0)


def _mark(m: WalkableMap, xy: np.ndarray) -> np.ndarray:
    """Bool grid (image order) of the cells containing the given points (outside ignored)."""
    mask = np.zeros(m.shape, dtype=bool)
    if len(xy):
        rows, cols = m.world_to_cell(xy)
        ok = m.cells_in_bounds(rows, cols)
        mask[rows[ok], cols[ok]] = True
    return mask


def _within(mask: np.ndarray, radius_m: float, res: float) -> np.ndarray:
    """Cells whose centre is within ``radius_m`` of the centre of a marked cell."""
    if not mask.any():
        return mask.copy()
    return ndimage.distance_transform_edt(~mask) * res <= radius_m


def path_cells(m: WalkableMap, positions, config: TrajectoryMapConfig) -> np.ndarray:
    """Bool grid (image order) of the cells within ``config.radius_m`` of the camera path."""
    xy = np.asarray(positions, dtype=np.float64)[:, :2]
    dense = _densify(xy, m.resolution / 2, config.max_gap_m)
    return _within(_mark(m, dense), config.radius_m, m.resolution)


def _positions(trajectory_or_positions) -> np.ndarray:
    p = getattr(trajectory_or_positions, "positions", trajectory_or_positions)
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or len(p) == 0:
        raise ValueError(f"need a non-empty trajectory / (N, 2|3) positions, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("positions contain NaN or inf")
    return p


def map_from_trajectory(
    trajectory, config: TrajectoryMapConfig | None = None, frame_id: str = "map", extra_xy=None
) -> WalkableMap:
    """Walkable map of the corridor of ``config.radius_m`` around a camera path.

    ``trajectory``: a :class:`~camposer_core.trajectory.Trajectory` (frames in time order) or
    ``(N, 2|3)`` positions (m, map frame). Cells off the path are UNKNOWN (-1). The grid covers
    the path (and the ``extra_xy`` points, if given) plus the radius and ``padding_m``."""
    config = config or TrajectoryMapConfig()
    p = _positions(trajectory)
    lo, hi = p[:, :2].min(0), p[:, :2].max(0)
    if extra_xy is not None and len(extra_xy):
        lo = np.minimum(lo, np.min(extra_xy, axis=0))
        hi = np.maximum(hi, np.max(extra_xy, axis=0))
    shape, origin = _grid(lo, hi, config.resolution_m, config.padding_m + config.radius_m)
    m = WalkableMap(np.full(shape, UNKNOWN, np.int8), config.resolution_m, (*origin, 0.0), frame_id)
    m.occupancy[path_cells(m, p, config)] = FREE
    return m


def _useful_points(points, floor_z: float, cfg: PointMapConfig) -> np.ndarray:
    """Finite ``(N, 3)`` points from just below the floor to ``obstacle_max_m`` above it."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got shape {pts.shape}")
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    h = pts[:, 2] - floor_z
    return pts[(h >= -cfg.floor_band_m) & (h < cfg.obstacle_max_m)]


def _robust_box(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1st-99th percentile box: a few far outliers do not blow up the grid."""
    lo, hi = np.percentile(xy, [1, 99], axis=0)
    return lo, hi


def _classify_points(m: WalkableMap, points: np.ndarray, floor_z: float, cfg: PointMapConfig):
    """``(floor, obstacle)`` bool grids from point counts per cell."""
    h = points[:, 2] - floor_z
    floor_pts = points[np.abs(h) <= cfg.floor_band_m, :2]
    obst_pts = points[(h > cfg.obstacle_min_m) & (h < cfg.obstacle_max_m), :2]

    def counts(xy):
        c = np.zeros(m.shape, dtype=np.int64)
        if len(xy):
            rows, cols = m.world_to_cell(xy)
            ok = m.cells_in_bounds(rows, cols)
            np.add.at(c, (rows[ok], cols[ok]), 1)
        k = 2 * int(np.ceil(cfg.evidence_radius_m / m.resolution - 1e-9)) + 1
        if k > 1:  # points in the k x k neighbourhood of each cell
            c = np.rint(ndimage.uniform_filter(c.astype(np.float64), size=k, mode="constant") * k * k)
        return c

    floor = counts(floor_pts) >= cfg.min_points
    obstacle = counts(obst_pts) >= cfg.min_points
    floor = _within(floor, cfg.fill_radius_m, m.resolution) if cfg.fill_radius_m > 0 else floor
    return floor, obstacle


def map_from_points(
    points,
    floor_z: float = 0.0,
    config: PointMapConfig | None = None,
    resolution_m: float = 0.05,
    padding_m: float = 1.0,
    frame_id: str = "map",
) -> WalkableMap:
    """Free / occupied / unknown map from an ``(N, 3)`` SfM point cloud (m, map frame).

    The grid covers the 1st-99th percentile box of the floor and obstacle points (outliers
    far away do not blow it up) plus ``padding_m``."""
    config = config or PointMapConfig()
    useful = _useful_points(points, floor_z, config)
    if len(useful) < config.min_points:
        raise ValueError(
            f"no SfM points between the floor (z = {floor_z:.2f} m) and {config.obstacle_max_m} m above it; "
            "is the floor height right?"
        )
    shape, origin = _grid(*_robust_box(useful[:, :2]), resolution_m, padding_m)
    m = WalkableMap(np.full(shape, UNKNOWN, np.int8), resolution_m, (*origin, 0.0), frame_id)
    floor, obstacle = _classify_points(m, useful, floor_z, config)
    m.occupancy[floor] = FREE
    m.occupancy[obstacle] = OCCUPIED
    return m


def map_from_data(
    trajectory,
    points=None,
    floor_z: float = 0.0,
    trajectory_config: TrajectoryMapConfig | None = None,
    point_config: PointMapConfig | None = None,
    frame_id: str = "map",
) -> WalkableMap:
    """Walkable map from a camera path and (optionally) the SfM point cloud, on the path's
    grid, grown to the points' 1-99 percentile box (plus padding). The path corridor is always
    walkable; off the path, floor evidence makes cells walkable and obstacle points make them
    occupied; the rest is unknown."""
    if points is None:
        return map_from_trajectory(trajectory, trajectory_config, frame_id)
    point_config = point_config or PointMapConfig()
    useful = _useful_points(points, floor_z, point_config)
    box = np.vstack(_robust_box(useful[:, :2])) if len(useful) else None
    m = map_from_trajectory(trajectory, trajectory_config, frame_id, extra_xy=box)
    floor, obstacle = _classify_points(m, useful, floor_z, point_config)
    on_path = m.occupancy == FREE
    m.occupancy[floor & ~on_path] = FREE
    m.occupancy[obstacle & ~on_path] = OCCUPIED
    return m
