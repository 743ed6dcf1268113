"""Walkable maps: the nav2 map_server occupancy-grid format, instant snapping of positions to
the walkable area, maps built from data (trajectory, SfM points, floor-plan images) and a
differentiable walkable penalty for training. See :mod:`camposer_core.walkable.grid`.

The torch penalty is imported from :mod:`camposer_core.walkable.penalty` (kept out of this
namespace so that importing walkable maps never loads torch)."""

from .grid import FREE, OCCUPIED, UNKNOWN, WalkableMap
from .snapping import Snapper, SnapResult, snap_trajectory

__all__ = ["WalkableMap", "FREE", "OCCUPIED", "UNKNOWN", "Snapper", "SnapResult", "snap_trajectory"]
