"""What ``camposer serve`` loads once at start-up: the localizer, the walkable map and the two
map pictures the page draws on.

``--model`` is either a checkpoint written by ``camposer train`` (regressor, refined with PnP
against the localization map of its dataset when there is one) or a dataset folder. A dataset folder is served by
``Localizer.from_dataset`` (retrieval + PnP) when the installed Localizer has it, else by the
trained model found inside it (``model/best.pt``, ``best.pt``, ``model.pt``), else it is an
error. The map is ``--map`` or, when omitted, the dataset's ``walkable.yaml`` (for a
checkpoint: the walkable map of the dataset it was trained on, when that folder still exists).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

__all__ = ["ServeModel", "load_serve_model", "map_pictures"]

log = logging.getLogger(__name__)

CHECKPOINT_NAMES = ("model/best.pt", "best.pt", "model.pt")

# RGB of the two pictures (see map_pictures).
_FLOOR = {"free": (250, 250, 247), "occupied": (58, 63, 71), "unknown": (214, 218, 224)}
_WALK = {"free": (203, 236, 208), "occupied": (120, 126, 135), "unknown": (226, 229, 233)}


@dataclass
class ServeModel:
    """The loaded localizer and map. ``kind`` is ``"checkpoint"`` or ``"dataset"``;
    ``model_path`` the checkpoint or dataset folder actually used; ``map_path`` the walkable
    map YAML (None without one)."""

    localizer: object  # camposer_core.localizer.Localizer (or anything with .localize)
    kind: str
    model_path: Path
    walkable_map: object | None  # camposer_core.walkable.WalkableMap
    map_path: Path | None
    localization_map: Path | None = None  # PnP refinement against it (None: regressor only)

    @property
    def map_frame(self) -> str:
        return getattr(self.localizer, "map_frame", "map")


def _is_dataset(path: Path) -> bool:
    return path.is_dir() and (path / "manifest.json").is_file()


def _checkpoint_in(folder: Path) -> Path | None:
    return next((folder / n for n in CHECKPOINT_NAMES if (folder / n).is_file()), None)


def _default_map(folder: Path | None, checkpoint: Path | None) -> Path | None:
    """The walkable map that goes with the model when ``--map`` is not given: the folder's
    own (dataset, or demo output: ``dataset/``, ``building/``), else that of the dataset the
    checkpoint was trained on."""
    candidates = []
    if folder is not None:
        candidates += [
            folder / "walkable.yaml",
            folder / "dataset" / "walkable.yaml",
            folder / "building" / "walkable.yaml",
        ]
    if checkpoint is not None:
        from ..training.checkpoint import Checkpoint

        try:
            dataset = Checkpoint.load(checkpoint).dataset
        except Exception:  # a bad checkpoint is reported when it is loaded for real
            dataset = ""
        if dataset:
            candidates.append(Path(dataset) / "walkable.yaml")
    return next((c for c in candidates if c.is_file()), None)


def _default_localization_map(folder: Path | None, checkpoint: Path) -> Path | None:
    """The PnP localization map that goes with a checkpoint: the given folder's (or its
    ``dataset/``'s), else that of the dataset the checkpoint was trained on."""
    from ..localization import MAP_FILE
    from ..training.checkpoint import Checkpoint

    candidates = [] if folder is None else [folder / MAP_FILE, folder / "dataset" / MAP_FILE]
    try:
        dataset = Checkpoint.load(checkpoint).dataset
    except Exception:  # a bad checkpoint is reported when it is loaded for real
        dataset = ""
    if dataset:
        candidates.append(Path(dataset) / MAP_FILE)
    return next((c for c in candidates if c.is_file()), None)


def _serving_refine_config(refine_config):
    """Photos from a browser are independent: no stream prior from the previous query."""
    from dataclasses import replace

    from ..localization import RefineConfig

    return replace(refine_config or RefineConfig(), stream=False)


def _load_map(path: Path | None):
    from ..walkable import WalkableMap

    if path is None:
        return None
    try:
        return WalkableMap.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"walkable map {path}: cannot read it ({exc})") from exc


