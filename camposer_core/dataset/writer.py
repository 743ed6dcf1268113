"""Writing a dataset folder (layout in :mod:`camposer_core.dataset.folder`).

:func:`write_dataset` never replaces a finished dataset (a folder with ``manifest.json``) or
files it did not write unless ``force`` is true; with ``force`` it removes only the names
the dataset layout defines (``images/``, ``poses.csv``, split folders' ``poses.csv``,
``camera.yaml``, ``points3D.ply``, ``manifest.json``), never anything else in the folder.
``manifest.json`` is written last, so a folder without it is an unfinished dataset.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import scipy

from .. import __version__
from ..camera import PinholeCamera, save_camera_yaml
from ..fsio import atomic_write_text
from ..trajectory import Trajectory
from .folder import MANIFEST, SPLITS, DatasetFolder
from .ply import write_ply
from .splits import SplitConfig, split_trajectory

__all__ = ["write_dataset", "software_versions", "GENERATED", "check_output_free"]

FORMAT_NAME = "camposer-dataset"
FORMAT_VERSION = 1
GENERATED = ("images", "poses.csv", "camera.yaml", "points3D.ply", MANIFEST) + tuple(f"{s}/poses.csv" for s in SPLITS)


def software_versions() -> dict:
    """Versions of the software that produced a dataset."""
    v = {"camposer": __version__, "numpy": np.__version__, "scipy": scipy.__version__, "opencv": cv2.__version__}
    try:
        import pycolmap

        v["pycolmap"] = pycolmap.__version__
    except ImportError:  # pragma: no cover
        pass
    return v


def check_output_free(out: Path, force: bool) -> None:
    """Raise ``FileExistsError`` when ``out`` holds a dataset (or any dataset file) and
    ``force`` is false."""
    present = [g for g in GENERATED if (out / g).exists()]
    if present and not force:
        what = "a finished dataset" if (out / MANIFEST).exists() else f"dataset files ({', '.join(present)})"
        raise FileExistsError(f"{out} already holds {what}; pass --force to replace it")


def _remove_generated(out: Path) -> None:
    # the manifest goes first: from here on the folder is visibly unfinished
    for g in (MANIFEST,) + tuple(g for g in GENERATED if g != MANIFEST):
        p = out / g
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_dataset(
    out,
    frames_dir,
    trajectory: Trajectory,
    camera: PinholeCamera,
    split: SplitConfig = SplitConfig(),
    points: tuple[np.ndarray, np.ndarray | None] | None = None,
    manifest: dict | None = None,
    force: bool = False,
    map_frame: str = "map",
    walkable_map=None,
) -> DatasetFolder:
    """Write a dataset folder at ``out``.

    ``frames_dir``: folder holding an image for every ``trajectory.frames`` name (hard-linked,
    else copied, into ``out/images``). ``trajectory``: camera-to-world poses in the map frame
    (metres). ``camera``: intrinsics of those images. ``points``: ``(xyz (N, 3) map frame,
    rgb (N, 3) uint8 or None)``. ``manifest``: extra entries (sources, parameters, alignment...)
    merged into ``manifest.json`` next to counts, splits, format and versions. ``walkable_map``
    (a :class:`~camposer_core.walkable.WalkableMap`) is saved as ``walkable.yaml``.
    ``manifest.json`` is written last and atomically: a folder without it is unfinished."""
    out, frames_dir = Path(out), Path(frames_dir)
    if len(trajectory) == 0:
        raise ValueError(f"{out}: no posed frames to write")
    missing = [f for f in trajectory.frames if not (frames_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{frames_dir}: {len(missing)} frame images missing, e.g. {missing[0]}")
    check_output_free(out, force)
    out.mkdir(parents=True, exist_ok=True)
    _remove_generated(out)
    parts = split_trajectory(trajectory, split)
    images = out / "images"
    images.mkdir()
    for f in trajectory.frames:
        _link_or_copy(frames_dir / f, images / f)
    save_camera_yaml(camera, out / "camera.yaml")
    order = np.argsort(trajectory.timestamps, kind="stable")
    trajectory.subset(order).save_csv(out / "poses.csv")
    for s in SPLITS:
        parts[s].save_csv(out / s / "poses.csv")
    if points is not None and len(points[0]):
        write_ply(out / "points3D.ply", points[0], points[1])
    if walkable_map is not None:
        walkable_map.save(out / "walkable.yaml")
    data = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "map_frame": map_frame,
        "conventions": "poses camera-to-world in the map frame (z up, floor z=0, metres), quaternions w,x,y,z",
        "split": {**split.as_dict(), "counts": {s: len(parts[s]) for s in SPLITS}},
        "counts": {"frames": len(trajectory), "points3D": int(len(points[0])) if points is not None else 0},
        "camera": {"width": camera.width, "height": camera.height, "fx": camera.fx, "fy": camera.fy},
        "path_length_m": trajectory.subset(order).path_length(),
        "versions": software_versions(),
    }
    for k, v in (manifest or {}).items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    atomic_write_text(out / MANIFEST, json.dumps(_jsonable(data), indent=2) + "\n")
    return DatasetFolder.open(out)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, Path):
        return str(x)
    return x
