"""Top-down picture of the synthetic building: walkable map, walls, furniture, doors, survey
markers and the walkthrough with heading arrows (``floorplan.png``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_floorplan"]

_LAP_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def plot_floorplan(scene, path, trajectory=None, arrow_every_s: float = 2.0, dpi: int = 110) -> Path:
    """Write a PNG of ``scene`` (a :class:`~.scene.Scene`) and its walkthrough to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..geometry import quat_rotate
    from ..walkable.render import draw_walkable

    plan = scene.plan
    traj = trajectory if trajectory is not None else scene.walkthrough()
    aspect = plan.depth / plan.width
    fig, ax = plt.subplots(figsize=(11, max(4.0, 11 * aspect + 1.2)))
    draw_walkable(ax, scene.walkable_map(), alpha=0.6)
    for b in plan.boxes:
        if b.is_wall:
            colour, alpha = ("0.1", 1.0) if b.kind != "lintel" and b.kind != "beam" else ("0.55", 0.5)
        else:
            colour, alpha = "saddlebrown", 0.8
        ax.add_patch(Rectangle((b.x0, b.y0), b.x1 - b.x0, b.y1 - b.y0, color=colour, alpha=alpha, lw=0))
    for d in plan.doors:
        xs, ys = ((d.a0, d.a1), (d.c, d.c)) if d.axis == "x" else ((d.c, d.c), (d.a0, d.a1))
        ax.plot(xs, ys, "-", color="limegreen" if d.is_open else "darkorange", lw=3, solid_capstyle="butt")
    for room in plan.rooms:
        ax.text(
            0.5 * (room.x0 + room.x1),
            0.5 * (room.y0 + room.y1),
            room.name,
            ha="center",
            va="center",
            fontsize=7,
            color="0.35",
        )
    if scene.markers:
        m = np.array([mk.position for mk in scene.markers])
        ax.plot(m[:, 0], m[:, 1], "o", color="magenta", ms=5, label="survey markers")
    p = traj.positions
    recs = traj.recordings or ["walkthrough"] * len(traj)
    for k, rec in enumerate(dict.fromkeys(recs)):
        sel = np.array([r == rec for r in recs])
        col = _LAP_COLOURS[k % len(_LAP_COLOURS)]
        ax.plot(p[sel, 0], p[sel, 1], "-", color=col, lw=1.2, label=rec)
        dt = np.median(np.diff(traj.timestamps)) if len(traj) > 1 else 1.0
        step = max(1, int(round(arrow_every_s / max(dt, 1e-9))))
        idx = np.flatnonzero(sel)[::step]
        fwd = quat_rotate(traj.quaternions[idx], np.array([0.0, 0.0, 1.0]))  # optical axis
        ax.quiver(
            p[idx, 0],
            p[idx, 1],
            fwd[:, 0],
            fwd[:, 1],
            color=col,
            angles="xy",
            scale_units="xy",
            scale=1.6,
            width=0.0025,
            headwidth=4,
        )
    ax.plot(p[0, 0], p[0, 1], "k*", ms=10, label="start")
    ax.set_xlim(-0.8, plan.width + 0.8)
    ax.set_ylim(-0.8, plan.depth + 0.8)
    ax.set_title(
        f"synthetic building seed {scene.config.seed}: {plan.width:g} x {plan.depth:g} m, {len(plan.rooms)} rooms, "
        f"{len(traj)} frames ({len(set(recs))} laps, {traj.path_length():.0f} m)"
    )
    ax.legend(loc="upper right", fontsize=7, ncol=2, framealpha=0.8)
    fig.tight_layout()
    from ..fsio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    return path