def load_serve_model(
    model, map_yaml=None, device: str = "cpu", localization_map="auto", refine_config=None
) -> ServeModel:
    """Load ``model`` (checkpoint file or dataset folder) and the walkable map (see module
    docstring). ``localization_map``: ``"auto"`` refines checkpoint poses with PnP against
    the localization map of the checkpoint's dataset when it has one, a path (dataset folder
    or ``.npz``) uses that map, ``None`` serves the regressor alone. ``refine_config``: a
    :class:`~camposer_core.localization.RefineConfig` (stream priors are always off: every
    photo is localized on its own). Raises :class:`UserError` naming the path and what is
    wrong."""
    model = Path(model)
    if not model.exists():
        raise UserError(f"--model {model}: no such file or folder")
    if map_yaml is not None and not Path(map_yaml).is_file():
        raise UserError(f"--map {map_yaml}: no such file")
    from ..localizer import Localizer  # torch: only once the paths are known to exist

    folder = model if model.is_dir() else None
    if folder is not None and _is_dataset(folder) and hasattr(Localizer, "from_dataset"):
        map_path = Path(map_yaml) if map_yaml is not None else _default_map(folder, None)
        wmap = _load_map(map_path)
        try:
            loc = Localizer.from_dataset(  # retrieval + PnP, no regressor
                folder,
                walkable_map=wmap,
                refine_config=_serving_refine_config(refine_config),
                localization_map=None if localization_map in (None, "auto") else localization_map,
            )
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"--model {folder}: cannot localize from this dataset ({exc})") from exc
        return ServeModel(loc, "dataset", folder, wmap, map_path, localization_map=folder)
    ckpt = model if folder is None else _checkpoint_in(folder)
    if ckpt is None:
        what = "is a camposer dataset" if _is_dataset(folder) else "is not a camposer dataset (no manifest.json)"
        raise UserError(
            f"--model {folder}: {what} and holds no trained model ({', '.join(CHECKPOINT_NAMES)}); this "
            "camposer cannot localize from a dataset alone (no Localizer.from_dataset): pass a checkpoint "
            "written by `camposer train`"
        )
    if folder is not None:
        log.info("serving the model %s found in %s", ckpt, folder)
    map_path = Path(map_yaml) if map_yaml is not None else _default_map(folder, ckpt)
    wmap = _load_map(map_path)
    if localization_map == "auto":
        localization_map = _default_localization_map(folder, ckpt)
    if localization_map is not None and not Path(localization_map).exists():
        raise UserError(f"--localization-map {localization_map}: no such file or folder")
    try:
        loc = Localizer.from_checkpoint(
            ckpt,
            device=device,
            walkable_map=wmap,
            localization_map=localization_map,
            refine_config=None if localization_map is None else _serving_refine_config(refine_config),
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        where = ckpt if localization_map is None else f"{ckpt} with localization map {localization_map}"
        raise UserError(f"--model {where}: cannot load ({exc})") from exc
    lmap = None if localization_map is None else Path(localization_map)
    return ServeModel(loc, "checkpoint", ckpt, wmap, map_path, localization_map=lmap)


def map_pictures(wmap) -> dict[str, bytes]:
    """PNG bytes of the map, one pixel per cell in image order (row 0 = largest y), so a pixel
    ``(col + 0.5, row + 0.5)`` is the centre of cell ``(row, col)``:

    * ``floorplan``: walls/obstacles dark, floor light, unknown grey (the building's plan);
    * ``walkable``: where snapped poses may lie, green."""
    from PIL import Image

    from ..walkable.grid import FREE, OCCUPIED

    out = {}
    for name, colours in (("floorplan", _FLOOR), ("walkable", _WALK)):
        img = np.empty(wmap.shape + (3,), np.uint8)
        img[:] = colours["unknown"]
        img[wmap.occupancy == FREE] = colours["free"]
        img[wmap.occupancy == OCCUPIED] = colours["occupied"]
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", optimize=True)
        out[name] = buf.getvalue()
    return out
