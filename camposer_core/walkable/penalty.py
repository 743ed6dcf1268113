"""A differentiable walkable-area penalty for training pose regressors (PyTorch).

:class:`WalkablePenalty` holds a signed distance field of the map (metres; negative inside
the walkable area, positive outside, zero on the boundary between walkable and non-walkable
cells) as a buffer, and samples it at predicted positions with
``torch.nn.functional.grid_sample`` (bilinear), so the penalty has a gradient that pushes
positions in non-walkable cells towards the nearest walkable ones::

    penalty = WalkablePenalty(walkable_map, margin_m=0.0)   # an nn.Module; .to(device) works
    loss = loss + weight * penalty(pred_xyz_metres)          # scalar: mean over the batch

* Input: ``(N, 2)`` or ``(N, 3+)`` positions in **metres, map frame** (de-normalise the
  network output first); only x, y are used.
* Per point: ``relu(sdf(x, y) + margin_m)`` metres (``squared=True``: its square, m^2), i.e.
  about the distance to the walkable area (plus the margin); 0 for points at least ``margin_m``
  inside it. Outside the grid the distance to the grid box is added to the field at the
  border, so the gradient still points back into the map (an upper bound there: at most
  sqrt(2) times the true distance).
* The field is sampled at cell centres: accurate to about a cell.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from torch.nn import functional as F

from .grid import WalkableMap

__all__ = ["WalkablePenalty", "signed_distance_field"]


def signed_distance_field(m: WalkableMap) -> np.ndarray:
    """``(H, W)`` float32, image order: for a non-walkable cell the distance (m) from its centre
    to the nearest walkable cell's edge, for a walkable cell minus the distance to the nearest
    non-walkable cell's edge (the grid border counts as non-walkable)."""
    walk = m.walkable
    if not walk.any():
        raise ValueError(f"cannot build a walkable penalty: the map has no walkable cell ({m!r})")
    res = m.resolution
    outside = ndimage.distance_transform_edt(~walk) * res - res / 2
    padded = np.pad(walk, 1, constant_values=False)
    inside = ndimage.distance_transform_edt(padded)[1:-1, 1:-1] * res - res / 2
    return np.where(walk, -inside, outside).astype(np.float32)


class WalkablePenalty(nn.Module):
    """Mean walkable penalty of a batch of positions (see module docstring)."""

    def __init__(self, walkable_map: WalkableMap, margin_m: float = 0.0, squared: bool = False):
        super().__init__()
        if margin_m < 0:
            raise ValueError(f"margin_m must be >= 0, got {margin_m}")
        sdf = signed_distance_field(walkable_map)
        if min(sdf.shape) < 2:  # grid_sample with align_corners needs >= 2 samples per axis
            sdf = np.pad(sdf, ((0, max(0, 2 - sdf.shape[0])), (0, max(0, 2 - sdf.shape[1]))), mode="edge")
        self.register_buffer("sdf", torch.from_numpy(sdf)[None, None])
        self.resolution = walkable_map.resolution
        self.origin_xy = (walkable_map.origin[0], walkable_map.origin[1])
        self.yaw = walkable_map.origin[2]
        self.height, self.width = sdf.shape
        self.margin_m = float(margin_m)
        self.squared = bool(squared)

    def extra_repr(self) -> str:
        return (
            f"{self.width}x{self.height} cells @ {self.resolution} m, margin_m={self.margin_m}, squared={self.squared}"
        )

    def per_point(self, positions: torch.Tensor) -> torch.Tensor:
        """``(N,)`` penalty per position (m, or m^2 with ``squared``)."""
        if positions.ndim != 2 or positions.shape[1] < 2:
            raise ValueError(f"positions must be (N, 2) or (N, 3), got shape {tuple(positions.shape)}")
        xy = positions[:, :2].to(self.sdf.dtype)
        d = xy - xy.new_tensor(self.origin_xy)
        if self.yaw != 0.0:
            c, s = float(np.cos(self.yaw)), float(np.sin(self.yaw))
            d = torch.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], dim=1)
        res = self.resolution
        lo = xy.new_tensor([0.5 * res, 0.5 * res])
        hi = xy.new_tensor([(self.width - 0.5) * res, (self.height - 0.5) * res])
        inside = torch.maximum(torch.minimum(d, hi), lo)
        beyond = torch.linalg.vector_norm(d - inside, dim=1)
        col = inside[:, 0] / res - 0.5
        row = (self.height - 1) - (inside[:, 1] / res - 0.5)
        grid = torch.stack([2 * col / (self.width - 1) - 1, 2 * row / (self.height - 1) - 1], dim=1)
        sdf = F.grid_sample(self.sdf, grid[None, :, None, :], mode="bilinear", align_corners=True)
        value = F.relu(sdf.reshape(-1) + beyond + self.margin_m)
        return value * value if self.squared else value

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """Scalar: mean penalty over the batch (0 for an empty batch)."""
        if positions.shape[0] == 0:
            return positions.sum() * 0.0
        return self.per_point(positions).mean()
