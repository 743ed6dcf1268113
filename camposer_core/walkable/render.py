"""Drawing walkable maps with matplotlib (used by ``camposer map show`` and evaluation plots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .grid import FREE, OCCUPIED, WalkableMap

__all__ = ["draw_walkable", "render_map_png"]

# RGB for walkable / occupied / unknown-or-intermediate cells.
_COLOURS = {"free": (1.0, 1.0, 1.0), "occupied": (0.25, 0.25, 0.25), "unknown": (0.78, 0.80, 0.84)}


def map_rgb(m: WalkableMap) -> np.ndarray:
    """``(H, W, 3)`` float RGB picture of the map in image order."""
    img = np.empty(m.shape + (3,))
    img[:] = _COLOURS["unknown"]
    img[m.occupancy == FREE] = _COLOURS["free"]
    img[m.occupancy == OCCUPIED] = _COLOURS["occupied"]
    return img


def draw_walkable(ax, m: WalkableMap, alpha: float = 1.0) -> None:
    """Draw ``m`` on ``ax`` in map coordinates (x right, y up, metres). Grids with a yaw are
    drawn rotated with an affine transform."""
    import matplotlib.transforms as mtransforms

    xmin, ymin = 0.0, 0.0
    w, h = m.width * m.resolution, m.height * m.resolution
    im = ax.imshow(map_rgb(m), origin="upper", extent=(xmin, w, ymin, h), interpolation="nearest", alpha=alpha)
    ox, oy, yaw = m.origin
    im.set_transform(mtransforms.Affine2D().rotate(yaw).translate(ox, oy) + ax.transData)
    x0, x1, y0, y1 = m.extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel(f"x [m] ({m.frame_id})")
    ax.set_ylabel(f"y [m] ({m.frame_id})")


def render_map_png(m: WalkableMap, path, trajectory=None, title: str | None = None, dpi: int = 120) -> Path:
    """Write a PNG of the map (and optionally a trajectory's xy path on top)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    aspect = (m.extent[3] - m.extent[2]) / max(m.extent[1] - m.extent[0], 1e-9)
    fig, ax = plt.subplots(figsize=(8, max(3.0, min(12.0, 8 * aspect + 1))))
    draw_walkable(ax, m)
    if trajectory is not None:
        p = np.asarray(getattr(trajectory, "positions", trajectory))
        ax.plot(p[:, 0], p[:, 1], "-", color="tab:blue", lw=1, label="trajectory")
        ax.legend(loc="best")
    ax.set_title(title or f"{m.width}x{m.height} cells @ {m.resolution} m, {100 * m.walkable_fraction():.0f}% walkable")
    fig.tight_layout()
    from ..fsio import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    return path
